"""The streaming matcher's rules (hub.matching.rules): alert state, which pairs notify, evidence."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.errors import MatchingInputError
from hub.matching.facts import PersonRef, SourceKind
from hub.matching.matcher import Decision, Hit
from hub.matching.rules import (
    AlertState,
    AlertStatus,
    AlreadyNotified,
    KnownPair,
    Notify,
    PairStatus,
    Review,
    Suppressed,
    alert_closed,
    alert_confirmed,
    alert_received,
    alert_updated,
    decided_status,
    evidence_for,
    judge_hit,
    merged_alert,
    new_alert,
    pair_id,
    parents_dna_received,
)
from hub.routing import match_id_for

BODY = {"alert_id": "A-1", "person": {"name": "周佳怡"}, "urgency": "NORMAL",
        "last_seen_place": {"area_code": "510104"}}


def received() -> AlertState:
    return alert_received(new_alert("A-1"), "ev-alert", "510000-police", BODY).state


def hit(decision: Decision = Decision.NOTIFY, event_id: str = "ev-record") -> Hit:
    return Hit(
        alert_ref=PersonRef(SourceKind.ALERT, "ev-alert", "A-1", None),
        record_ref=PersonRef(SourceKind.RECORD, event_id, "M-1", 0),
        score=14.2,
        decision=decision,
        explanation=("name: same", f"-> {decision.value}"),
        kinship=None,
    )


class TestAlertState:
    def test_an_alert_is_kept_and_searched_with(self) -> None:
        """The alert's event, publisher and body are taken; it is searched, not unindexed."""
        change = alert_received(new_alert("A-1"), "ev-alert", "510000-police", BODY)
        assert change.search and not change.unindex and change.reason is None
        assert (change.state.alert_event_id, change.state.publisher_id) == (
            "ev-alert", "510000-police"
        )
        assert change.state.searchable

    def test_an_update_before_its_alert_is_kept_but_not_searchable(self) -> None:
        """An update may arrive first: it is stored, and nothing is searched until the alert."""
        change = alert_updated(new_alert("A-1"), {"update_id": "U-1", "urgency": "HIGH"})
        assert change.state.updates == ({"update_id": "U-1", "urgency": "HIGH"},)
        assert change.search and not change.state.searchable
        after = alert_received(change.state, "ev-alert", "510000-police", BODY).state
        assert merged_alert(after)["urgency"] == "HIGH"

    def test_updates_apply_in_order_and_a_redelivered_one_replaces_itself(self) -> None:
        """The same update id twice counts once, at its latest place; empty fields change
        nothing; fields outside the updatable ones are ignored."""
        state = received()
        state = alert_updated(state, {"update_id": "U-1", "urgency": "HIGH"}).state
        state = alert_updated(state, {"update_id": "U-2", "urgency": "URGENT",
                                      "circumstances": None, "alert_id": "A-9"}).state
        state = alert_updated(state, {"update_id": "U-1", "urgency": "HIGH"}).state
        assert [u["update_id"] for u in state.updates] == ["U-2", "U-1"]
        merged = merged_alert(state)
        assert merged["urgency"] == "HIGH" and merged["alert_id"] == "A-1"
        assert "circumstances" not in merged
        assert BODY["urgency"] == "NORMAL"  # the stored body itself is not changed

    def test_parents_dna_searches_again(self) -> None:
        """The parents' profile is kept and the alert searched with it."""
        change = parents_dna_received(received(), {"profile_id": "DNA-1"})
        assert change.search and change.state.parents_dna == {"profile_id": "DNA-1"}

    def test_closing_and_confirming_take_the_alert_out_with_a_reason(self) -> None:
        """Closed or confirmed: unindexed, not searched, the reason says why."""
        closed = alert_closed(received(), "ev-close", "FOUND_ALIVE")
        assert closed.unindex and not closed.search
        assert closed.state.status is AlertStatus.CLOSED and not closed.state.searchable
        assert closed.reason == "alert-closed ev-close: FOUND_ALIVE"
        confirmed = alert_confirmed(received(), "m-1", "510000-police")
        assert confirmed.state.status is AlertStatus.CONFIRMED and confirmed.unindex
        assert confirmed.reason == "match m-1 confirmed by 510000-police"


