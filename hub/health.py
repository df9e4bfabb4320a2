"""Is a pipeline stage stuck? The judgement alone, from positions, end offsets and times.

Each stage records, per input partition, the last offset it processed (table `processed`) and
when that last changed. A stage is stuck on a partition when input waits there (the log's end
is past the recorded offset + 1) and the stage has not moved for longer than a threshold,
counted from the later of its last advance and the arrival of the first waiting message: a
stage idle for an hour that received a message a second ago is not stuck.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Place", "Position", "StuckStage", "arrivals_needed", "stuck_stages"]

# (topic, partition, offset): where a message sits in the Kafka log.
Place = tuple[str, int, int]


@dataclass(frozen=True)
class Position:
    """How far one stage got in one input partition.

    `offset` is the last offset processed; for a partition the stage never recorded, the
    offset just before the log's first (log start - 1) with `updated_at` None.
    """

    stage: str
    topic: str
    partition: int
    offset: int
    updated_at: datetime | None

    @property
    def first_waiting(self) -> Place:
        """The first offset not yet processed."""
        return (self.topic, self.partition, self.offset + 1)


@dataclass(frozen=True)
class StuckStage:
    """A stage that has not moved on a partition while input waits there."""

    stage: str
    topic: str
    partition: int
    offset: int  # the first offset not yet processed: the message it is stuck on
    waiting: int  # messages waiting from that offset to the log's end
    still_for: timedelta  # how long it has not moved with input waiting

    def describe(self) -> str:
        seconds = int(self.still_for.total_seconds())
        messages = "message" if self.waiting == 1 else "messages"
        return (
            f"STUCK {self.stage} on {self.topic}[{self.partition}] at offset {self.offset}: "
            f"not moved for {seconds // 60}m{seconds % 60:02d}s, {self.waiting} {messages} waiting"
        )


def _waiting(position: Position, ends: Mapping[tuple[str, int], int]) -> int:
    end = ends.get((position.topic, position.partition))
    return 0 if end is None else max(end - (position.offset + 1), 0)


def arrivals_needed(
    positions: Iterable[Position],
    ends: Mapping[tuple[str, int], int],
    now: datetime,
    threshold: timedelta,
) -> set[Place]:
    """The first waiting messages whose arrival time decides the judgement: those of positions
    with input waiting that did not advance within the threshold (or never did)."""
    return {
        p.first_waiting
        for p in positions
        if _waiting(p, ends) and (p.updated_at is None or now - p.updated_at > threshold)
    }


def stuck_stages(
    positions: Iterable[Position],
    ends: Mapping[tuple[str, int], int],
    arrivals: Mapping[Place, datetime],
    now: datetime,
    threshold: timedelta,
) -> list[StuckStage]:
    """Every (stage, partition) with input waiting and no move for longer than `threshold`.

    `ends` holds each partition's end offset (the next offset to be written); `arrivals` the
    time of the first waiting message where known. A partition the stage never recorded, whose
    first message's time is unknown, is left out: there is nothing to count from.
    """
    out = []
    for p in positions:
        waiting = _waiting(p, ends)
        if not waiting:
            continue
        known = [t for t in (p.updated_at, arrivals.get(p.first_waiting)) if t is not None]
        if not known:
            continue
        still_for = now - max(known)
        if still_for > threshold:
            out.append(StuckStage(p.stage, p.topic, p.partition, p.offset + 1, waiting, still_for))
    return sorted(out, key=lambda s: (s.stage, s.topic, s.partition))
