"""Percentiles of durations and verdicts against the baseline period."""

from __future__ import annotations

import pytest

from hub.reports.figures import Direction, judge_count, judge_share, nearest_rank
from hub.reports.suppression import Share, share


class TestNearestRank:
    def test_median_and_90th_of_ten(self) -> None:
        """Of 1..10 hours the median is 5 and the 90th percentile 9, both values that occurred."""
        hours = [7.0, 1.0, 10.0, 3.0, 2.0, 9.0, 4.0, 6.0, 5.0, 8.0]
        assert nearest_rank(hours, 0.5) == 5.0
        assert nearest_rank(hours, 0.9) == 9.0
        assert nearest_rank(hours, 1.0) == 10.0

    def test_no_values_give_none(self) -> None:
        """With no hits there is no time to hit, not a zero."""
        assert nearest_rank([], 0.5) is None

    def test_bad_fraction_is_refused(self) -> None:
        """A fraction outside (0, 1] is an error naming the fraction."""
        with pytest.raises(ValueError, match=r"1\.5"):
            nearest_rank([1.0], 1.5)


class TestVerdicts:
    def test_solved_share_rising_meets_the_target(self) -> None:
        """30 of 60 solved against 20 of 50 in the baseline rose by 10 points: met."""
        verdict = judge_share(share(30, 60), share(20, 50), Direction.RISE)
        assert verdict.met is True
        assert "10.0 percentage points" in verdict.words
        assert "20 of 50" in verdict.words and "30 of 60" in verdict.words

    def test_falling_share_misses_a_rise_target(self) -> None:
        """A share that fell does not meet a target asking it to rise."""
        assert judge_share(share(10, 60), share(20, 50), Direction.RISE).met is False

    def test_hidden_counts_cannot_be_judged(self) -> None:
        """When a count is suppressed the verdict says it cannot be judged."""
        verdict = judge_share(Share(None, None), share(20, 50), Direction.RISE)
        assert verdict.met is None
        assert "cannot be judged" in verdict.words

    def test_incidents_falling_meet_a_fall_target(self) -> None:
        """Incidents down from 40 to 31 meet a target asking them to fall, and say -9."""
        verdict = judge_count(31, 40, Direction.FALL)
        assert verdict.met is True
        assert "-9" in verdict.words
        assert judge_count(41, 40, Direction.FALL).met is False
