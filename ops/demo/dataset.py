"""The demo's data: the labelled generator's documents, split by the participant that owns them.

Police units publish the alerts (and parents' DNA profiles) of their province, migrant registries
the records of people living in theirs, civil affairs the rescue notices of children placed in
theirs. A few deliberately bad rows are added (with ids starting `DEMO-BAD-`, outside the
labels) so that the connector's per-row rejections show up in the demo.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.identity import check_resident_id
from hub.matching.document_files import write_jsonl
from hub.matching.labelled import in_registration_order
from synthetic import Dataset, Label, Payload, generate
from synthetic.outcomes import outcomes

# GB/T 2260 province codes of the demo's partner provinces, with their names.
PROVINCES: dict[str, str] = {
    "510000": "Sichuan 四川",
    "520000": "Guizhou 贵州",
    "530000": "Yunnan 云南",
    "450000": "Guangxi 广西",
    "410000": "Henan 河南",
    "340000": "Anhui 安徽",
    "320000": "Jiangsu 江苏",
}
DEPARTMENTS = ("police", "migrant-registry", "civil-affairs")
SIZES = {"small": 150, "medium": 600, "large": 3000}

# (file stem, event type, department that publishes it)
KINDS: tuple[tuple[str, str, str], ...] = (
    ("alerts", "missing-person-alert", "police"),
    ("dna", "parents-dna-profile", "police"),
    ("records", "migrant-record", "migrant-registry"),
    ("rescues", "rescue-notice", "civil-affairs"),
)
# What happened afterwards, published once the documents are matched: police close alerts and
# pass on tips, civil affairs follow their rescued persons up.
OUTCOME_KINDS: tuple[tuple[str, str, str], ...] = (
    ("closures", "alert-closed", "police"),
    ("follow_ups", "case-follow-up", "civil-affairs"),
    ("tips", "tip-report", "police"),
)
# The demo's report compares the years since 2017 with 2008-2016 (the data spans both); the
# period runs to the day of the run at least, since the hits happen then.
REPORT_BASELINE = ("2008-01-01", "2016-12-31")
REPORT_PERIOD = ("2017-01-01", "2026-11-30")


def participants() -> list[str]:
    """Every demo participant id, province by province."""
    return [f"{code}-{dept}" for code in PROVINCES for dept in DEPARTMENTS]


def parse_size(text: str) -> int:
    """`small`, `medium`, `large` or a number of generated persons (at least 40)."""
    if text in SIZES:
        return SIZES[text]
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"size must be {', '.join(SIZES)} or a number, got {text!r}") from None
    if value < 40:
        raise ValueError(f"size must be at least 40 persons, got {value}")
    return value


@dataclass(frozen=True)
class BadRow:
    """A row planted on purpose: who publishes it, what is wrong, and what should happen."""

    participant_id: str
    kind: str
    row_id: str
    defect: str
    expected: str  # "rejected" by the connector, or "flagged" (published with a status)


@dataclass
class DemoData:
    """Files per participant, the truth labels and the bad rows planted."""

    files: dict[str, list[tuple[str, Path]]] = field(default_factory=dict)
    rows: dict[tuple[str, str], int] = field(default_factory=dict)  # (participant, type) -> rows
    outcome_files: dict[str, list[tuple[str, Path]]] = field(default_factory=dict)
    outcome_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    tamper_template: Payload = field(default_factory=dict)
    # The generated set: what a lab would type for a child the hub asks to have sampled.
    generated: Dataset | None = None


def _province(code: str) -> str:
    return code[:2] + "0000"


def _owners(data: Dataset) -> dict[str, list[tuple[str, Payload]]]:
    by_kind: dict[str, list[tuple[str, Payload]]] = {k: [] for k, _, _ in KINDS}
    by_kind["alerts"] = [(_province(a["issuing_unit"]), a) for a in data.alerts]
    by_kind["dna"] = [(_province(d["issuing_unit"]), d) for d in data.parents_dna]
    # In registration order: a household registered again replaces its earlier registration.
    by_kind["records"] = [(_province(r["current_address"]["area_code"]), r)
                          for r in in_registration_order(data.records)]
    by_kind["rescues"] = [(_province(s["placement"]["area_code"]), s) for s in data.rescues]
    return by_kind


def _bad_rows(data: Dataset) -> list[tuple[BadRow, Payload]]:
    """Copies of real documents with one defect each (new ids, so labels stay true)."""

    def bad(kind: str, source: Payload, participant: str, n: int, defect: str, expected: str,
            change: Callable[[Payload], None]) -> tuple[BadRow, Payload]:
        row = copy.deepcopy(source)
        id_field = {"alerts": "alert_id", "records": "record_id"}[kind]
        row[id_field] = f"DEMO-BAD-{n}"
        if "issuing_unit" in row:
            row["issuing_unit"] = participant
        change(row)
        return BadRow(participant, kind, f"DEMO-BAD-{n}", defect, expected), row

    def no_alert_id(row: Payload) -> None:
        row["alert_id"] = ""

    def impossible_day(row: Payload) -> None:
        row["moved_in_on"] = "2024-02-30"

    def bad_time(row: Payload) -> None:
        row["last_seen_at"] = "2023-13-01 10:00"

    def bad_check_digit(row: Payload) -> None:
        number = "51010419900101123"
        wrong = "0" if check_resident_id(number + "0").valid else "1"
        row["person"]["id_number"] = number + wrong
        row["person"]["id_number_status"] = "VALID"  # the connector must re-derive it

    alert, record = data.alerts[0], data.records[0]
    return [
        bad("alerts", alert, "510000-police", 1, "required value missing (alert_id empty)",
            "rejected", no_alert_id),
        bad("alerts", alert, "530000-police", 2, "impossible time (month 13)", "rejected",
            bad_time),
        bad("records", record, "320000-migrant-registry", 3, "impossible date (30 February)",
            "rejected", impossible_day),
        bad("records", record, "450000-migrant-registry", 4,
            "identity number with a wrong check digit", "flagged", bad_check_digit),
    ]


def build(directory: Path, size: int, seed: int) -> DemoData:
    """Generate the data set and write one JSON Lines file per participant and kind."""
    data = generate(size, seed)
    out = DemoData(labels=list(data.labels), generated=data)
    by_kind = _owners(data)
    planted = _bad_rows(data)
    known = set(PROVINCES)
    kept_ids: set[str] = set()
    for stem, event_type, dept in KINDS:
        per_participant: dict[str, list[Payload]] = {}
        for province, doc in by_kind[stem]:
            if province not in known:
                continue
            participant = f"{province}-{dept}"
            if "issuing_unit" in doc:
                # The issuing unit is the publisher: notifications go back to it.
                doc = {**doc, "issuing_unit": participant}
            per_participant.setdefault(participant, []).append(doc)
            kept_ids.add(str(doc.get("alert_id") or doc.get("record_id") or doc.get("rescue_id")))
        for row_info, row in planted:
            if row_info.kind == stem:
                per_participant.setdefault(row_info.participant_id, []).append(row)
        for participant, docs in sorted(per_participant.items()):
            path = directory / participant / "data" / f"{stem}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_jsonl(path, docs)
            out.files.setdefault(participant, []).append((event_type, path))
            out.rows[(participant, event_type)] = len(docs)
    out.bad_rows = [info for info, _ in planted]
    _write_outcomes(directory, data, seed, kept_ids, out)
    # Labels whose documents belong to no demo province cannot be found by anyone.
    out.labels = [lab for lab in data.labels if lab[0] in kept_ids and lab[1] in kept_ids]
    template = dict(data.alerts[-1])
    template.update(alert_id="DEMO-TAMPERED-1", issuing_unit="320000-police")
    out.tamper_template = template
    _write_labels(directory / "labels.json", out)
    return out


def _write_outcomes(directory: Path, data: Dataset, seed: int, kept: set[str],
                    out: DemoData) -> None:
    """Closures, follow-ups and tips, each published by the participant that owns its subject."""
    later = outcomes(data, seed)
    rescue_province = {s["rescue_id"]: _province(s["placement"]["area_code"])
                       for s in data.rescues}
    alert_province = {a["alert_id"]: _province(a["issuing_unit"]) for a in data.alerts}
    docs = {
        "closures": [(alert_province[c["alert_id"]], c) for c in later.closures
                     if c["alert_id"] in kept],
        "follow_ups": [(rescue_province[f["rescue_id"]], f) for f in later.follow_ups
                       if f["rescue_id"] in kept],
        "tips": [(_province(t["issuing_unit"]), t) for t in later.tips
                 if _province(t["issuing_unit"]) in PROVINCES],
    }
    for stem, event_type, dept in OUTCOME_KINDS:
        per_participant: dict[str, list[Payload]] = {}
        for province, doc in docs[stem]:
            participant = f"{province}-{dept}"
            per_participant.setdefault(participant, []).append(
                {**doc, "issuing_unit": participant}
            )
        for participant, rows in sorted(per_participant.items()):
            path = directory / participant / "data" / f"{stem}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_jsonl(path, rows)
            out.outcome_files.setdefault(participant, []).append((event_type, path))
            out.outcome_rows[(participant, event_type)] = len(rows)


def _write_labels(path: Path, data: DemoData) -> None:
    body: dict[str, Any] = {
        "labels": [list(lab) for lab in data.labels],
        "bad_rows": [info.__dict__ for info in data.bad_rows],
    }
    path.write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


SAMPLING_REQUEST = "DNA_SAMPLING_REQUEST"


def samples_for(notes: list[dict[str, Any]], data: DemoData, police: str,
                sampled_on: str) -> list[Payload]:
    """The dna-sample rows a police unit sends back for the sampling requests it received:
    each child's profile as the generator's lab would type it."""
    rows: list[Payload] = []
    seen: set[str] = set()
    for note in notes:
        request_id = str(note.get("request_id") or "")
        if note.get("kind") != SAMPLING_REQUEST or not request_id or request_id in seen:
            continue
        seen.add(request_id)
        record_id, index = str(note.get("record_id")), int(note.get("child_index") or 0)
        profile = data.generated.sample_profile(record_id, index) if data.generated else None
        if profile is None:
            continue
        rows.append({"sample_id": f"DNA-{police[:6]}-{len(rows) + 1}", "request_id": request_id,
                     "record_id": record_id, "child_index": index, "str_profile": profile,
                     "sampled_on": sampled_on, "issuing_unit": police})
    return rows
