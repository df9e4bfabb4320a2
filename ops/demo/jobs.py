"""Real command-line processes run by the demo, a few at a time, each with its own log file."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ops.errors import DemoError


@dataclass
class Job:
    """One command: what it is for, its argv, environment and log file."""

    label: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    ok_codes: tuple[int, ...] = (0,)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    returncode: int | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(("$ " + " ".join(self.argv) + "\n").encode())
            out.flush()
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def poll(self) -> bool:
        """True once the process has exited (its code is then in `returncode`)."""
        if self.process is None:
            return False
        if self.returncode is None and self.process.poll() is not None:
            self.returncode = self.process.returncode
        return self.returncode is not None

    @property
    def failed(self) -> bool:
        return self.returncode is not None and self.returncode not in self.ok_codes

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def failure(self) -> str:
        tail = "\n".join(self.output().splitlines()[-8:])
        return f"{self.label} exited with {self.returncode} (log {self.log}):\n{tail}"


def run_all(
    jobs: Sequence[Job],
    *,
    parallel: int,
    tick: Callable[[], None] = lambda: None,
    timeout_s: float = 900.0,
    keep_going: bool = False,
) -> list[Job]:
    """Run the jobs, at most `parallel` at once, calling `tick` between polls.

    Returns the failed jobs. Without `keep_going` the first failure stops the rest (those
    running are waited for, none is started) and raises DemoError.
    """
    waiting = list(jobs)
    running: list[Job] = []
    failed: list[Job] = []
    deadline = time.monotonic() + timeout_s
    while waiting or running:
        while waiting and len(running) < parallel and (keep_going or not failed):
            job = waiting.pop(0)
            job.start()
            running.append(job)
        if not running:
            break
        time.sleep(0.25)
        for job in [j for j in running if j.poll()]:
            running.remove(job)
            if job.failed:
                failed.append(job)
        tick()
        if time.monotonic() > deadline:
            for job in running:
                if job.process is not None:
                    job.process.kill()
            raise DemoError(
                f"gave up after {timeout_s:.0f}s: still running "
                + ", ".join(j.label for j in running)
            )
    if failed and not keep_going:
        raise DemoError(failed[0].failure())
    return failed
