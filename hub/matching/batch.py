"""Batch matching of files: every alert against every record and rescue notice, same engine.

The alerts are searched in `jobs` shares (alert i in share i mod jobs), each writing its pairs
to a part file in alert order; the parts are then merged into one file in alert order. How the
shares run, one after another or side by side in processes forked after the index is built, is
the caller's choice (`ShareRunner`); the pairs are the same either way.
"""

from __future__ import annotations

import csv
import gc
import heapq
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar

from hub.errors import MatchingInputError
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record, facts_from_rescue
from hub.matching.blocking import CandidateIndex
from hub.matching.document_files import read_documents, stream_documents
from hub.matching.facts import PersonFacts
from hub.matching.features import prepare
from hub.matching.labelled import Payload
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

T = TypeVar("T")
# Runs work(0) .. work(shares - 1) and returns their results in that order.
ShareRunner = Callable[[Callable[[int], T], int], list[T]]


def in_turn(work: Callable[[int], T], shares: int) -> list[T]:
    """Run the shares one after another in this process."""
    return [work(share) for share in range(shares)]


@dataclass
class SearchCounts:
    """What searching alerts found: candidate pairs, hits, rows, DNA comparisons."""

    alerts: int = 0
    candidates: int = 0
    notify: int = 0
    review: int = 0
    rows_written: int = 0
    # Candidate pairs compared by DNA, and those whose profiles the allele table does not fit.
    dna_compared: int = 0
    dna_unfit: int = 0

    def add(self, other: SearchCounts) -> None:
        for counter in fields(SearchCounts):
            setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))


@dataclass
class BatchResult(SearchCounts):
    """Counts of a batch run and every input problem, by file and row."""

    persons: int = 0
    errors: list[str] = field(default_factory=list)
    # Wall seconds of the two steps: reading and indexing the persons, searching the alerts.
    index_seconds: float = field(default=0.0, compare=False)
    search_seconds: float = field(default=0.0, compare=False)


@dataclass
class ShareCounts(SearchCounts):
    """What one share of the alerts found; its problems keyed by alert position for order."""

    errors: list[tuple[int, str]] = field(default_factory=list)


def run_batch(
    matcher: Matcher,
    alerts_path: Path,
    records_path: Path,
    rescues_path: Path | None,
    out_path: Path,
    all_candidates: bool = False,
    jobs: int = 1,
    runner: ShareRunner[ShareCounts] = in_turn,
) -> BatchResult:
    """Index records and notices, search each alert, write one row per pair to `out_path`;
    `runner` runs the `jobs` shares of the search."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    result = BatchResult()
    # The index is millions of small objects that live as long as the batch and hold no
    # cycles: the cyclic collector walking them again and again took a fifth of the run.
    started = time.perf_counter()
    collecting = gc.isenabled()
    gc.disable()
    try:
        index = _index(records_path, rescues_path, result)
    finally:
        if collecting:
            gc.enable()
    result.index_seconds = time.perf_counter() - started
    started = time.perf_counter()
    read = read_documents(alerts_path, "alerts")
    result.errors.extend(read.errors)
    parents = {p.get("alert_id"): p for p in read.parents_dna}
    alerts = read.payloads
    parts = [_part_path(out_path, share) for share in range(jobs)]

    def search_share(share: int) -> ShareCounts:
        return _search(
            matcher, index, alerts, parents, range(share, len(alerts), jobs), parts[share],
            alerts_path, all_candidates,
        )

    # Frozen, the index is never walked by the collector again: a forked share then leaves
    # its pages shared with this process instead of copying them.
    gc.freeze()
    try:
        counts = runner(search_share, jobs)
        _merge(parts, out_path)
    finally:
        gc.unfreeze()
        for part in parts:
            part.unlink(missing_ok=True)
    errors: list[tuple[int, str]] = []
    for share in counts:
        result.add(share)
        errors.extend(share.errors)
    result.errors.extend(message for _, message in sorted(errors))
    result.search_seconds = time.perf_counter() - started
    return result


def _index(records_path: Path, rescues_path: Path | None, result: BatchResult) -> CandidateIndex:
    # Read line by line and indexed in one process: preparing the persons in forked shares
    # was tried, and pickling them back to this process cost as much as preparing them here.
    index = CandidateIndex()
    for path, kind in ((records_path, "records"), (rescues_path, "rescues")):
        if path is None:
            continue
        for payload in stream_documents(path, kind, result.errors):
            for person in _persons(kind, payload, result.errors):
                index.add(prepare(person))
                result.persons += 1
    return index


def _part_path(out_path: Path, share: int) -> Path:
    # Named by this process too: two runs writing the same pairs file keep their parts apart.
    return out_path.with_name(f".{out_path.name}.{os.getpid()}.part{share}")


def _search(
    matcher: Matcher,
    index: CandidateIndex,
    alerts: list[Payload],
    parents: dict[object, Payload],
    positions: range,
    part_path: Path,
    alerts_path: Path,
    all_candidates: bool,
) -> ShareCounts:
    """Search the alerts at `positions`; rows go to `part_path`, each led by its position."""
    counts = ShareCounts()
    # The pairs name people on both sides: readable by the operator only.
    with open_private_write(part_path, newline="") as handle:
        writer = csv.writer(handle)
        for position in positions:
            payload = alerts[position]
            try:
                alert = prepare(facts_from_alert(payload, parents.get(payload.get("alert_id"))))
            except MatchingInputError as err:
                counts.errors.append((position, f"{alerts_path}: {err}"))
                continue
            counts.alerts += 1
            wanted = matcher.hit_filter(index)
            if all_candidates:
                candidates = index.candidates(alert)
                counts.candidates += len(candidates)
            else:
                candidates, found = matcher.worth_scoring(alert, index, alert_side=True)
                counts.candidates += found
            for candidate in candidates:
                if not all_candidates and not wanted.may_hit(alert, candidate):
                    continue  # no DNA to count, and no hit: nothing to write
                scored = matcher.score_pair(alert, candidate, index)
                decision = matcher.decide(scored)
                if scored.comparison.kinship is not None:
                    counts.dna_compared += 1
                    counts.dna_unfit += not scored.comparison.kinship.table_fits
                if decision is None and not all_candidates:
                    continue
                if decision is not None:
                    counts.notify += decision.value == "NOTIFY"
                    counts.review += decision.value == "REVIEW"
                ref = candidate.facts.ref
                kin = scored.comparison.kinship
                writer.writerow(
                    [
                        position,
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
                counts.rows_written += 1
    return counts


def _merge(parts: list[Path], out_path: Path) -> None:
    """One pairs file in alert order from the parts (each already in alert order)."""
    handles = [part.open(encoding="utf-8", newline="") for part in parts]
    try:
        with open_private_write(out_path, newline="") as out:
            writer = csv.writer(out)
            writer.writerow(PAIR_COLUMNS)
            rows: Iterator[list[str]] = heapq.merge(
                *(csv.reader(handle) for handle in handles), key=lambda row: int(row[0])
            )
            for row in rows:
                writer.writerow(row[1:])
    finally:
        for handle in handles:
            handle.close()


def _persons(kind: str, payload: dict[str, object], errors: list[str]) -> list[PersonFacts]:
    try:
        if kind == "records":
            return facts_from_migrant_record(payload)
        return [facts_from_rescue(payload)]
    except MatchingInputError as err:
        errors.append(f"{kind}: {err}")
        return []
