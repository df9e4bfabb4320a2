"""Small-count suppression for reports that leave the hub.

A count below the threshold could point at a single rescued person, so it is hidden. Hiding one
cell of a row whose total is printed is not enough: the reader subtracts the shown parts from the
total and gets the hidden cell back. So a row is suppressed as a whole pattern: at least two cells
are hidden, and the hidden cells together reach the threshold, or the total is hidden too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_THRESHOLD = 5


@dataclass(frozen=True)
class SuppressedRow:
    """One row of counts as it may be printed: None marks a hidden cell."""

    cells: dict[str, int | None]
    total: int | None


def _is_small(count: int, threshold: int) -> bool:
    # Zero names nobody; only counts from 1 to threshold-1 are disclosive.
    return 0 < count < threshold


def suppress_row(cells: Mapping[str, int], threshold: int = DEFAULT_THRESHOLD) -> SuppressedRow:
    """Hide small cells of a row and enough others that no hidden cell can be derived.

    The total printed with the row is the sum of the cells.
    """
    if threshold < 1:
        raise ValueError(f"the suppression threshold must be at least 1, not {threshold}")
    for name, count in cells.items():
        if count < 0:
            raise ValueError(f"count {name!r} is negative ({count})")
    total = sum(cells.values())
    if _is_small(total, threshold):
        return SuppressedRow(cells={name: None for name in cells}, total=None)
    hidden = {name for name, count in cells.items() if _is_small(count, threshold)}
    if not hidden:
        return SuppressedRow(cells=dict(cells), total=total)
    # Complementary cells: the smallest shown ones first, so as little as possible is lost.
    # Zero cells are not used, since hiding a zero adds nothing the reader cannot infer.
    candidates = sorted(
        (name for name, count in cells.items() if name not in hidden and count > 0),
        key=lambda name: (cells[name], name),
    )
    while candidates and (len(hidden) < 2 or sum(cells[name] for name in hidden) < threshold):
        hidden.add(candidates.pop(0))
    safe = len(hidden) >= 2 and sum(cells[name] for name in hidden) >= threshold
    return SuppressedRow(
        cells={name: (None if name in hidden else count) for name, count in cells.items()},
        total=total if safe else None,
    )


@dataclass(frozen=True)
class Share:
    """A ratio printed with the counts it comes from; hidden whenever either count is."""

    numerator: int | None
    denominator: int | None
    threshold: int | None = None  # for the words only

    @property
    def value(self) -> float | None:
        """The ratio, or None when a count is hidden or the denominator is zero."""
        if self.numerator is None or self.denominator is None or self.denominator == 0:
            return None
        return self.numerator / self.denominator

    def text(self) -> str:
        """The ratio in words a reader cannot misread: percentage and both counts."""
        if self.numerator is None or self.denominator is None:
            if self.threshold is None:
                return "hidden (protects a count below the threshold)"
            return f"hidden (protects a count < {self.threshold})"
        if self.denominator == 0:
            return "— (0 of 0)"
        percent = 100 * self.numerator / self.denominator
        return f"{percent:.1f} % ({self.numerator} of {self.denominator})"


def share(numerator: int, denominator: int, threshold: int = DEFAULT_THRESHOLD) -> Share:
    """A share of denominator, with both counts suppressed as a pair.

    The numerator and the remainder form a row whose total is the denominator, so the same
    complementary rule applies: hiding the numerator alone would leave it as denominator - rest.
    """
    if not 0 <= numerator <= denominator:
        raise ValueError(f"a share needs 0 <= part <= whole, got {numerator} of {denominator}")
    row = suppress_row({"part": numerator, "rest": denominator - numerator}, threshold)
    return Share(numerator=row.cells["part"], denominator=row.total, threshold=threshold)
