"""Labelled documents: what evaluation and training read, whoever produced them.

The generator in the top-level `synthetic` package makes them; a partner's hand-labelled export
could too. Nothing here knows how the documents were drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Payload = dict[str, Any]
# (alert id, record or notice id, child index or None): one true pair.
Label = tuple[str, str, int | None]


@dataclass
class LabelledData:
    """Payload-like dicts plus the true (alert id, record or notice id, child index) pairs."""

    alerts: list[Payload] = field(default_factory=list)
    parents_dna: list[Payload] = field(default_factory=list)
    records: list[Payload] = field(default_factory=list)
    rescues: list[Payload] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    # True pairs whose name was written in a way the matcher must recognise: "given_name_only"
    # (a rescued child gives only a given name) or "sound_alike_surname" (陈 written 晨).
    name_cases: dict[Label, str] = field(default_factory=dict)
