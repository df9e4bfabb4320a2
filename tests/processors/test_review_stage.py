"""The review queue's acts applied by the match stage against a real PostgreSQL (no Kafka):
a promoted pair is notified like any hit, a dismissed one leaves the queue, and an act fed
again (redelivery, rebuild) has no second effect."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from test_matching_stage import CHILD, POLICE, Harness, pair_score

from hub.config import Settings
from hub.envelope import decode_envelope, decode_payload
from hub.identity import HUB_OPERATOR_ID
from hub.matching import FellegiSunterModel, Matcher
from hub.review import ReviewAct
from processors.verify_stage import InMessage

pytestmark = pytest.mark.services

OTHER_NAME = dict(CHILD, name="陈小雨")


@pytest.fixture
def lane(fresh_db_settings: Settings) -> Iterator[Harness]:
    made = Harness(fresh_db_settings)
    yield made
    made.events.close()
    made.store.close()


def review_pair(lane: Harness) -> str:
    """A pair scoring between the thresholds (placed around its own score), on the queue."""
    alert, record = lane.alert(1, CHILD), lane.record(1, OTHER_NAME)
    score = pair_score(alert, record)
    lane.stage.matcher = Matcher(
        FellegiSunterModel.default().with_thresholds(score + 1.0, score - 1.0))
    lane.feed(alert, record)
    (row,) = lane.store.review_list()
    return str(row["match_id"])


def act(lane: Harness, kind: ReviewAct, match_id: str, reason: str = "checked the file",
        ) -> bytes:
    body = {"match_id": uuid.UUID(match_id), "alert_id": f"A-{POLICE[:6]}-1",
            "operator": "li.na", "reason": reason}
    return lane.world.event(HUB_OPERATOR_ID, kind.value, payload=body)


def test_a_promoted_pair_is_notified_like_any_hit(lane: Harness) -> None:
    """Promote: the match-found event and one signed notification per police unit go to the
    outbox, the pair is NOTIFIED (its level still REVIEW) and leaves the queue; the act is
    recorded with who and why."""
    match_id = review_pair(lane)
    assert lane.outbox_topics() == []
    lane.feed(act(lane, ReviewAct.PROMOTE, match_id))
    topics = lane.outbox_topics()
    assert topics[0] == "t.ingest" and f"t.notifications.{POLICE}" in topics
    assert lane.store.review_list() == []
    assert lane.scalar("SELECT status || ' ' || level FROM match_pairs") == "NOTIFIED REVIEW"
    assert lane.scalar("SELECT operator || ': ' || reason FROM match_review_acts "
                          "WHERE match_id = %s", match_id) == "li.na: checked the file"
    wire = lane.scalar("SELECT msg_value FROM match_outbox WHERE topic = 't.ingest'")
    found = decode_envelope(bytes(wire))
    assert (found.event_type, found.publisher_id) == ("match-found", HUB_OPERATOR_ID)
    body = decode_payload(lane.stage.router.catalog, found)
    assert str(body["match_id"]) == match_id and POLICE in body["recipients"]
    assert body["reply_by"] is not None  # deadlines as for any hit


def test_an_act_fed_again_has_no_second_effect(lane: Harness) -> None:
    """A rebuild feeds every stored event again under another consumer: no new notification,
    no failure recorded."""
    match_id = review_pair(lane)
    promoted = act(lane, ReviewAct.PROMOTE, match_id)
    lane.feed(promoted)
    sent = lane.outbox_topics()
    lane.stage.consumer = "match-replay"
    lane.stage.process([InMessage("t.verified", 0, 0, promoted)])
    assert lane.outbox_topics() == sent
    assert lane.scalar("SELECT count(*) FROM match_failures") == 0
    assert lane.scalar("SELECT count(*) FROM match_review_acts") == 1


def test_a_dismissed_pair_leaves_the_queue_and_stays_out(lane: Harness) -> None:
    """Dismiss: nobody is told, the pair is DISMISSED, and the same pair scored again (the
    record sent again) does not come back; a later promotion still notifies it."""
    match_id = review_pair(lane)
    lane.feed(act(lane, ReviewAct.DISMISS, match_id, "different birthmark on file"))
    assert lane.store.review_list() == [] and lane.outbox_topics() == []
    assert lane.scalar("SELECT status FROM match_pairs") == "DISMISSED"
    lane.feed(lane.record(1, OTHER_NAME))
    assert lane.scalar("SELECT status FROM match_pairs") == "DISMISSED"
    lane.feed(act(lane, ReviewAct.PROMOTE, match_id, "the mother recognised the photo"))
    assert lane.scalar("SELECT status FROM match_pairs") == "NOTIFIED"
    assert f"t.notifications.{POLICE}" in lane.outbox_topics()


def test_an_act_the_rule_refuses_is_kept_with_its_reason(lane: Harness) -> None:
    """Dismissing a pair already notified, or acting on an unknown pair, changes nothing and
    is recorded in match_failures with why; the events after it go on."""
    match_id = review_pair(lane)
    lane.feed(act(lane, ReviewAct.PROMOTE, match_id))
    unknown = str(uuid.uuid4())
    lane.feed(act(lane, ReviewAct.DISMISS, match_id),
                 act(lane, ReviewAct.PROMOTE, unknown))
    reasons = [r for _, _, r in lane.store.failures()]
    assert any("notified already" in r and match_id in r for r in reasons)
    assert any("no such pair" in r and unknown in r for r in reasons)
    assert lane.scalar("SELECT status FROM match_pairs WHERE match_id = %s",
                          match_id) == "NOTIFIED"
