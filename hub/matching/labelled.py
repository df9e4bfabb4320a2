"""Labelled documents: what evaluation and training read, whoever produced them.

The generator in the top-level `synthetic` package makes them; a partner's hand-labelled export
could too. Nothing here knows how the documents were drawn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
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


def _registered(record: Payload) -> str:
    day = record.get("registered_on")
    return day.isoformat() if isinstance(day, dt.date) else str(day or "")


def latest_records(records: Sequence[Payload]) -> list[Payload]:
    """Each record id's latest registration (a household registered again replaces the
    earlier one, as on the stream), in the order the records came."""
    latest: dict[str, Payload] = {}
    for record in records:
        key = str(record.get("record_id"))
        if key not in latest or _registered(record) >= _registered(latest[key]):
            latest[key] = record
    chosen = {id(r) for r in latest.values()}
    return [r for r in records if id(r) in chosen]


def in_registration_order(records: Iterable[Payload]) -> list[Payload]:
    """Every registration, earliest first (ties by record id)."""
    return sorted(records, key=lambda r: (_registered(r), str(r.get("record_id"))))
