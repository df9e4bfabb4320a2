"""hub.health: which stages are stuck, judged from positions, end offsets and times alone."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from hub.health import Position, StuckStage, arrivals_needed, stuck_stages

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
INGEST = "hub.ingest"


def _at(offset: int, minutes_ago: float | None, partition: int = 0) -> Position:
    updated = None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)
    return Position("verify", INGEST, partition, offset, updated)


def _judge(
    position: Position, end: int, arrived_minutes_ago: float | None = None
) -> list[StuckStage]:
    arrivals = {}
    if arrived_minutes_ago is not None:
        arrivals[position.first_waiting] = NOW - timedelta(minutes=arrived_minutes_ago)
    ends = {(position.topic, position.partition): end}
    return stuck_stages([position], ends, arrivals, NOW, MINUTE)


class TestStuckStages:
    def test_a_stage_with_nothing_waiting_is_never_stuck(self) -> None:
        """Offset 9 processed and the log ends at 10: idle for an hour is fine."""
        assert _judge(_at(9, 60), end=10) == []

    def test_waiting_input_and_no_move_past_the_threshold_is_stuck(self) -> None:
        """It names the first unprocessed offset, the messages waiting and the time still."""
        [stuck] = _judge(_at(9, 5), end=14, arrived_minutes_ago=3)
        assert (stuck.stage, stuck.topic, stuck.partition) == ("verify", INGEST, 0)
        assert (stuck.offset, stuck.waiting) == (10, 4)
        assert stuck.still_for == timedelta(minutes=3)

    def test_a_stage_that_moved_recently_is_not_stuck(self) -> None:
        """Input waits, but the last advance is within the threshold."""
        assert _judge(_at(9, 0.5), end=500, arrived_minutes_ago=0.5) == []

    def test_input_that_just_arrived_at_a_long_idle_stage_is_not_stuck(self) -> None:
        """Idle for an hour, a message arrived 10 s ago: counted from its arrival."""
        assert _judge(_at(9, 60), end=11, arrived_minutes_ago=10 / 60) == []

    def test_without_the_arrival_time_the_last_advance_counts(self) -> None:
        """When the waiting message's time is unknown, the stage's own time decides."""
        [stuck] = _judge(_at(9, 2), end=11)
        assert stuck.still_for == 2 * MINUTE

    def test_a_partition_never_processed_is_stuck_on_its_first_offset(self) -> None:
        """No recorded position (log start 0): stuck on offset 0 once it waited long enough."""
        [stuck] = _judge(_at(-1, None), end=3, arrived_minutes_ago=2)
        assert (stuck.offset, stuck.waiting) == (0, 3)

    def test_a_partition_never_processed_with_no_time_known_is_left_out(self) -> None:
        """Nothing to count from: no verdict rather than a guess."""
        assert _judge(_at(-1, None), end=3) == []

    def test_a_partition_without_an_end_offset_is_left_out(self) -> None:
        """A position on a partition the log no longer shows says nothing."""
        assert stuck_stages([_at(9, 60)], {}, {}, NOW, MINUTE) == []

    def test_the_threshold_itself_is_not_yet_stuck(self) -> None:
        """Exactly the threshold: still within it."""
        assert _judge(_at(9, 1), end=11) == []

    def test_results_are_ordered_by_stage_topic_partition(self) -> None:
        """Several stuck partitions come back in a stable order."""
        positions = [_at(0, 9, partition=2), Position("project", "hub.verified", 0, 4, None)]
        positions.append(_at(0, 9, partition=1))
        ends = {(INGEST, 1): 5, (INGEST, 2): 5, ("hub.verified", 0): 9}
        arrivals = {("hub.verified", 0, 5): NOW - 2 * MINUTE}
        found = stuck_stages(positions, ends, arrivals, NOW, MINUTE)
        assert [(s.stage, s.partition) for s in found] == [
            ("project", 0),
            ("verify", 1),
            ("verify", 2),
        ]

    def test_describe_says_stage_place_offset_and_duration(self) -> None:
        """One line an operator can act on."""
        stuck = StuckStage("verify", INGEST, 3, 17, 40, timedelta(minutes=3, seconds=12))
        assert stuck.describe() == (
            "STUCK verify on hub.ingest[3] at offset 17: not moved for 3m12s, "
            "40 messages waiting"
        )
        one = StuckStage("project", "hub.verified", 0, 0, 1, timedelta(seconds=61))
        assert one.describe().endswith("not moved for 1m01s, 1 message waiting")


class TestArrivalsNeeded:
    def test_only_waiting_positions_past_the_threshold_need_an_arrival_time(self) -> None:
        """Recent movers and partitions with nothing waiting cost no Kafka read."""
        positions = [
            _at(9, 5, partition=0),  # waiting, old: needed
            _at(9, 0.2, partition=1),  # waiting, recent: not needed
            _at(9, 5, partition=2),  # nothing waiting
            _at(-1, None, partition=3),  # never processed, waiting: needed
        ]
        ends = {(INGEST, 0): 12, (INGEST, 1): 12, (INGEST, 2): 10, (INGEST, 3): 2}
        assert arrivals_needed(positions, ends, NOW, MINUTE) == {(INGEST, 0, 10), (INGEST, 3, 0)}


def test_health_imports_no_adapters() -> None:
    """A fresh interpreter importing hub.health has loaded no Kafka, Faust or psycopg."""
    script = (
        "import sys, hub.health\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'kafka', 'faust', 'aiokafka', 'psycopg'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "[]"
