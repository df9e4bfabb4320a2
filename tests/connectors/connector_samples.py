"""Plain helpers for connector tests: sample files come from connectors.samples."""

from __future__ import annotations

from pathlib import Path

from connectors.samples import HEADER, migrant_row, write_migrant_csv

__all__ = ["HEADER", "migrant_row", "participant_of", "write_migrant_csv"]


def participant_of(config: Path) -> str:
    """The participant id written in a connector configuration."""
    for line in config.read_text(encoding="utf-8").splitlines():
        if line.startswith("participant_id"):
            return line.split('"')[1]
    raise AssertionError("no participant id")
