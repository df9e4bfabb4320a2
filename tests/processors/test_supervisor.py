"""Worker pid files and the supervisor loop, with stand-in worker processes (no services)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from processors.processes import pid_alive, read_pid, spawn_detached
from processors.supervisor import stop_all_workers
from processors.watchdog import WANTED_FILE, WORKER_MODULE, Watchdog, restart_delay


def _sleeper(pid_file: Path, module: str = WORKER_MODULE) -> int:
    # The last argument only puts the module's name on the command line, as stop checks.
    argv = [sys.executable, "-c", "import time; time.sleep(60)", module]
    pid = spawn_detached(argv, pid_file.with_suffix(".log"))
    pid_file.write_text(f"{pid}\n")
    return pid


class TestStopAllWorkers:
    def test_stops_workers_of_every_prefix_including_nested_data_dirs(
        self, tmp_path: Path
    ) -> None:
        """Workers of the hub and of a demo run kept below it are all stopped, pid files gone."""
        hub = tmp_path / "processors" / "hub"
        demo = tmp_path / "demo" / "hub" / "processors" / "demo1"
        hub.mkdir(parents=True)
        demo.mkdir(parents=True)
        pids = [_sleeper(hub / "worker-1.pid"), _sleeper(demo / "worker-1.pid")]
        lines = stop_all_workers(tmp_path, timeout=10)
        assert len(lines) == 2 and all(line.endswith("stopped") for line in lines)
        assert not any(pid_alive(pid) for pid in pids)
        assert not list(tmp_path.rglob("worker-*.pid"))

    def test_a_folder_vanishing_mid_search_is_skipped(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Kafka deletes topic folders while `services down` looks for workers: never fatal,
        and the broker's and the database's folders are not searched at all."""
        hub = tmp_path / "processors" / "hub"
        hub.mkdir(parents=True)
        gone = tmp_path / "demo" / "t1.notifications.x-0.delete"
        gone.mkdir(parents=True)
        (tmp_path / "kafka" / "data").mkdir(parents=True)
        pid = _sleeper(hub / "worker-1.pid")
        real_scandir = os.scandir
        entered: list[Path] = []

        def scandir(path: Any = ".") -> Any:
            entered.append(Path(path))
            if Path(path) == gone:
                raise FileNotFoundError(2, "No such file or directory", str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
        assert stop_all_workers(tmp_path, timeout=10) == [f"hub worker-1 (pid {pid}) stopped"]
        assert not pid_alive(pid)
        assert gone in entered and tmp_path / "kafka" not in entered

    def test_stops_the_supervisor_before_the_workers(self, tmp_path: Path) -> None:
        """The supervisor goes first, so it cannot restart a worker being stopped."""
        hub = tmp_path / "processors" / "hub"
        hub.mkdir(parents=True)
        supervisor = _sleeper(hub / "supervisor.pid", "processors.watchdog")
        worker = _sleeper(hub / "worker-1.pid")
        lines = stop_all_workers(tmp_path, timeout=10)
        assert lines == [
            f"hub supervisor (pid {supervisor}) stopped",
            f"hub worker-1 (pid {worker}) stopped",
        ]
        assert not pid_alive(supervisor) and not pid_alive(worker)

    def test_a_pid_file_naming_another_program_is_left_alone(self, tmp_path: Path) -> None:
        """After a reboot a stale pid may belong to anything: that process is not killed."""
        hub = tmp_path / "processors" / "hub"
        hub.mkdir(parents=True)
        stranger = _sleeper(hub / "worker-1.pid", "something-else")
        try:
            assert stop_all_workers(tmp_path, timeout=10) == ["no worker was running"]
            assert pid_alive(stranger)
        finally:
            os.kill(stranger, signal.SIGKILL)
            os.waitpid(stranger, 0)

    def test_says_so_when_none_runs(self, tmp_path: Path) -> None:
        """With no pid file at all, the answer is one plain line."""
        assert stop_all_workers(tmp_path) == ["no worker was running"]


class TestWorkerLogs:
    def test_log_is_private_and_its_new_folder_too(self, tmp_path: Path) -> None:
        """A worker's log (it can quote the events it failed on) is 0600 in a 0700 folder."""
        log = tmp_path / "processors" / "hub" / "worker-1.log"
        previous = os.umask(0)
        try:
            pid = spawn_detached([sys.executable, "-c", "print('started')"], log)
        finally:
            os.umask(previous)
        for _ in range(100):
            if not pid_alive(pid):
                break
            time.sleep(0.05)
        assert log.stat().st_mode & 0o777 == 0o600
        assert (log.parent.stat().st_mode & 0o777, log.parent.parent.stat().st_mode & 0o777) == (
            0o700, 0o700)


def _watchdog_in_thread(directory: Path, script: str, count: int = 1) -> tuple[Watchdog, Thread]:
    """A Watchdog whose workers run `script`; its loop in a thread, as in its own process."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / WANTED_FILE).write_text(f"{count}\n")
    watchdog = Watchdog(directory, [sys.executable, "-c", script, WORKER_MODULE])
    thread = Thread(target=watchdog.loop, daemon=True)
    thread.start()
    return watchdog, thread


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class TestRestartDelay:
    def test_a_worker_that_ran_for_a_while_is_restarted_at_once(self) -> None:
        """No pause after a death that did not follow its start closely."""
        assert restart_delay(0) == 0.0

    def test_the_pause_doubles_with_each_quick_death_up_to_a_minute(self) -> None:
        """1, 2, 4 ... seconds, never more than 60."""
        assert [restart_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
        assert restart_delay(30) == 60.0


class TestWatchdog:
    def test_a_killed_worker_comes_back_in_its_slot(self, tmp_path: Path) -> None:
        """SIGKILL a worker: a new process runs in the same slot, its pid in the pid file."""
        watchdog, thread = _watchdog_in_thread(tmp_path, "import time; time.sleep(60)", 2)
        try:
            _wait_for("two workers", lambda: len(_pids(tmp_path)) == 2)
            victim = _pids(tmp_path)[1]
            os.kill(victim, signal.SIGKILL)
            _wait_for("slot 1 restarted", lambda: _pids(tmp_path).get(1, victim) != victim)
            assert pid_alive(_pids(tmp_path)[1]) and pid_alive(_pids(tmp_path)[2])
        finally:
            watchdog.stopping = True
            thread.join(30)
        pids = [s.pid for s in watchdog.slots.values()]
        assert pids and not any(pid is not None and pid_alive(pid) for pid in pids)
        assert not list(tmp_path.glob("worker-*.pid"))

    def test_a_worker_that_ran_for_a_while_is_restarted_at_once(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Past the quick-death time, a death resets the count and the log says 'now'."""
        monkeypatch.setattr("processors.watchdog.QUICK_DEATH", 0.3)
        caplog.set_level(logging.WARNING, logger="processors.watchdog")
        watchdog, thread = _watchdog_in_thread(tmp_path, "import time; time.sleep(60)")
        try:
            _wait_for("a worker", lambda: 1 in _pids(tmp_path))
            victim = _pids(tmp_path)[1]
            time.sleep(0.5)
            os.kill(victim, signal.SIGKILL)
            _wait_for("slot 1 restarted", lambda: _pids(tmp_path).get(1, victim) != victim)
        finally:
            watchdog.stopping = True
            thread.join(30)
        [death] = [r.getMessage() for r in caplog.records if "died" in r.getMessage()]
        assert f"(pid {victim}) died without being asked to stop (signal 9)" in death
        assert "restarting now" in death and _quick_deaths(watchdog) == 0

    def test_a_worker_that_dies_at_once_is_restarted_after_growing_pauses(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Three quick deaths take at least 1 + 2 s of pauses, and the log says why."""
        caplog.set_level(logging.WARNING, logger="processors.watchdog")
        watchdog, thread = _watchdog_in_thread(tmp_path, "raise SystemExit(3)")
        began = time.monotonic()
        try:
            _wait_for("three deaths", lambda: _quick_deaths(watchdog) >= 3, timeout=20)
        finally:
            watchdog.stopping = True
            thread.join(30)
        assert time.monotonic() - began >= 3.0
        deaths = [r.getMessage() for r in caplog.records if "died" in r.getMessage()]
        assert "exit 3" in deaths[0] and "restarting in 1s" in deaths[0]
        assert "restarting in 2s" in deaths[1] and "2 time(s) in a row" in deaths[1]


def _quick_deaths(watchdog: Watchdog) -> int:
    slot = watchdog.slots.get(1)
    return 0 if slot is None else slot.quick_deaths


def _pids(directory: Path) -> dict[int, int]:
    """Slot number -> pid, from the pid files of running workers."""
    out = {}
    for pid_file in directory.glob("worker-*.pid"):
        pid = read_pid(pid_file)
        if pid is not None:
            out[int(pid_file.stem.split("-")[1])] = pid
    return out