class TestHits:
    def test_a_new_notify_hit_notifies_on_its_evidence(self) -> None:
        """A first NOTIFY hit is notified; the pair carries the evidence and the hit's facts."""
        state = received()
        effect = judge_hit(state, hit(), None)
        assert isinstance(effect, Notify)
        assert effect.match_id == match_id_for("A-1", "RECORD:M-1#0") == pair_id(state, hit())
        assert effect.evidence == "ev-alert|||ev-record"
        assert (effect.alert_publisher, effect.alert_event_id) == ("510000-police", "ev-alert")
        pair = effect.pair
        assert (pair.status, pair.level, pair.evidence) == (
            PairStatus.NOTIFIED, Decision.NOTIFY, effect.evidence
        )
        assert (pair.counterpart_ref, pair.counterpart_kind, pair.counterpart_id) == (
            "RECORD:M-1#0", "RECORD", "M-1"
        )
        assert pair.explanation == hit().explanation and pair.score == 14.2

    def test_evidence_names_every_version(self) -> None:
        """An update or a DNA profile is new evidence; so is a new event of the counterpart."""
        state = alert_updated(received(), {"update_id": "U-3"}).state
        state = parents_dna_received(state, {"profile_id": "DNA-7"}).state
        assert evidence_for(state, hit(event_id="ev-r2")) == "ev-alert|U-3|DNA-7|ev-r2"

    def test_the_same_evidence_is_not_notified_twice_but_new_evidence_is(self) -> None:
        """A pair notified on this evidence is left alone; on other evidence it notifies again."""
        state = received()
        first = judge_hit(state, hit(), None)
        assert isinstance(first, Notify)
        known = KnownPair(PairStatus.NOTIFIED, first.evidence, ("510000-police",))
        assert judge_hit(state, hit(), known) == AlreadyNotified(first.match_id)
        updated = alert_updated(state, {"update_id": "U-1"}).state
        assert isinstance(judge_hit(updated, hit(), known), Notify)

    @pytest.mark.parametrize("status", [PairStatus.CONFIRMED, PairStatus.REJECTED])
    def test_a_decided_pair_is_never_notified_again(self, status: PairStatus) -> None:
        """Confirmed or rejected: suppressed, whether it scores NOTIFY or REVIEW."""
        known = KnownPair(status, "old", ())
        for decision in Decision:
            effect = judge_hit(received(), hit(decision), known)
            assert isinstance(effect, Suppressed)

    def test_a_pair_asked_about_is_notified_on_new_evidence(self) -> None:
        """NEED_INFO is no decision: new evidence notifies again."""
        known = KnownPair(PairStatus.NEED_INFO, "old", ())
        assert isinstance(judge_hit(received(), hit(), known), Notify)

    def test_between_the_thresholds_is_a_review_and_a_notified_pair_stays_notified(
        self,
    ) -> None:
        """A REVIEW hit lists the pair for review, without recipients; one already notified
        keeps that status."""
        effect = judge_hit(received(), hit(Decision.REVIEW), None)
        assert isinstance(effect, Review)
        assert effect.pair.status is PairStatus.REVIEW and effect.pair.recipients is None
        known = KnownPair(PairStatus.NOTIFIED, "e", ("510000-police",))
        again = judge_hit(received(), hit(Decision.REVIEW), known)
        assert isinstance(again, Review) and again.pair.status is PairStatus.NOTIFIED
        assert again.pair.evidence is None

    def test_a_hit_for_an_alert_never_received_is_bad_input(self) -> None:
        """A store out of step (a hit before the alert itself) is an error, not a notification."""
        orphan = replace(new_alert("A-1"), body=dict(BODY))
        with pytest.raises(MatchingInputError, match="A-1"):
            judge_hit(orphan, hit(), None)


def test_only_police_decisions_set_a_pair_status() -> None:
    """CONFIRMED, REJECTED and NEED_INFO are decisions; anything else is named as bad input."""
    assert decided_status("e", "REJECTED") is PairStatus.REJECTED
    with pytest.raises(MatchingInputError, match="'NOTIFIED'"):
        decided_status("e", "NOTIFIED")
