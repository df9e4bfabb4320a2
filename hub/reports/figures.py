"""Figure arithmetic for evaluation reports: percentiles of durations and baseline verdicts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from hub.reports.suppression import Share


def nearest_rank(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (a value that occurred), or None for no values.

    Nearest rank, not interpolation, so that a reported time is one a case really took.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"a percentile fraction lies in (0, 1], not {fraction}")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(fraction * len(ordered)) - 1]


class Direction(Enum):
    """Which way a target asks a figure to move against the baseline."""

    RISE = "rise"
    FALL = "fall"


@dataclass(frozen=True)
class Verdict:
    """A target judged in plain words, with the figures it was judged on."""

    met: bool | None
    words: str


def judge_share(current: Share, baseline: Share, direction: Direction) -> Verdict:
    """Judge a share (e.g. cases solved of cases reported) against its baseline."""
    now, before = current.value, baseline.value
    if now is None or before is None:
        return Verdict(
            met=None,
            words=(
                f"cannot be judged: now {current.text()}, baseline {baseline.text()} "
                "(a count is hidden or zero)"
            ),
        )
    points = 100 * (now - before)
    met = points > 0 if direction is Direction.RISE else points < 0
    moved = "rose" if points > 0 else "fell" if points < 0 else "did not change"
    outcome = "target met" if met else "target not met"
    return Verdict(
        met=met,
        words=(
            f"{outcome}: {moved} by {abs(points):.1f} percentage points, "
            f"from {baseline.text()} to {current.text()}"
        ),
    )


def judge_count(current: int | None, baseline: int | None, direction: Direction) -> Verdict:
    """Judge a count (e.g. incidents) against its baseline; None means hidden."""
    if current is None or baseline is None:
        return Verdict(met=None, words="cannot be judged: a count is hidden")
    met = current > baseline if direction is Direction.RISE else current < baseline
    change = current - baseline
    outcome = "target met" if met else "target not met"
    return Verdict(
        met=met, words=f"{outcome}: {baseline} in the baseline, {current} now ({change:+d})"
    )
