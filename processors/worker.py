"""One pipeline worker process: `python -m processors.worker` (started by `hubctl processors`).

Settings come from the HUB_* environment (hub.config); the anchor key from
$HUB_OPERATOR_PUBLIC_KEY or <data_dir>/operator/hub-operator.pub.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence

import faust

from hub.config import load_settings
from hub.errors import HubError
from processors.app import PipelineApp

log = logging.getLogger(__name__)


class _Worker(faust.Worker):
    """A Faust worker that remembers whether it was asked to stop."""

    asked_to_stop = False

    def _on_sigterm(self) -> None:
        _Worker.asked_to_stop = True
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        _Worker.asked_to_stop = True
        super()._on_sigint()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one pipeline worker (verify, store, project, match, route) until asked to stop."""
    parser = argparse.ArgumentParser(prog="python -m processors.worker")
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
    parser.add_argument("--batch", type=int, default=500, help="messages per transaction")
    parser.add_argument("--slot", type=int, help="worker slot number (a stable group member id)")
    args = parser.parse_args(argv)
    while True:
        try:
            pipeline = PipelineApp(load_settings(), batch=args.batch, slot=args.slot)
        except HubError as err:
            print(f"pipeline worker: {err}", file=sys.stderr)
            return 2
        worker = _Worker(pipeline.app, loglevel=args.loglevel, quiet=True)
        try:
            worker.execute_from_commandline()
        except SystemExit:
            pass
        except Exception:
            log.exception("pipeline worker crashed")
        if _Worker.asked_to_stop:
            return 0
        # Stopped without being asked (e.g. the broker went away for long): start afresh, the
        # store's input positions make the new worker continue exactly where this one stopped.
        print("pipeline worker stopped unexpectedly; restarting in 3s", file=sys.stderr)
        time.sleep(3)
        asyncio.set_event_loop(asyncio.new_event_loop())


if __name__ == "__main__":
    sys.exit(main())
