"""`python -m bench`: the same as `hubctl bench` (run from the project root)."""

from __future__ import annotations

import sys

from ops.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
