"""Small-count suppression: no hidden cell can be recovered from what the row still shows."""

from __future__ import annotations

import itertools
import random

import pytest

from hub.reports import share, suppress_row


def _recoverable(row_cells: dict[str, int | None], total: int | None, bound: int) -> set[str]:
    """Hidden cells whose value a reader can pin down from the shown cells and total.

    Independent of the implementation: enumerates every non-negative assignment of the hidden
    cells (up to bound) consistent with the printed total, and reports cells left with one value.
    """
    hidden = [name for name, value in row_cells.items() if value is None]
    if total is None or not hidden:
        return set()
    remainder = total - sum(value for value in row_cells.values() if value is not None)
    seen: dict[str, set[int]] = {name: set() for name in hidden}
    for values in itertools.product(range(bound + 1), repeat=len(hidden)):
        if sum(values) == remainder:
            for name, value in zip(hidden, values, strict=True):
                seen[name].add(value)
    return {name for name, values in seen.items() if len(values) <= 1}


class TestSuppressRow:
    def test_large_counts_are_shown_unchanged(self) -> None:
        """A row without small counts is printed as it is, with its total."""
        row = suppress_row({"trafficking": 12, "runaway": 40, "lost": 7})
        assert row.cells == {"trafficking": 12, "runaway": 40, "lost": 7}
        assert row.total == 59

    def test_single_small_cell_gets_a_complement(self) -> None:
        """One small cell beside a shown total is hidden together with the smallest other cell."""
        row = suppress_row({"trafficking": 2, "runaway": 40, "lost": 7})
        assert row.cells == {"trafficking": None, "runaway": 40, "lost": None}
        assert row.total == 49

    def test_zero_is_shown(self) -> None:
        """A zero count names nobody and stays visible."""
        row = suppress_row({"trafficking": 0, "runaway": 40, "lost": 7})
        assert row.cells == {"trafficking": 0, "runaway": 40, "lost": 7}

    def test_small_total_hides_everything(self) -> None:
        """A row whose total is itself small shows neither cells nor total."""
        row = suppress_row({"trafficking": 1, "runaway": 2})
        assert row.cells == {"trafficking": None, "runaway": None}
        assert row.total is None

    def test_threshold_is_a_setting(self) -> None:
        """A count of 7 is hidden under threshold 10 and shown under the default."""
        assert suppress_row({"a": 7, "b": 30}, threshold=10).cells["a"] is None
        assert suppress_row({"a": 7, "b": 30}).cells["a"] == 7

    def test_two_small_cells_summing_below_threshold_take_a_third(self) -> None:
        """Hidden cells 1 and 1 would be known to be small together; a third cell joins them."""
        row = suppress_row({"a": 1, "b": 1, "c": 20, "d": 30})
        assert row.cells == {"a": None, "b": None, "c": None, "d": 30}
        assert row.total == 52

    def test_no_hidden_cell_is_recoverable_by_subtraction(self) -> None:
        """On random rows every small cell is hidden and none can be derived from the total."""
        rng = random.Random(15)
        for _ in range(300):
            width = rng.randint(1, 4)
            cells = {f"c{i}": rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 15]) for i in range(width)}
            threshold = rng.choice([3, 5])
            row = suppress_row(cells, threshold)
            for name, count in cells.items():
                if 0 < count < threshold:
                    assert row.cells[name] is None, (cells, row)
            bound = sum(cells.values())
            assert _recoverable(row.cells, row.total, bound) == set(), (cells, row)

    def test_bad_input_is_refused_in_words(self) -> None:
        """A negative count or threshold below 1 is refused with a message naming it."""
        with pytest.raises(ValueError, match="negative"):
            suppress_row({"a": -1})
        with pytest.raises(ValueError, match="threshold"):
            suppress_row({"a": 1}, threshold=0)


class TestShare:
    def test_share_shows_its_counts(self) -> None:
        """A ratio is printed with numerator and denominator beside the percentage."""
        found = share(40, 50)
        assert found.value == pytest.approx(0.8)
        assert found.text() == "80.0 % (40 of 50)"

    def test_small_numerator_hides_the_share(self) -> None:
        """3 trafficking victims of 50 is hidden, and so is the denominator that would give it."""
        result = share(3, 50)
        assert result.numerator is None
        assert result.value is None
        assert "hidden" in result.text()

    def test_small_remainder_also_hides(self) -> None:
        """48 of 50 is hidden too: the 2 not found would be 50 minus 48."""
        assert share(48, 50).value is None

    def test_share_refuses_part_above_whole(self) -> None:
        """A part larger than its whole is an error, not a ratio above 100 %."""
        with pytest.raises(ValueError, match="part"):
            share(6, 5)
