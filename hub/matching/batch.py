"""Batch matching of files: every alert against every record and rescue notice, same engine."""

from __future__ import annotations

import csv
import gc
from dataclasses import dataclass, field
from pathlib import Path

from hub.errors import MatchingInputError
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record, facts_from_rescue
from hub.matching.blocking import CandidateIndex
from hub.matching.document_files import read_documents
from hub.matching.facts import PersonFacts
from hub.matching.features import prepare
from hub.matching.matcher import Matcher, explain
from hub.secrets import open_private_write

PAIR_COLUMNS = (
    "alert_id",
    "other_kind",
    "other_id",
    "child_index",
    "score",
    "decision",
    "dna",
    "explanation",
)


@dataclass
class BatchResult:
    """Counts of a batch run and every input problem, by file and row."""

    alerts: int = 0
    persons: int = 0
    candidates: int = 0
    notify: int = 0
    review: int = 0
    rows_written: int = 0
    # Candidate pairs compared by DNA, and those whose profiles the allele table does not fit.
    dna_compared: int = 0
    dna_unfit: int = 0
    errors: list[str] = field(default_factory=list)


def run_batch(
    matcher: Matcher,
    alerts_path: Path,
    records_path: Path,
    rescues_path: Path | None,
    out_path: Path,
    all_candidates: bool = False,
) -> BatchResult:
    """Index records and notices, search each alert, write one row per pair to `out_path`."""
    result = BatchResult()
    # The index is millions of small objects that live as long as the batch and hold no
    # cycles: the cyclic collector walking them again and again took a fifth of the run.
    collecting = gc.isenabled()
    gc.disable()
    try:
        index = _index(records_path, rescues_path, result)
    finally:
        if collecting:
            gc.enable()
    gc.freeze()
    try:
        _search(matcher, index, alerts_path, out_path, all_candidates, result)
    finally:
        gc.unfreeze()
    return result


def _index(records_path: Path, rescues_path: Path | None, result: BatchResult) -> CandidateIndex:
    index = CandidateIndex()
    for path, kind in ((records_path, "records"), (rescues_path, "rescues")):
        if path is None:
            continue
        read = read_documents(path, kind)
        result.errors.extend(read.errors)
        for payload in read.payloads:
            for person in _persons(kind, payload, result.errors):
                index.add(prepare(person))
                result.persons += 1
    return index


def _search(
    matcher: Matcher,
    index: CandidateIndex,
    alerts_path: Path,
    out_path: Path,
    all_candidates: bool,
    result: BatchResult,
) -> None:
    read = read_documents(alerts_path, "alerts")
    result.errors.extend(read.errors)
    parents = {p.get("alert_id"): p for p in read.parents_dna}
    # The pairs name people on both sides: readable by the operator only.
    with open_private_write(out_path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PAIR_COLUMNS)
        for payload in read.payloads:
            try:
                alert = prepare(facts_from_alert(payload, parents.get(payload.get("alert_id"))))
            except MatchingInputError as err:
                result.errors.append(f"{alerts_path}: {err}")
                continue
            result.alerts += 1
            wanted = matcher.hit_filter(index)
            if all_candidates:
                candidates = index.candidates(alert)
                result.candidates += len(candidates)
            else:
                candidates, found = matcher.worth_scoring(alert, index, alert_side=True)
                result.candidates += found
            for candidate in candidates:
                if not all_candidates and not wanted.may_hit(alert, candidate):
                    continue  # no DNA to count, and no hit: nothing to write
                scored = matcher.score_pair(alert, candidate, index)
                decision = matcher.decide(scored)
                if scored.comparison.kinship is not None:
                    result.dna_compared += 1
                    result.dna_unfit += not scored.comparison.kinship.table_fits
                if decision is None and not all_candidates:
                    continue
                if decision is not None:
                    result.notify += decision.value == "NOTIFY"
                    result.review += decision.value == "REVIEW"
                ref = candidate.facts.ref
                kin = scored.comparison.kinship
                writer.writerow(
                    [
                        alert.facts.ref.business_id,
                        ref.source.value,
                        ref.business_id,
                        "" if ref.child_index is None else ref.child_index,
                        f"{scored.score:.2f}",
                        decision.value if decision else "",
                        kin.conclusion.value if kin else "",
                        " | ".join(explain(scored, decision, matcher.model, matcher)),
                    ]
                )
                result.rows_written += 1


def _persons(kind: str, payload: dict[str, object], errors: list[str]) -> list[PersonFacts]:
    try:
        if kind == "records":
            return facts_from_migrant_record(payload)
        return [facts_from_rescue(payload)]
    except MatchingInputError as err:
        errors.append(f"{kind}: {err}")
        return []
