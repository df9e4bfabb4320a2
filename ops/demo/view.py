"""The demo's summary as rich tables: refreshed live while it runs, printed once at the end."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hub.matching.labelled import Label
from ops.demo.dataset import PROVINCES, BadRow
from ops.demo.figures import OPERATOR, Figures, hit_of, quality

_COLUMNS = (
    ("alerts", "missing-person-alert", "police"),
    ("DNA", "parents-dna-profile", "police"),
    ("records", "migrant-record", "migrant-registry"),
    ("rescues", "rescue-notice", "civil-affairs"),
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def province_table(fig: Figures, expected: dict[tuple[str, str], int]) -> Table:
    """Events stored per type and province (of rows sent), rejects and notifications."""
    table = Table(title="events stored by the hub, per province (stored/rows in files)")
    table.add_column("province")
    for title, _, _ in _COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("rows rejected", justify="right")
    table.add_column("hits to police", justify="right")
    for code, name in PROVINCES.items():
        cells = []
        for _, event_type, dept in _COLUMNS:
            pid = f"{code}-{dept}"
            rows = expected.get((pid, event_type), 0)
            cells.append(f"{fig.stored.get((pid, event_type), 0)}/{rows}")
        rejected = sum(1 for r in fig.rejected_rows if r.participant_id.startswith(code))
        police = f"{code}-police"
        cells += [str(rejected), str(len(fig.notifications.get(police, [])))]
        table.add_row(f"{code} {name}", *cells)
    return table


def problems_table(fig: Figures, bad_rows: list[BadRow]) -> Table:
    """Rows the connectors refused and events the hub quarantined, each with its reason."""
    table = Table(title="rejected, and why", show_lines=False)
    for column in ("where", "who", "what", "reason"):
        table.add_column(column, overflow="fold")
    for row in fig.rejected_rows:
        table.add_row("connector", row.participant_id, f"{row.file} row {row.row} {row.field}",
                      row.reason)
    for reason, publisher, event_type, detail in fig.quarantined:
        table.add_row("hub quarantine", publisher, event_type, f"{reason}: {detail}")
    for bad in bad_rows:
        if bad.expected == "flagged":
            table.add_row("connector", bad.participant_id, f"{bad.kind} {bad.row_id}",
                          f"{bad.defect}: published with its identity-number status flagged, "
                          "not rejected (the hub re-checks it)")
    return table


def hits_table(fig: Figures, labels: list[Label]) -> Table:
    """Matches found, notifications per police unit and their quality against the labels."""
    table = Table(title="matches and notifications")
    table.add_column("police unit")
    table.add_column("notifications", justify="right")
    table.add_column("true hits", justify="right")
    truth = set(labels)
    for code in PROVINCES:
        pid = f"{code}-police"
        notes = [n for n in fig.notifications.get(pid, []) if hit_of(n) is not None]
        true = sum(1 for n in notes if hit_of(n) in truth)
        table.add_row(pid, str(len(notes)), str(true))
    return table


def quality_line(fig: Figures, labels: list[Label]) -> Text:
    """Matches found and the delivered hits' precision and recall, in two lines."""
    others = sum(len(v) for k, v in fig.notifications.items() if not k.endswith("-police"))
    q = quality(fig.notifications, labels)
    return Text(
        f"match-found events stored: {fig.stored_of('match-found', OPERATOR)}; "
        f"matches projected: {'-' if fig.matches is None else fig.matches}; "
        f"notifications to non-police participants: {others}\n"
        f"distinct hits delivered {q.hits}: precision {_pct(q.precision)} "
        f"({q.true_hits}/{q.hits}), recall {_pct(q.recall)} "
        f"({q.true_hits}/{q.labelled} true pairs)\n"
    )


def sampling_line(fig: Figures, labels: list[Label]) -> Text:
    """DNA-sampling requests received by police units, samples returned, children found."""
    asked = [n for notes in fig.notifications.values() for n in notes
             if n.get("kind") == "DNA_SAMPLING_REQUEST"]
    # Counted by request and by (record, place in the list): a household registered again may
    # list a different child at the same place, which the hub asks for on its own.
    requests = {(n.get("record_id"), n.get("child_index")) for n in asked}
    truth = set(labels)
    found = {hit for notes in fig.notifications.values() for n in notes
             if (hit := hit_of(n)) in truth and hit is not None and hit[2] is not None
             and n.get("dna") and (hit[1], hit[2]) in requests}
    return Text(
        f"DNA-sampling requests to the police of residence: "
        f"{len({n.get('request_id') for n in asked})} for {len(requests)} children; samples "
        f"sent back: {fig.stored_of('dna-sample')}; true children found by their sample: "
        f"{len(found)}\n"
    )


def render(stage: str, fig: Figures, expected: dict[tuple[str, str], int],
           bad_rows: list[BadRow], labels: list[Label]) -> Group:
    """The whole summary."""
    parts: list[Any] = [
        Text(stage, style="bold"),
        province_table(fig, expected),
        problems_table(fig, bad_rows),
        hits_table(fig, labels),
        quality_line(fig, labels),
        sampling_line(fig, labels),
    ]
    return Group(*parts)
