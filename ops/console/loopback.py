"""Where the console listens: this machine's loopback only."""

from __future__ import annotations

LOOPBACK = "127.0.0.1"


def address(port: int) -> str:
    """Where a console on this machine's loopback answers (its own address, nothing remote)."""
    return f"http://{LOOPBACK}:{port}/"
