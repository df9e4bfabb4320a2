"""One pipeline worker process: `python -m processors.worker` (started by `hubctl processors`).

Settings come from the HUB_* environment (hub.config); the anchor key from
$HUB_OPERATOR_PUBLIC_KEY or <data_dir>/operator/hub-operator.pub.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import faust

from hub.config import load_settings
from hub.errors import HubError
from processors.app import PipelineApp


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processors.worker")
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning"])
    parser.add_argument("--batch", type=int, default=500, help="messages per transaction")
    args = parser.parse_args(argv)
    try:
        pipeline = PipelineApp(load_settings(), batch=args.batch)
    except HubError as err:
        print(f"pipeline worker: {err}", file=sys.stderr)
        return 2
    worker = faust.Worker(pipeline.app, loglevel=args.loglevel, quiet=True)
    worker.execute_from_commandline()  # returns only when the worker is stopped
    return 0


if __name__ == "__main__":
    sys.exit(main())
