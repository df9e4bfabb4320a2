"""What the demo shows: figures read from the hub's database, the connectors' reject files and the
police units' inboxes, and the quality of the delivered hits against the generator's labels."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from hub.identity import HUB_OPERATOR_ID
from hub.matching.labelled import Label

OPERATOR = HUB_OPERATOR_ID


@dataclass(frozen=True)
class RejectedRow:
    """One row a connector refused, as its reject file names it."""

    participant_id: str
    file: str
    row: str
    field: str
    reason: str


@dataclass(frozen=True)
class Quality:
    """Delivered hits compared with the true pairs."""

    hits: int
    true_hits: int
    labelled: int

    @property
    def precision(self) -> float | None:
        return self.true_hits / self.hits if self.hits else None

    @property
    def recall(self) -> float | None:
        return self.true_hits / self.labelled if self.labelled else None


@dataclass
class Figures:
    """One snapshot of everything the live summary shows."""

    stored: Counter[tuple[str, str]] = field(default_factory=Counter)  # (publisher, type)
    quarantined: list[tuple[str, str, str, str]] = field(default_factory=list)
    rejected_rows: list[RejectedRow] = field(default_factory=list)
    matches: int | None = None
    notifications: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    participants: int = 0

    def stored_of(self, event_type: str, publisher_prefix: str = "") -> int:
        return sum(n for (pub, typ), n in self.stored.items()
                   if typ == event_type and pub.startswith(publisher_prefix))

    @property
    def partner_events(self) -> int:
        return sum(n for (pub, _), n in self.stored.items() if pub != OPERATOR)


def read_database(dsn: str, figures: Figures) -> None:
    """Stored events per publisher and type, quarantine entries, matches, registered parties."""
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT publisher_id, event_type, count(*) FROM event_store GROUP BY 1, 2"
            ).fetchall()
            figures.stored = Counter({(str(p), str(t)): int(n) for p, t, n in rows})
            figures.quarantined = [
                (str(r), str(p or "-"), str(t or "-"), str(d))
                for r, p, t, d in conn.execute(
                    "SELECT reason, publisher_id, event_type, detail FROM quarantine ORDER BY id"
                ).fetchall()
            ]
            one = conn.execute("SELECT count(*) FROM proj_participants").fetchone()
            figures.participants = int(one[0]) if one else 0
            found = conn.execute("SELECT count(*) FROM proj_matches").fetchone()
            figures.matches = int(found[0]) if found else 0
    except psycopg.Error:
        # The database may be restarting or still being migrated; the next refresh retries.
        return


def read_rejects(root: Path, participant_ids: list[str]) -> list[RejectedRow]:
    """Every row the demo's connectors rejected, from their `<file>.rejects.csv`."""
    out: list[RejectedRow] = []
    for pid in participant_ids:
        for path in sorted((root / pid / "data").glob("*.rejects.csv")):
            try:
                with path.open(encoding="utf-8-sig", newline="") as handle:
                    for row in csv.DictReader(handle):
                        out.append(RejectedRow(pid, path.name.removesuffix(".rejects.csv"),
                                               row.get("row", ""), row.get("field", ""),
                                               row.get("reason", "")))
            except (OSError, csv.Error):
                continue  # being written right now; read again at the next refresh
    return out


def inbox_file(root: Path, participant_id: str) -> Path:
    """Where the demo appends a participant's delivered notifications (JSON Lines)."""
    return root / participant_id / "inbox.jsonl"


def read_inboxes(root: Path, participant_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Delivered notifications per participant (the payload of each line)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for pid in participant_ids:
        notes: list[dict[str, Any]] = []
        try:
            lines = inbox_file(root, pid).read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                body = json.loads(line)
            except ValueError:
                continue  # a line still being written
            payload = body.get("payload") if isinstance(body, dict) else None
            if isinstance(payload, dict):
                notes.append(payload)
        out[pid] = notes
    return out


def hit_of(note: dict[str, Any]) -> tuple[str, str, int | None] | None:
    """(alert id, counterpart id, child index) of a match notification, else None."""
    counterpart = note.get("counterpart")
    alert = note.get("alert_id")
    if not isinstance(counterpart, dict) or not alert or not counterpart.get("id"):
        return None
    child = counterpart.get("child_index")
    return str(alert), str(counterpart["id"]), int(child) if child is not None else None


def quality(notifications: dict[str, list[dict[str, Any]]], labels: list[Label]) -> Quality:
    """Precision of the distinct hits delivered to police units, recall over the labels."""
    hits: set[tuple[str, str, int | None]] = set()
    for pid, notes in notifications.items():
        if not pid.endswith("-police"):
            continue
        for note in notes:
            hit = hit_of(note)
            if hit is not None:
                hits.add(hit)
    truth = {(a, o, c) for a, o, c in labels}
    true_hits = hits & truth
    return Quality(len(hits), len(true_hits), len(truth))
