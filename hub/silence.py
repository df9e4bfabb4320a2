"""When a participant is "silent for longer than usual", judged from its own rhythm.

A connector publishes in bursts (a file, a batch of rows, one event per minute ...), so the
rhythm is read from the gaps between its bursts: events less than BURST apart count as one.
Its usual gap is the 95th percentile of its recent gaps (a gap longer than 19 in 20 of its
own); it is silent when the time since its last event exceeds SLACK times that, and never
sooner than FLOOR (a busy publisher pausing for a few minutes is not news). With fewer than
MIN_GAPS gaps on record its rhythm is unknown and the fixed FALLBACK limit applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

BURST = timedelta(minutes=1)
MIN_GAPS = 5
PERCENTILE = 0.95
SLACK = 1.5
FLOOR = timedelta(minutes=10)
FALLBACK = timedelta(hours=24)


@dataclass(frozen=True)
class Rhythm:
    """A publisher's usual gap between bursts and the silence that is longer than usual."""

    last_seen_at: datetime | None
    gaps: int
    usual_gap: timedelta | None  # None: too little history to know
    limit: timedelta

    def silent_for(self, now: datetime) -> timedelta | None:
        """How long it has been silent, when that is longer than usual; else None."""
        if self.last_seen_at is None:
            return None
        quiet = now - self.last_seen_at
        return quiet if quiet > self.limit else None

    def describe(self) -> str:
        if self.usual_gap is None:
            return f"rhythm not known yet ({self.gaps} gaps); silent after {words(self.limit)}"
        return f"usually within {words(self.usual_gap)}; silent after {words(self.limit)}"


def rhythm(bursts: Sequence[datetime]) -> Rhythm:
    """The rhythm of a publisher from the times of its bursts (any order)."""
    times = sorted(bursts)
    gaps = sorted(b - a for a, b in pairwise(times) if b - a >= BURST)
    last = times[-1] if times else None
    if len(gaps) < MIN_GAPS:
        return Rhythm(last, len(gaps), None, FALLBACK)
    usual = gaps[min(int(PERCENTILE * len(gaps)), len(gaps) - 1)]
    return Rhythm(last, len(gaps), usual, max(usual * SLACK, FLOOR))


def words(span: timedelta) -> str:
    """A span as an operator reads it: 40 s, 12 min, 5 h, 3 d."""
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
