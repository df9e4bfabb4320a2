"""The worker supervisor against the real services: a SIGKILLed worker comes back and consumes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_support import Lane, make_lane

from hub.config import Settings
from ops.cli import main as hubctl
from processors.processes import pid_alive
from processors.supervisor import supervisor_pid, worker_dir

pytestmark = [pytest.mark.services, pytest.mark.slow]

POLICE = "320000-police"
STORED = "SELECT count(*) FROM event_store"


@pytest.fixture
def lane(hub_settings: Settings, tmp_path: Path) -> Iterator[Lane]:
    with make_lane(hub_settings, tmp_path) as made:
        yield made


def test_a_killed_worker_is_restarted_and_stop_leaves_nothing_running(
    lane: Lane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 the worker: the supervisor starts it again, it consumes within seconds, and
    `hubctl processors stop` ends the supervisor and every worker, old pids included."""
    # One worker, so that only the restarted one can consume what is published next.
    lane.start(1)
    lane.register_and_wait(POLICE)
    supervisor = supervisor_pid(lane.settings)
    assert supervisor is not None
    first = lane.pids()
    victim = first[0]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    lane.wait_for("a new worker", lambda: len(set(lane.pids()) - set(first)) == 1, timeout=30)
    back = time.monotonic() - killed
    before = lane.scalar(STORED)
    # Without static membership the new member would wait in its group's rebalance until the
    # dead member's session expired, about a minute.
    lane.publish(lane.world.event(POLICE, "tip-report", n) for n in range(1, 21))
    lane.wait_for("events stored", lambda: lane.scalar(STORED) == before + 20, timeout=25)
    assert back < 15, f"worker back only after {back:.1f}s"
    log = (worker_dir(lane.settings) / "supervisor.log").read_text()
    assert f"(pid {victim}) died without being asked to stop (signal 9)" in log

    everyone = [supervisor, *first, *lane.pids()]
    for name, value in lane.environment().items():
        monkeypatch.setenv(name, value)
    assert hubctl(["processors", "stop"]) == 0
    assert [pid for pid in everyone if pid_alive(pid)] == []
    assert not list(worker_dir(lane.settings).glob("*.pid"))
