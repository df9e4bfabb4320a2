"""Count tables with margins, and their secondary suppression.

A table of provinces by case type prints row totals and a total row. Hiding a small cell is not
enough when the rest of its row, or of its column, and the line's total are printed: subtraction
gives it back. So every line (row or column, the totals included) that holds a hidden value holds
at least two, and when the line's total is shown the hidden parts together reach the threshold.
Complementary cells are chosen smallest first; zeros stay shown (a zero names nobody).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hub.reports.suppression import DEFAULT_THRESHOLD

TOTAL = "total"
Cell = tuple[int, int]


@dataclass(frozen=True)
class CountTable:
    """Counts by row and column as they may be printed: None marks a hidden value.

    values[r][c] holds the interior; with row totals, column index len(columns) is the total;
    with a total row, row index len(rows) is the total row.
    """

    title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[int | None, ...], ...]
    raw: tuple[tuple[int, ...], ...]
    row_totals: bool
    total_row: bool
    threshold: int

    def text(self, row: str, column: str) -> str:
        """The printed cell: the count, '< threshold' for a small one, 'hidden' for its partners.

        A partner hidden to protect a small count is not itself small: printing it as '< 5'
        would tell the reader something false.
        """
        r = len(self.rows) if row == TOTAL else self.rows.index(row)
        c = len(self.columns) if column == TOTAL else self.columns.index(column)
        return shown(self.values[r][c], self.threshold, self.raw[r][c])

    def cell(self, row: str, column: str) -> int | None:
        """The printed value at a row and column label (TOTAL names a margin)."""
        r = len(self.rows) if row == TOTAL else self.rows.index(row)
        c = len(self.columns) if column == TOTAL else self.columns.index(column)
        return self.values[r][c]

    def true_cell(self, row: str, column: str) -> int:
        """The value before suppression (for the hub's own use, never printed outside)."""
        r = len(self.rows) if row == TOTAL else self.rows.index(row)
        c = len(self.columns) if column == TOTAL else self.columns.index(column)
        return self.raw[r][c]

    @property
    def row_labels(self) -> tuple[str, ...]:
        return self.rows + ((TOTAL,) if self.total_row else ())

    @property
    def column_labels(self) -> tuple[str, ...]:
        return self.columns + ((TOTAL,) if self.row_totals else ())


def _small(value: int, threshold: int) -> bool:
    return 0 < value < threshold


def _lines(n_rows: int, n_cols: int, row_totals: bool, total_row: bool) -> list[list[Cell]]:
    """Every line whose parts sum to its last cell (the line's total)."""
    lines: list[list[Cell]] = []
    rows = n_rows + (1 if total_row else 0)
    cols = n_cols + (1 if row_totals else 0)
    if row_totals:
        lines += [[(r, c) for c in range(cols)] for r in range(rows)]
    if total_row:
        lines += [[(r, c) for r in range(rows)] for c in range(cols)]
    return lines


def count_table(
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    counts: Mapping[tuple[str, str], int],
    *,
    threshold: int = DEFAULT_THRESHOLD,
    row_totals: bool = True,
    total_row: bool = True,
) -> CountTable:
    """A table of counts[(row, column)] (missing: 0) with its margins, suppressed."""
    if threshold < 1:
        raise ValueError(f"the suppression threshold must be at least 1, not {threshold}")
    grid = [[int(counts.get((r, c), 0)) for c in columns] for r in rows]
    for r, line in zip(rows, grid, strict=True):
        for c, value in zip(columns, line, strict=True):
            if value < 0:
                raise ValueError(f"count ({r}, {c}) of {title!r} is negative ({value})")
    if row_totals:
        for line in grid:
            line.append(sum(line))
    if total_row:
        width = len(columns) + (1 if row_totals else 0)
        grid.append([sum(line[c] for line in grid) for c in range(width)])
    hidden = _suppress(grid, _lines(len(rows), len(columns), row_totals, total_row), threshold)
    values = tuple(
        tuple(None if (r, c) in hidden else v for c, v in enumerate(line))
        for r, line in enumerate(grid)
    )
    return CountTable(
        title,
        tuple(rows),
        tuple(columns),
        values,
        tuple(tuple(line) for line in grid),
        row_totals,
        total_row,
        threshold,
    )


def _suppress(grid: list[list[int]], lines: list[list[Cell]], threshold: int) -> set[Cell]:
    hidden = {
        (r, c)
        for r, line in enumerate(grid)
        for c, value in enumerate(line)
        if _small(value, threshold)
    }
    if not lines:
        return hidden
    changed = True
    while changed:
        changed = False
        for line in lines:
            *parts, total = line
            shut = [cell for cell in line if cell in hidden]
            if not shut:
                continue
            hidden_parts = sum(grid[r][c] for r, c in parts if (r, c) in hidden)
            if len(shut) >= 2 and (total in hidden or hidden_parts >= threshold):
                continue
            # Parts first, smallest first; the total only when no part is left to hide.
            open_parts = sorted(
                (cell for cell in parts if cell not in hidden and grid[cell[0]][cell[1]] > 0),
                key=lambda cell: (grid[cell[0]][cell[1]], cell),
            )
            if open_parts:
                hidden.add(open_parts[0])
            elif total not in hidden:
                hidden.add(total)
            else:
                continue
            changed = True
    return hidden


HIDDEN = "hidden"


def shown(value: int | None, threshold: int, true_value: int | None = None) -> str:
    """A printed count: the number; '< threshold' when hidden for being small, or 'hidden'
    when it was hidden only to protect a small one (given its true value)."""
    if value is not None:
        return str(value)
    if true_value is not None and true_value >= threshold:
        return HIDDEN
    return f"< {threshold}"
