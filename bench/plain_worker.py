"""A pipeline worker speaking plaintext to the security benchmark's own broker (bench only)."""

from __future__ import annotations

import sys

from bench.plaintext import plaintext_clients
from processors.worker import main

if __name__ == "__main__":
    with plaintext_clients():
        sys.exit(main())
