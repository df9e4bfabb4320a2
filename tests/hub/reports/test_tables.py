"""Two-dimensional tables with margins: small cells hidden, none recoverable from the rest."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from hub.reports.tables import TOTAL, CountTable, count_table


def _pinned(table: CountTable) -> set[tuple[int, int]] | None:
    """Hidden cells a reader can pin to one value from what the table shows.

    Independent of the implementation: tries every assignment of the hidden interior cells
    (each at least 1, since zeros are shown, and at most the smallest shown total of its
    lines), keeps those that reproduce every shown margin, and reports hidden cells (interior
    or margin) left with a single possible value.
    """
    n_rows, n_cols = len(table.rows), len(table.columns)
    shown = table.values
    hidden = [(r, c) for r in range(n_rows) for c in range(n_cols) if shown[r][c] is None]
    grand = table.raw[n_rows][n_cols]
    domains: dict[tuple[int, int], range] = {}
    for r, c in hidden:
        bounds = [grand, shown[r][n_cols], shown[n_rows][c]]
        domains[(r, c)] = range(1, min(b for b in bounds if b is not None) + 1)
    # In a row whose total is shown, the last hidden cell follows from the others.
    derived = {}
    for r in range(n_rows):
        mine = [cell for cell in hidden if cell[0] == r]
        if mine and shown[r][n_cols] is not None:
            derived[mine[-1]] = r
    free = [cell for cell in hidden if cell not in derived]
    if math.prod(len(domains[cell]) for cell in free) > 30_000:
        return None  # too many to enumerate in a unit test
    seen: dict[tuple[int, int], set[int]] = {}
    for values in itertools.product(*(domains[cell] for cell in free)):
        grid = [[shown[r][c] or 0 for c in range(n_cols)] for r in range(n_rows)]
        for (r, c), v in zip(free, values, strict=True):
            grid[r][c] = v
        for (r, c), row in derived.items():
            grid[r][c] = (shown[row][n_cols] or 0) - sum(grid[r])
        if any(grid[r][c] not in domains[(r, c)] for r, c in derived):
            continue
        rows = [sum(line) for line in grid]
        cols = [sum(grid[r][c] for r in range(n_rows)) for c in range(n_cols)]
        margins = {(r, n_cols): rows[r] for r in range(n_rows)}
        margins |= {(n_rows, c): cols[c] for c in range(n_cols)}
        margins[(n_rows, n_cols)] = sum(rows)
        if any(shown[r][c] is not None and shown[r][c] != v for (r, c), v in margins.items()):
            continue
        for cell in hidden:
            seen.setdefault(cell, set()).add(grid[cell[0]][cell[1]])
        for cell, v in margins.items():
            seen.setdefault(cell, set()).add(v)
    return {
        cell for cell, values in seen.items() if shown[cell[0]][cell[1]] is None and len(values) < 2
    }


class TestCountTable:
    def test_large_counts_are_shown_with_margins(self) -> None:
        """Without small counts every cell, row total and the total row are printed."""
        table = count_table("t", ["a", "b"], ["x", "y"], {("a", "x"): 10, ("a", "y"): 7,
                                                           ("b", "x"): 6, ("b", "y"): 20})
        assert table.cell("a", TOTAL) == 17
        assert table.cell(TOTAL, "x") == 16
        assert table.cell(TOTAL, TOTAL) == 43

    def test_a_cell_of_three_shows_as_under_five(self) -> None:
        """A count of 3 is hidden, with a partner in its row and in its column."""
        table = count_table("t", ["a", "b"], ["x", "y", "z"], {
            ("a", "x"): 3, ("a", "y"): 20, ("a", "z"): 9,
            ("b", "x"): 8, ("b", "y"): 30, ("b", "z"): 12,
        })
        assert table.cell("a", "x") is None
        assert table.text("a", "x") == "< 5"
        # Its partners are not small: they say hidden, not "< 5".
        partners = [c for c in ("y", "z") if table.cell("a", c) is None]
        assert partners and all(table.text("a", c) == "hidden" for c in partners)
        assert sum(table.cell("a", c) is None for c in ("x", "y", "z")) >= 2
        assert sum(table.cell(r, "x") is None for r in ("a", "b")) >= 2
        assert _pinned(table) == set()

    def test_threshold_one_hides_nothing(self) -> None:
        """Inside the hub (threshold 1) a 1 is printed as it is."""
        table = count_table("t", ["a"], ["x", "y"], {("a", "x"): 1, ("a", "y"): 2}, threshold=1)
        assert table.cell("a", "x") == 1 and table.cell("a", TOTAL) == 3

    def test_no_hidden_cell_is_recoverable_on_random_tables(self) -> None:
        """On 60 random 2x3 tables each small cell is hidden and none can be pinned down."""
        rng = random.Random(15)
        checked = 0
        for _ in range(60):
            counts = {(r, c): rng.choice((0, 0, 1, 2, 3, 6, 9))
                      for r in ("a", "b") for c in ("x", "y", "z")}
            table = count_table("t", ["a", "b"], ["x", "y", "z"], counts)
            for (r, c), n in counts.items():
                if 0 < n < 5:
                    assert table.cell(r, c) is None, counts
            pinned = _pinned(table)
            if pinned is not None:
                checked += 1
                assert pinned == set(), (counts, table.values)
        assert checked >= 40

    def test_column_only_tables_protect_their_total(self) -> None:
        """Without row totals a lone small cell in a column takes a partner from it."""
        table = count_table("t", ["p", "q", "r"], ["events"],
                            {("p", "events"): 2, ("q", "events"): 40, ("r", "events"): 9},
                            row_totals=False)
        assert table.cell("p", "events") is None and table.cell("r", "events") is None
        assert table.cell(TOTAL, "events") == 51

    def test_negative_counts_are_refused(self) -> None:
        """A negative count is an error that names the cell."""
        with pytest.raises(ValueError, match=r"\(a, x\)"):
            count_table("t", ["a"], ["x"], {("a", "x"): -1})
