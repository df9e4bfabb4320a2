"""A participant silent for longer than usual, from its own rhythm (hub.silence)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.silence import FALLBACK, FLOOR, rhythm, words

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def bursts(every: timedelta, count: int, last: datetime) -> list[datetime]:
    return [last - every * i for i in range(count)]


class TestRhythm:
    def test_an_hourly_publisher_is_silent_after_an_hour_and_a_half(self) -> None:
        """Usual gap one hour: 80 min of quiet is normal, 100 min is not."""
        known = rhythm(bursts(timedelta(hours=1), 30, NOW - timedelta(minutes=80)))
        assert known.usual_gap == timedelta(hours=1)
        assert known.silent_for(NOW) is None
        later = NOW + timedelta(minutes=20)
        assert known.silent_for(later) == timedelta(minutes=100)

    def test_a_daily_publisher_is_not_flagged_after_a_few_hours(self) -> None:
        """The same few hours of quiet that flag a busy publisher are normal for a daily one."""
        daily = rhythm(bursts(timedelta(days=1), 20, NOW - timedelta(hours=5)))
        busy = rhythm(bursts(timedelta(minutes=5), 20, NOW - timedelta(hours=5)))
        assert daily.silent_for(NOW) is None
        assert busy.silent_for(NOW) == timedelta(hours=5)

    def test_one_long_gap_does_not_make_the_rhythm(self) -> None:
        """A single weekend among many hourly gaps leaves the usual gap at an hour."""
        times = bursts(timedelta(hours=1), 40, NOW)
        times.append(times[-1] - timedelta(days=2))
        assert rhythm(times).usual_gap == timedelta(hours=1)

    def test_a_streaming_publisher_gets_the_floor(self) -> None:
        """Bursts a minute apart: a few minutes of quiet are not worth an alarm."""
        known = rhythm(bursts(timedelta(minutes=1), 100, NOW))
        assert known.limit == FLOOR
        assert known.silent_for(NOW + timedelta(minutes=9)) is None

    def test_too_little_history_falls_back_to_a_day(self) -> None:
        """With fewer than five gaps the rhythm is not known: 24 h apply."""
        known = rhythm(bursts(timedelta(minutes=5), 3, NOW))
        assert known.usual_gap is None and known.limit == FALLBACK
        assert "not known" in known.describe()
        assert rhythm([]).silent_for(NOW) is None

    def test_events_within_a_burst_are_not_gaps(self) -> None:
        """Events seconds apart count as one burst."""
        times = [NOW - timedelta(seconds=s) for s in range(0, 50, 5)]
        assert rhythm(times).gaps == 0


def test_spans_read_as_operators_say_them() -> None:
    """Seconds, minutes, hours, days."""
    assert [words(timedelta(seconds=s)) for s in (40, 600, 5 * 3600, 3 * 86400)] == [
        "40 s", "10 min", "5 h", "3 d"]
