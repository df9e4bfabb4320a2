"""Incremental evaluation against labels: documents arrive one by one, as on the stream."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from hub.errors import MatchingInputError
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record, facts_from_rescue
from hub.matching.blocking import (
    DEFAULT_DNA_LIMIT,
    DEFAULT_DNA_MIN_SHARE,
    CandidateIndex,
)
from hub.matching.comparison import FIELDS, compare_levels
from hub.matching.facts import PersonFacts, PersonRef, SourceKind
from hub.matching.features import Features, prepare
from hub.matching.labelled import Label, LabelledData, latest_records
from hub.matching.matcher import Decision, Hit, Matcher

Pair = tuple[str, str, int | None]
_NAME_FIELDS = ("surname", "given_name", "child_surname", "child_given_name", "latin_name",
                "latin_family", "latin_given", "latin_one_word")


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


KINDS = ("record", "accompanying child", "rescue")
# Why a true pair was not notified: it never became a candidate (no blocking key shared), it
# was scored below REVIEW, or it reached REVIEW only.
MISS_CAUSES = ("never a candidate", "scored below review", "review only")
# The strongest fact a missed true pair still shares, compared directly (whatever its keys):
# what a better rule could yet find it by. "sex and age at most" are pairs no field rule can
# lift (DOMAIN.md: a child of unknown origin is found by a DNA sample, not by its record).
MISS_EVIDENCE = ("DNA", "identity number", "name", "alias", "located mark", "sex and age at most")


def kind_of(pair: Pair, rescue_ids: set[str]) -> str:
    """Which kind of counterpart a pair has: a registered person, a child in a record, a rescue."""
    if pair[1] in rescue_ids:
        return "rescue"
    return "record" if pair[2] is None else "accompanying child"


@dataclass
class EvalReport:
    """What an evaluation run found, and how long it took."""

    notify: Scores
    notify_or_review: Scores
    by_kind: dict[str, Scores] = field(default_factory=dict)
    rescues: int = 0
    # NOTIFY hits that DNA made (alone, or the score would have missed NOTIFY without it).
    dna_notified: int = 0
    dna_notified_false: int = 0
    # Profiles the table did not cover well (counted once per person).
    unfit_profiles: int = 0
    dna_profiles: int = 0
    # Candidate recall: true pairs that became candidates, and DNA-bearing true pairs.
    candidate_recall: float = 0.0
    dna_pairs: int = 0
    dna_pairs_candidates: int = 0
    dna_pairs_notified: int = 0
    dna_candidates_per_search: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    # True pairs missed at NOTIFY, per kind: why (see MISS_CAUSES), how many; and what they
    # still share (see MISS_EVIDENCE).
    misses: dict[str, dict[str, int]] = field(default_factory=dict)
    miss_evidence: dict[str, dict[str, int]] = field(default_factory=dict)
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
    """The (alert, counterpart, child index) a hit pairs, as the labels name true pairs."""
    return (hit.alert_ref.business_id, hit.record_ref.business_id, hit.record_ref.child_index)


def facts_of(data: LabelledData, errors: list[str]) -> list[tuple[str, list[PersonFacts]]]:
    """Every document as ('alert'|'other', persons); a malformed one is reported, not dropped."""
    docs: list[tuple[str, list[PersonFacts]]] = []
    parents = {p.get("alert_id"): p for p in data.parents_dna}
    for kind, payloads in (
        ("alert", data.alerts),
        # A household registered again replaces its earlier registration, as on the stream.
        ("record", latest_records(data.records)),
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


def _has_dna(person: Features) -> bool:
    return bool(person.profile or person.father or person.mother)


def evaluate(
    data: LabelledData,
    matcher: Matcher,
    seed: int = 0,
    dna_limit: int | None = DEFAULT_DNA_LIMIT,
    dna_min_share: float = DEFAULT_DNA_MIN_SHARE,
    without_dna: bool = False,
) -> EvalReport:
    """Interleave alerts and records in a random arrival order and match each on arrival.

    `dna_limit` and `dna_min_share` bound DNA candidates per search (None and 0: no bound);
    `without_dna` drops every STR profile (what the other facts find on their own).
    """
    errors: list[str] = []
    docs = facts_of(data, errors)
    if without_dna:
        docs = [
            (kind, [replace(p, str_profile=None, father_profile=None, mother_profile=None)
                    for p in people])
            for kind, people in docs
        ]
    random.Random(seed).shuffle(docs)
    alerts = CandidateIndex(dna_limit=dna_limit, dna_min_share=dna_min_share)
    others = CandidateIndex(dna_limit=dna_limit, dna_min_share=dna_min_share)
    hits: list[Hit] = []
    candidates: set[Pair] = set()
    dna_searches = dna_candidates = 0
    unfit: set[PersonRef] = set()
    with_dna: set[PersonRef] = set()
    prepared: dict[PersonRef, Features] = {}
    started = time.perf_counter()
    persons = 0
    for kind, people in docs:
        for facts in people:
            persons += 1
            probe = prepare(facts)
            prepared[facts.ref] = probe
            index = others if kind == "alert" else alerts
            found = index.candidates(probe)
            if _has_dna(probe):
                with_dna.add(facts.ref)
                dna_searches += 1
                dna_candidates += index.last_dna_candidates
            for other in found:
                a, b = (probe, other) if kind == "alert" else (other, probe)
                candidates.add(_pair(a, b))
            for hit in matcher.hits_among(probe, found, index, alert_side=kind == "alert"):
                hits.append(hit)
                if hit.kinship is not None and not hit.kinship.table_fits:
                    unfit.add(hit.alert_ref)
                    unfit.add(hit.record_ref)
            if kind == "alert":
                alerts.add(probe)
            else:
                others.add(probe)
    seconds = time.perf_counter() - started
    notify_hits = [h for h in hits if h.decision is Decision.NOTIFY]
    notify = [pair_of(h) for h in notify_hits]
    truth = set(data.labels)
    rescue_ids = {r.business_id for r in prepared if r.source is SourceKind.RESCUE}
    by_kind = {
        kind: score_pairs(
            (p for p in notify if kind_of(p, rescue_ids) == kind),
            (t for t in truth if kind_of(t, rescue_ids) == kind),
        )
        for kind in KINDS
    }
    reviewed = {pair_of(h) for h in hits}
    misses = {kind: dict.fromkeys(MISS_CAUSES, 0) for kind in KINDS}
    miss_evidence = {kind: dict.fromkeys(MISS_EVIDENCE, 0) for kind in KINDS}
    by_id = {(r.business_id, r.child_index): f for r, f in prepared.items()}
    for missed in truth - set(notify):
        cause = (MISS_CAUSES[0] if missed not in candidates
                 else MISS_CAUSES[2] if missed in reviewed else MISS_CAUSES[1])
        misses[kind_of(missed, rescue_ids)][cause] += 1
        sought, found_as = by_id.get((missed[0], None)), by_id.get((missed[1], missed[2]))
        if sought is not None and found_as is not None:
            miss_evidence[kind_of(missed, rescue_ids)][shared_evidence(sought, found_as)] += 1
    dna_made = [h for h in notify_hits if _dna_made(h, matcher)]
    dna_truth = [t for t in truth if _label_has_dna(t, by_id)]
    # Unfit profiles: every DNA-bearing person whose profile the chosen table covers badly.
    unfit_count = sum(1 for ref in with_dna if not _fits(prepared[ref], matcher))
    return EvalReport(
        notify=score_pairs(notify, data.labels),
        notify_or_review=score_pairs((pair_of(h) for h in hits), data.labels),
        by_kind=by_kind,
        rescues=len(data.rescues),
        dna_notified=len(dna_made),
        dna_notified_false=sum(1 for h in dna_made if pair_of(h) not in truth),
        unfit_profiles=unfit_count,
        dna_profiles=len(with_dna),
        candidate_recall=len(candidates & truth) / len(truth) if truth else 0.0,
        dna_pairs=len(dna_truth),
        dna_pairs_candidates=sum(1 for t in dna_truth if t in candidates),
        dna_pairs_notified=len(set(dna_truth) & set(notify)),
        dna_candidates_per_search=dna_candidates / dna_searches if dna_searches else 0.0,
        hits=hits,
        misses=misses,
        miss_evidence=miss_evidence,
        persons=persons,
        alerts=len(data.alerts),
        errors=errors,
        seconds=seconds,
    )


def shared_evidence(alert: Features, other: Features) -> str:
    """The strongest of MISS_EVIDENCE the two persons share, by their field levels."""
    if other.profile and (alert.father or alert.mother or alert.profile):
        return "DNA"
    levels = compare_levels(alert, other)

    def agrees(field: str) -> bool:
        level = levels.get(field)
        # Every level but a field's last ("different", "none") is some agreement.
        return level is not None and level < len(FIELDS[field]) - 1

    if agrees("id_number"):
        return "identity number"
    if any(agrees(f) for f in _NAME_FIELDS):
        return "name"
    if agrees("other_names"):
        return "alias"
    if levels.get("marks") == 0:
        return "located mark"
    return MISS_EVIDENCE[-1]


def _pair(alert: Features, other: Features) -> Pair:
    ref = other.facts.ref
    return (alert.facts.ref.business_id, ref.business_id, ref.child_index)


def _dna_made(hit: Hit, matcher: Matcher) -> bool:
    """A NOTIFY that DNA decided: the score without the DNA bits is below NOTIFY."""
    if hit.kinship is None:
        return False
    dna = next((line for line in hit.explanation if line.startswith("DNA ")), None)
    if dna is None:
        return False
    bits = float(dna.rsplit(" ", 1)[-1])
    return bits > 0 and hit.score - bits < matcher.model.thresholds.notify


def _label_has_dna(label: Label, by_id: dict[tuple[str, int | None], Features]) -> bool:
    alert, other = by_id.get((label[0], None)), by_id.get((label[1], label[2]))
    return (
        alert is not None
        and other is not None
        and bool(alert.father or alert.mother)
        and bool(other.profile)
    )


def _fits(person: Features, matcher: Matcher) -> bool:
    for profile, origin in (
        (person.profile, person.dna_origin),
        (person.father, person.parents_dna_origin),
        (person.mother, person.parents_dna_origin),
    ):
        if profile and not matcher.tables.choose(origin).coverage(profile).fits:
            return False
    return True


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


def _as_before(data: LabelledData) -> LabelledData:
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
    data: LabelledData, matcher: Matcher, after: EvalReport, seed: int = 0
) -> list[NameCaseEffect]:
    """Recall per name case (given name only, sound-alike surname): rules before and after.

    "Before" reads the documents without their name kind and weighs partial name agreements
    as before (no floor at "different"); "after" is the report already computed.
    """
    before = evaluate(_as_before(data), Matcher(matcher.model, matcher.tables, False), seed)

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
