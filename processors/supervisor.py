"""Detached pipeline worker processes: start, stop, status (behind `hubctl processors`).

Each worker is `python -m processors.worker` in its own session, with a pid file and a log file
under <data_dir>/processors/. Workers of one topic prefix form one Faust app (one consumer
group) and share the partitions.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hub.config import KAFKA_PIPELINE, Settings
from hub.errors import HubError
from hub.secrets import make_private_dirs
from ops.services._proc import pid_alive, read_pid, spawn_detached, stop_process_group

__all__ = [
    "WorkerInfo",
    "start_workers",
    "stop_all_workers",
    "stop_workers",
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


def _pid_file(settings: Settings, number: int) -> Path:
    return worker_dir(settings) / f"worker-{number}.pid"


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
    """Make sure `count` workers run (starting the missing ones); all slots after the call."""
    if count < 1:
        raise HubError("--workers must be at least 1")
    # Worker logs can quote the events they failed on: folders made here are owner only.
    make_private_dirs(worker_dir(settings))
    for number in range(1, count + 1):
        pid_file = _pid_file(settings, number)
        if read_pid(pid_file) is not None:
            continue
        argv = [sys.executable, "-m", "processors.worker", "--batch", str(batch)]
        pid = spawn_detached(argv, pid_file.with_suffix(".log"), _environment(settings, env))
        pid_file.write_text(f"{pid}\n")
    time.sleep(0.5)
    failed = [w for w in workers(settings) if w.number <= count and not w.running]
    if failed:
        tail = _tail(failed[0].log_file)
        raise HubError(f"worker {failed[0].number} exited at once; its log ends:\n{tail}")
    return workers(settings)


def stop_workers(settings: Settings, *, timeout: float = 30.0) -> list[str]:
    """Stop every running worker of this prefix (SIGTERM, then SIGKILL after timeout)."""
    return _stop(sorted(worker_dir(settings).glob("worker-*.pid")), timeout)


def stop_all_workers(data_dir: Path, *, timeout: float = 30.0) -> list[str]:
    """Stop the workers of every prefix kept under a data directory (the demo's included),
    so that stopping the services never leaves workers retrying against nothing."""
    return _stop(sorted(data_dir.rglob("processors/*/worker-*.pid")), timeout)


def _stop(pid_files: list[Path], timeout: float) -> list[str]:
    lines = []
    for pid_file in pid_files:
        pid = read_pid(pid_file)
        if pid is None:
            pid_file.unlink(missing_ok=True)
            continue
        stopped = stop_process_group(pid, timeout)
        name = f"{pid_file.parent.name} {pid_file.stem}"
        lines.append(f"{name} (pid {pid}) " + ("stopped" if stopped else "did not stop"))
        if stopped or not pid_alive(pid):
            pid_file.unlink(missing_ok=True)
    return lines or ["no worker was running"]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
