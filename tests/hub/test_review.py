"""The review queue's rule and its signed events (hub.review)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from contract_samples import catalog

from hub.envelope import decode_envelope, decode_payload, encode_envelope
from hub.identity import HUB_OPERATOR_ID
from hub.keys import generate_keypair
from hub.registry import Registry
from hub.review import ReviewAct, reason_problem, refusal, review_event
from hub.signing import signature_valid

MATCH = str(uuid.uuid4())


class TestRefusal:
    def test_a_waiting_pair_may_be_promoted_or_dismissed(self) -> None:
        """A pair in the queue (REVIEW) takes either act."""
        assert refusal(ReviewAct.PROMOTE, "REVIEW") is None
        assert refusal(ReviewAct.DISMISS, "REVIEW") is None

    def test_a_dismissed_pair_may_still_be_promoted_but_not_dismissed_again(self) -> None:
        """An operator may change their mind; dismissing twice says it was done already."""
        assert refusal(ReviewAct.PROMOTE, "DISMISSED") is None
        assert refusal(ReviewAct.DISMISS, "DISMISSED") == "the pair was dismissed already"

    @pytest.mark.parametrize("status", ["NOTIFIED", "CONFIRMED", "REJECTED", "NEED_INFO"])
    def test_notified_or_decided_pairs_are_out_of_the_queue(self, status: str) -> None:
        """The police decide on a notified pair: the queue cannot act on it any more."""
        for act in ReviewAct:
            problem = refusal(act, status)
            assert problem is not None and ("notified" in problem or status in problem)

    def test_an_unknown_pair_is_refused(self) -> None:
        """No pair, no act."""
        assert refusal(ReviewAct.PROMOTE, None) == "there is no such pair on the review list"


class TestEvents:
    def test_the_act_is_signed_by_the_hub_operator_and_carries_who_and_why(self) -> None:
        """The event decodes against its schema, names the operator and the reason, and its
        signature holds under the operator key."""
        key = generate_keypair()
        env = review_event(catalog(), key, ReviewAct.PROMOTE, match_id=MATCH, alert_id="A-1",
                           operator="li.na", reason="  same scar on the left ear ",
                           sequence=7, at=datetime(2026, 12, 3, tzinfo=UTC))
        again = decode_envelope(encode_envelope(env))
        assert (again.event_type, again.publisher_id, again.sequence) == (
            "review-promoted", HUB_OPERATOR_ID, 7)
        body = decode_payload(catalog(), again)
        assert body == {"match_id": uuid.UUID(MATCH), "alert_id": "A-1", "operator": "li.na",
                        "reason": "same scar on the left ear"}
        assert signature_valid(again, key.verify_key)

    def test_the_hub_operator_may_publish_both_acts(self) -> None:
        """The operator's permissions include the review events, from the start."""
        key = generate_keypair()
        registry = Registry.bootstrap(key.verify_key)
        now = datetime.now(UTC)
        for act in ReviewAct:
            assert registry.permitted(HUB_OPERATOR_ID, act.value, now)

    def test_a_reason_is_required(self) -> None:
        """An act without a real reason is not signed."""
        assert reason_problem("ok") is not None and reason_problem("x" * 501) is not None
        with pytest.raises(ValueError, match="reason"):
            review_event(catalog(), generate_keypair(), ReviewAct.DISMISS, match_id=MATCH,
                         alert_id="A-1", operator="li.na", reason=" no ", sequence=1)
