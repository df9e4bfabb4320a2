"""The review queue's rule: what an operator may do with a pair between the thresholds.

A pair that scores between the review and notify thresholds waits for an operator, who either
promotes it (the hub then notifies it like any hit) or dismisses it, always with a written
reason. Both acts are events signed by the hub operator (``review-promoted``,
``review-dismissed``) and published to the ingest topic, so they are verified, stored and
applied by the match stage like every other event: a rebuild of the matcher's state from the
log reproduces them.

- Only a pair waiting in the queue (status REVIEW) can be promoted or dismissed.
- A dismissed pair can still be promoted later (an operator may change their mind), but a
  pair that was notified or decided by the police cannot be acted on from the queue.
- A dismissed pair stays dismissed while it keeps scoring as a review pair; evidence strong
  enough to notify reaches the police anyway.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

from hub.envelope import Envelope, seal
from hub.identity import HUB_OPERATOR_ID
from hub.keys import SigningKey
from hub.schema_catalog import SchemaCatalog

REVIEW = "REVIEW"
DISMISSED = "DISMISSED"
# A pair at the review level keeps these states when it is scored again (match stage).
KEPT_AT_REVIEW_LEVEL = frozenset({"NOTIFIED", DISMISSED})
MIN_REASON = 4


class ReviewAct(enum.StrEnum):
    """What an operator does with a review pair; the value is the event type."""

    PROMOTE = "review-promoted"
    DISMISS = "review-dismissed"


REVIEW_EVENT_TYPES = tuple(act.value for act in ReviewAct)


def refusal(act: ReviewAct, status: str | None) -> str | None:
    """Why `act` cannot apply to a pair in `status` (None if the pair is unknown), or None."""
    if status is None:
        return "there is no such pair on the review list"
    if status == REVIEW or (act is ReviewAct.PROMOTE and status == DISMISSED):
        return None
    if status == DISMISSED:
        return "the pair was dismissed already"
    if status == "NOTIFIED":
        return "the pair was notified already; the police decide on it now"
    return f"the pair was decided by the police ({status}); it is no longer reviewed"


def reason_problem(reason: str) -> str | None:
    """Why a written reason is not enough, or None."""
    if len(reason.strip()) < MIN_REASON:
        return "write a reason of at least a few words"
    if len(reason) > 500:
        return "a reason has at most 500 characters"
    return None


def review_event(
    catalog: SchemaCatalog,
    operator_key: SigningKey,
    act: ReviewAct,
    *,
    match_id: str,
    alert_id: str,
    operator: str,
    reason: str,
    sequence: int,
    at: datetime | None = None,
) -> Envelope:
    """The signed event of one act (the hub operator's identity, as registry events are)."""
    problem = reason_problem(reason)
    if problem is not None:
        raise ValueError(problem)
    when = at or datetime.now(UTC)
    payload = {
        "match_id": uuid.UUID(match_id),
        "alert_id": alert_id,
        "operator": operator,
        "reason": reason.strip(),
    }
    return seal(catalog, act.value, payload, publisher_id=HUB_OPERATOR_ID, key=operator_key,
                sequence=sequence, occurred_at=when, published_at=when)
