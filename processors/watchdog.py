"""The supervisor process: `python -m processors.watchdog <worker dir>` keeps the workers up.

Started detached by `hubctl processors start` (processors.supervisor.start_workers). It runs
worker slots 1..N (N read from `workers.wanted` on every round, so a later start with more
workers grows the set) and starts again any worker that died without the supervisor stopping
it. A worker that keeps dying soon after its start is restarted after a growing pause, so a
broken setup is not restarted in a tight loop. On SIGTERM it stops every worker, then exits.

Each worker runs in its own session with its own pid file, as before: a supervisor that was
SIGKILLed leaves running workers behind, and the next supervisor adopts them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from processors.processes import pid_alive, read_pid, spawn_detached

log = logging.getLogger("processors.watchdog")

__all__ = ["QUICK_DEATH", "WANTED_FILE", "WORKER_MODULE", "Slot", "Watchdog", "restart_delay"]

WANTED_FILE = "workers.wanted"
WORKER_MODULE = "processors.worker"
QUICK_DEATH = 10.0  # a worker that dies sooner than this after its start counts as failing
MAX_DELAY = 60.0
ROUND = 0.5  # how often the supervisor looks at its workers
STOP_TIMEOUT = 25.0  # below the 30 s `processors stop` gives the supervisor itself


def restart_delay(quick_deaths: int) -> float:
    """Seconds to wait before a restart, after this many deaths in a row soon after start."""
    if quick_deaths <= 0:
        return 0.0  # a worker that ran for a while and died is restarted at once
    return min(2.0 ** (quick_deaths - 1), MAX_DELAY)


@dataclass
class Slot:
    """One worker slot as the supervisor sees it."""

    number: int
    pid: int | None = None
    started: float = 0.0
    quick_deaths: int = 0
    start_at: float = 0.0  # monotonic time before which no restart is tried


class Watchdog:
    """Keeps the worker slots of one worker directory running until SIGTERM."""

    def __init__(self, directory: Path, command: Sequence[str]) -> None:
        self.directory = directory
        self.command = list(command)  # a worker's argv; its slot number is appended
        self.slots: dict[int, Slot] = {}
        self.stopping = False

    def pid_file(self, number: int) -> Path:
        return self.directory / f"worker-{number}.pid"

    def wanted(self) -> int:
        try:
            return int((self.directory / WANTED_FILE).read_text().strip())
        except (OSError, ValueError):
            return len(self.slots)

    def run(self) -> int:
        """The supervisor process's life: tend the slots until SIGTERM, then stop them."""
        signal.signal(signal.SIGTERM, self._ask_to_stop)
        signal.signal(signal.SIGINT, self._ask_to_stop)
        self.loop()
        return 0

    def loop(self) -> None:
        """Tend every wanted slot each round until `stopping` is set, then stop the workers."""
        log.info("supervisor %d watches %s", os.getpid(), self.directory)
        while not self.stopping:
            for number in range(1, self.wanted() + 1):
                if number not in self.slots:
                    self.slots[number] = self._adopt(number)
                self.tend(self.slots[number])
            time.sleep(ROUND)
        self.stop_all()
        log.info("supervisor %d stopped", os.getpid())

    def _ask_to_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _adopt(self, number: int) -> Slot:
        # A worker left running by a previous supervisor is kept, not started twice.
        pid = read_pid(self.pid_file(number), expect=WORKER_MODULE)
        return Slot(number, pid, time.monotonic())

    def tend(self, slot: Slot) -> None:
        """Start the slot's worker when it is not running and its pause is over."""
        now = time.monotonic()
        if slot.pid is not None:
            code = _exit_code(slot.pid)
            if code is None:
                return
            lived = now - slot.started
            slot.quick_deaths = slot.quick_deaths + 1 if lived < QUICK_DEATH else 0
            delay = restart_delay(slot.quick_deaths)
            slot.start_at = now + delay
            why = (
                f"; it died within {QUICK_DEATH:.0f}s of its start {slot.quick_deaths} "
                "time(s) in a row, so it is restarted after a pause"
                if slot.quick_deaths
                else ""
            )
            log.warning(
                "worker %d (pid %d) died without being asked to stop (%s) after %.1fs; "
                "restarting %s%s",
                slot.number,
                slot.pid,
                code,
                lived,
                f"in {delay:.0f}s" if delay else "now",
                why,
            )
            slot.pid = None
        if now < slot.start_at or self.stopping:
            return
        argv = [*self.command, "--slot", str(slot.number)]
        pid_file = self.pid_file(slot.number)
        slot.pid = spawn_detached(argv, pid_file.with_suffix(".log"), os.environ)
        slot.started = time.monotonic()
        pid_file.write_text(f"{slot.pid}\n")
        log.info("worker %d started, pid %d", slot.number, slot.pid)

    def stop_all(self) -> None:
        """SIGTERM every worker's process group, SIGKILL what still runs after a timeout."""
        running = [s.pid for s in self.slots.values() if s.pid is not None]
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and any(_exit_code(p) is None for p in running):
            time.sleep(0.2)
        for pid in running:
            if _exit_code(pid) is None:
                log.warning("worker pid %d did not stop within %.0fs: SIGKILL", pid, STOP_TIMEOUT)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        for slot in self.slots.values():
            self.pid_file(slot.number).unlink(missing_ok=True)


def _exit_code(pid: int) -> str | None:
    """None while `pid` runs; else how it ended ('exit 1', 'signal 9', or 'gone' when it
    was not our child, e.g. adopted from a previous supervisor)."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None if pid_alive(pid) else "gone"
    if done == 0:
        return None
    code = os.waitstatus_to_exitcode(status)
    return f"signal {-code}" if code < 0 else f"exit {code}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the worker of `directory` and start it again whenever it exits unasked."""
    parser = argparse.ArgumentParser(prog="python -m processors.watchdog")
    parser.add_argument("directory", type=Path, help="the worker directory (pid and log files)")
    parser.add_argument("--batch", type=int, default=500, help="messages per transaction")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    command = [sys.executable, "-m", WORKER_MODULE, "--batch", str(args.batch)]
    return Watchdog(args.directory, command).run()


if __name__ == "__main__":
    sys.exit(main())
