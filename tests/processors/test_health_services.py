"""Stuck stages against the real services: a running worker whose verify stage cannot move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from pipeline_support import Lane, make_lane

from hub.config import Settings
from ops.cli import main as hubctl
from processors.health import stuck_now
from processors.operations import snapshot

pytestmark = [pytest.mark.services, pytest.mark.slow]

POLICE = "320000-police"
STORED = "SELECT count(*) FROM event_store"
SECOND = timedelta(seconds=1)


@pytest.fixture
def lane(hub_settings: Settings, tmp_path: Path) -> Iterator[Lane]:
    with make_lane(hub_settings, tmp_path) as made:
        yield made


def test_a_verify_stage_that_cannot_move_is_reported_stuck_with_its_offset(
    lane: Lane, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The worker runs, but its verify stage waits on a locked position row: both status
    commands name stage, partition and offset (also of a partition it never processed),
    exit 1, and the report clears once the stage moves again."""
    lane.start(1)
    lane.register_and_wait(POLICE)
    registered = lane.scalar(STORED)
    ingest = lane.topic("ingest")
    lane.publish([lane.world.event(POLICE, "tip-report", 1)])
    lane.wait_for("the first event stored", lambda: lane.scalar(STORED) == registered + 1)
    partition, done = lane.scalar(
        "SELECT ARRAY[partition, \"offset\"] FROM processed WHERE consumer = 'verify' "
        "AND topic = %s",
        ingest,
    )
    other = 0 if partition else 1  # an ingest partition no message went to yet
    # Holding the row lock makes the stage's next claim wait: a stage that cannot move.
    with psycopg.connect(lane.settings.pg_owner_dsn) as holder:
        holder.execute(
            "SELECT 1 FROM processed WHERE consumer = 'verify' AND topic = %s "
            "AND partition = %s FOR UPDATE",
            (ingest, partition),
        )
        lane.publish([lane.world.event(POLICE, "tip-report", 2)])
        lane.wait_for("the stage to be still past a second", lambda: _stuck_on(lane, partition))
        third = lane.world.event(POLICE, "tip-report", 3)
        lane.producer.send(ingest, key=POLICE.encode(), value=third, partition=other)
        lane.producer.flush()
        lane.wait_for("the untouched partition reported", lambda: _stuck_on(lane, other))
        found = {(s.stage, s.topic, s.partition): s for s in stuck_now(lane.settings, SECOND)}
        assert found[("verify", ingest, partition)].offset == done + 1
        assert found[("verify", ingest, partition)].waiting == 1
        assert found[("verify", ingest, other)].offset == 0
        assert {stage for stage, _, _ in found} == {"verify"}

        for name, value in lane.environment().items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        assert hubctl(["processors", "status", "--stuck-after", "1"]) == 1
        out = capsys.readouterr().out
        assert "worker 1: running" in out
        assert f"STUCK verify on {ingest}[{partition}] at offset {done + 1}" in out
        assert hubctl(["status", "--stuck-after", "1"]) == 1
        assert f"STUCK verify on {ingest}[{other}] at offset 0" in capsys.readouterr().out
        holder.rollback()
    lane.wait_for("all three events stored", lambda: lane.scalar(STORED) == registered + 3)
    assert stuck_now(lane.settings, SECOND) == []
    assert snapshot(lane.settings, stuck_after=SECOND).stuck == []
    assert hubctl(["processors", "status", "--stuck-after", "1"]) == 0


def _stuck_on(lane: Lane, partition: int) -> bool:
    return any(s.partition == partition for s in stuck_now(lane.settings, SECOND))
