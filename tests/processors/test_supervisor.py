"""Worker pid files: stopping every prefix's workers under a data directory."""

from __future__ import annotations

import sys
from pathlib import Path

from ops.services._proc import pid_alive, spawn_detached
from processors.supervisor import stop_all_workers


def _sleeper(pid_file: Path) -> int:
    # The last argument only puts the worker module's name on the command line, as stop checks.
    argv = [sys.executable, "-c", "import time; time.sleep(60)", "processors.worker"]
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

    def test_says_so_when_none_runs(self, tmp_path: Path) -> None:
        """With no pid file at all, the answer is one plain line."""
        assert stop_all_workers(tmp_path) == ["no worker was running"]
