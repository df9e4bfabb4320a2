"""Detached pipeline worker processes: start, stop, status (behind `hubctl processors`).

`start` runs a supervisor (`python -m processors.watchdog`, pid file `supervisor.pid`) that
keeps the workers running and restarts one that dies. Each worker is `python -m
processors.worker` in its own session, with a pid file and a log file under
<data_dir>/processors/<prefix>/. Workers of one topic prefix form one Faust app (one consumer
group) and share the partitions.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hub.config import KAFKA_PIPELINE, Settings
from hub.errors import HubError
from hub.secrets import make_private_dirs
from processors.processes import pid_alive, read_pid, spawn_detached, stop_process_group
from processors.watchdog import WANTED_FILE

SUPERVISOR_PID = "supervisor.pid"
# Folders under a data directory that never hold workers (the broker log, the database).
_NOT_WORKER_DIRS = frozenset(("kafka", "postgres"))

__all__ = [
    "WorkerInfo",
    "start_workers",
    "stop_all_workers",
    "stop_workers",
    "supervisor_pid",
    "worker_dir",
    "workers",
]


@dataclass(frozen=True)
class WorkerInfo:
    """One worker slot: its number, pid (None when not running) and log file."""

    number: int
    pid: int | None
    log_file: Path

    @property
    def running(self) -> bool:
        return self.pid is not None


def worker_dir(settings: Settings) -> Path:
    """Where pid and log files of this prefix's workers live."""
    safe = settings.topic_prefix.rstrip(".").replace("/", "_") or "default"
    return settings.data_dir / "processors" / safe


def workers(settings: Settings) -> list[WorkerInfo]:
    """Every worker slot that has a pid file, running or not."""
    directory = worker_dir(settings)
    out = []
    for pid_file in sorted(directory.glob("worker-*.pid")):
        number = int(pid_file.stem.split("-", 1)[1])
        out.append(WorkerInfo(number, read_pid(pid_file), pid_file.with_suffix(".log")))
    return out


def _environment(settings: Settings, extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # The worker reads the same settings the caller holds, overrides included, and logs in to
    # the broker as the pipeline's own principal rather than the operator's.
    env.update(settings.with_overrides(kafka_user=KAFKA_PIPELINE).as_environment())
    env.update(extra or {})
    return env


def start_workers(
    settings: Settings, count: int, *, env: Mapping[str, str] | None = None, batch: int = 500
) -> list[WorkerInfo]:
    """Make sure a supervisor runs and keeps `count` workers running; all slots after the call.

    A supervisor already running keeps its workers and grows to `count` when it had fewer.
    When a worker does not stay up, everything is stopped and the worker's log is shown.
    """
    if count < 1:
        raise HubError("--workers must be at least 1")
    directory = worker_dir(settings)
    # Worker logs can quote the events they failed on: folders made here are owner only.
    make_private_dirs(directory)
    wanted = directory / WANTED_FILE
    supervisor = supervisor_pid(settings)
    if supervisor is not None:
        count = max(count, _read_count(wanted))
    wanted.write_text(f"{count}\n")
    if supervisor is None:
        argv = [sys.executable, "-m", "processors.watchdog", str(directory), "--batch", str(batch)]
        supervisor = spawn_detached(argv, directory / "supervisor.log", _environment(settings, env))
        (directory / SUPERVISOR_PID).write_text(f"{supervisor}\n")
    try:
        _wait_until_up(settings, supervisor, count)
    except HubError:
        stop_workers(settings, timeout=10)
        raise
    return workers(settings)


def _read_count(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def _wait_until_up(settings: Settings, supervisor: int, count: int, timeout: float = 20.0) -> None:
    """Every slot up to `count` has a running worker, and the same one a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        # By pid alone: a process just forked does not show its own command line yet.
        if not pid_alive(supervisor):
            tail = _tail(worker_dir(settings) / "supervisor.log")
            raise HubError(f"the worker supervisor exited at once; its log ends:\n{tail}")
        pids = {w.number: w.pid for w in workers(settings) if w.number <= count and w.running}
        if len(pids) == count:
            break
        if time.monotonic() > deadline:
            raise HubError(f"only {len(pids)} of {count} workers started within {timeout:.0f}s")
        time.sleep(0.1)
    time.sleep(1.0)
    for info in workers(settings):
        if info.number in pids and info.pid != pids[info.number]:
            tail = _tail(info.log_file)
            raise HubError(f"worker {info.number} exited at once; its log ends:\n{tail}")


def supervisor_pid(settings: Settings) -> int | None:
    """The pid of this prefix's worker supervisor, None when it does not run."""
    return read_pid(worker_dir(settings) / SUPERVISOR_PID, expect="processors.watchdog")


def stop_workers(settings: Settings, *, timeout: float = 30.0) -> list[str]:
    """Stop this prefix's supervisor, then any worker still running (SIGTERM, then SIGKILL)."""
    directory = worker_dir(settings)
    return _stop(directory.glob(SUPERVISOR_PID), directory.glob("worker-*.pid"), timeout)


def stop_all_workers(data_dir: Path, *, timeout: float = 30.0) -> list[str]:
    """Stop the supervisors and workers of every prefix kept under a data directory (the
    demo's included), so that stopping the services never leaves workers retrying against
    nothing."""
    return _stop(
        _pid_files(data_dir, SUPERVISOR_PID), _pid_files(data_dir, "worker-*.pid"), timeout
    )


def _pid_files(data_dir: Path, pattern: str) -> list[Path]:
    """Files named like `pattern` in any processors/<prefix>/ folder under data_dir.

    The broker's and the database's folders are not entered: they hold no workers, and the
    broker deletes topic folders while we look (a folder gone mid-walk is skipped, not fatal).
    """
    found: list[Path] = []
    for root, dirs, files in os.walk(data_dir, onerror=lambda _err: None):
        dirs[:] = [d for d in dirs if d not in _NOT_WORKER_DIRS]
        here = Path(root)
        if here.parent.name == "processors":
            found.extend(here / name for name in files if fnmatch.fnmatch(name, pattern))
    return found


def _stop(supervisors: Iterable[Path], worker_files: Iterable[Path], timeout: float) -> list[str]:
    # Supervisors first, so that none restarts a worker stopped here; each stops its own
    # workers, and the second pass catches workers a SIGKILLed supervisor left behind.
    lines = [_stop_one(f, "processors.watchdog", timeout) for f in sorted(supervisors)]
    lines += [_stop_one(f, "processors.worker", timeout) for f in sorted(worker_files)]
    return [line for line in lines if line] or ["no worker was running"]


def _stop_one(pid_file: Path, expect: str, timeout: float) -> str:
    pid = read_pid(pid_file, expect=expect)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return ""
    stopped = stop_process_group(pid, timeout)
    if stopped or not pid_alive(pid):
        pid_file.unlink(missing_ok=True)
    name = f"{pid_file.parent.name} {pid_file.stem}"
    return f"{name} (pid {pid}) " + ("stopped" if stopped else "did not stop")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
