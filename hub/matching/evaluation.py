"""Incremental evaluation against labels: documents arrive one by one, as on the stream."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from hub.errors import MatchingInputError
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record, facts_from_rescue
from hub.matching.blocking import CandidateIndex
from hub.matching.facts import PersonFacts
from hub.matching.features import prepare
from hub.matching.matcher import Decision, Hit, Matcher
from hub.matching.synthetic import Dataset, Label

Pair = tuple[str, str, int | None]


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one set of predicted pairs against the labels."""

    predicted: int
    true_positives: int
    labelled: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.labelled if self.labelled else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self, title: str) -> str:
        return (
            f"{title:<18} precision {self.precision:.3f}  recall {self.recall:.3f}  "
            f"F1 {self.f1:.3f}  (predicted {self.predicted}, correct {self.true_positives}, "
            f"labelled {self.labelled})"
        )


@dataclass
class EvalReport:
    """What an evaluation run found, and how long it took."""

    notify: Scores
    notify_or_review: Scores
    hits: list[Hit] = field(default_factory=list)
    candidates_scored: int = 0
    persons: int = 0
    alerts: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def score_pairs(predicted: Iterable[Pair], labels: Iterable[Label]) -> Scores:
    """Compare predicted pairs with the true ones."""
    truth = set(labels)
    pred = set(predicted)
    return Scores(len(pred), len(pred & truth), len(truth))


def pair_of(hit: Hit) -> Pair:
    return (hit.alert_ref.business_id, hit.record_ref.business_id, hit.record_ref.child_index)


def facts_of(data: Dataset, errors: list[str]) -> list[tuple[str, list[PersonFacts]]]:
    """Every document as ('alert'|'other', persons); a malformed one is reported, not dropped."""
    docs: list[tuple[str, list[PersonFacts]]] = []
    parents = {p.get("alert_id"): p for p in data.parents_dna}
    for kind, payloads in (
        ("alert", data.alerts),
        ("record", data.records),
        ("rescue", data.rescues),
    ):
        for payload in payloads:
            try:
                if kind == "alert":
                    dna = parents.get(payload.get("alert_id"))
                    docs.append(("alert", [facts_from_alert(payload, dna)]))
                elif kind == "record":
                    docs.append(("other", facts_from_migrant_record(payload)))
                else:
                    docs.append(("other", [facts_from_rescue(payload)]))
            except MatchingInputError as err:
                errors.append(str(err))
    return docs


def evaluate(data: Dataset, matcher: Matcher, seed: int = 0) -> EvalReport:
    """Interleave alerts and records in a random arrival order and match each on arrival."""
    errors: list[str] = []
    docs = facts_of(data, errors)
    random.Random(seed).shuffle(docs)
    alerts, others = CandidateIndex(), CandidateIndex()
    hits: list[Hit] = []
    started = time.perf_counter()
    persons = 0
    for kind, people in docs:
        for facts in people:
            persons += 1
            if kind == "alert":
                hits.extend(matcher.match_new_alert(facts, others))
                alerts.add(prepare(facts))
            else:
                hits.extend(matcher.match_new_record(facts, alerts))
                others.add(prepare(facts))
    seconds = time.perf_counter() - started
    notify = [pair_of(h) for h in hits if h.decision is Decision.NOTIFY]
    return EvalReport(
        notify=score_pairs(notify, data.labels),
        notify_or_review=score_pairs((pair_of(h) for h in hits), data.labels),
        hits=hits,
        persons=persons,
        alerts=len(data.alerts),
        errors=errors,
        seconds=seconds,
    )


@dataclass(frozen=True)
class NameCaseEffect:
    """Recall on the true pairs of one name case, with the name rules before issue 17 and now."""

    case: str
    labelled: int
    before: tuple[float, float]  # recall at NOTIFY, at NOTIFY+REVIEW
    after: tuple[float, float]

    def line(self) -> str:
        return (
            f"{self.case:<20} {self.labelled:>4} true pairs: recall NOTIFY "
            f"{self.before[0]:.3f} -> {self.after[0]:.3f}, NOTIFY+REVIEW "
            f"{self.before[1]:.3f} -> {self.after[1]:.3f} (before -> after)"
        )


def _as_before(data: Dataset) -> Dataset:
    """The same documents as a v1 reader saw them: no name kind (every name taken as full)."""
    old = copy.copy(data)
    old.rescues = [copy.deepcopy(r) for r in data.rescues]
    old.records = [copy.deepcopy(r) for r in data.records]
    for doc in (*old.rescues, *old.records):
        doc["person"].pop("name_kind", None)
        for entry in doc.get("children") or []:
            entry["child"].pop("name_kind", None)
    return old


def name_case_effect(
    data: Dataset, matcher: Matcher, after: EvalReport, seed: int = 0
) -> list[NameCaseEffect]:
    """Recall per name case (given name only, sound-alike surname): rules before and after.

    "Before" reads the documents without their name kind and weighs partial name agreements
    as before (no floor at "different"); "after" is the report already computed.
    """
    before = evaluate(_as_before(data), Matcher(matcher.model, matcher.table, False), seed)

    def recall(report: EvalReport, wanted: set[Label]) -> tuple[float, float]:
        notify = {pair_of(h) for h in report.hits if h.decision is Decision.NOTIFY}
        every = {pair_of(h) for h in report.hits}
        n = max(len(wanted), 1)
        return len(notify & wanted) / n, len(every & wanted) / n

    out = []
    for case in sorted(set(data.name_cases.values())):
        wanted = {label for label, c in data.name_cases.items() if c == case}
        out.append(NameCaseEffect(case, len(wanted), recall(before, wanted), recall(after, wanted)))
    return out
