"""The matcher: candidates from the index, Fellegi-Sunter score, decision, explanation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hub.matching import columns
from hub.matching.blocking import CandidateIndex
from hub.matching.columns import BoundWeights
from hub.matching.comparison import (
    CHILD_NAMES,
    FIELDS,
    PairComparison,
    birth_level,
    compare,
    core_levels,
    id_level,
    name_levels,
    province_level,
    rest_levels,
    rest_present,
)
from hub.matching.facts import PersonFacts, PersonRef, Sex, SourceKind
from hub.matching.features import Features, NameForms, prepare
from hub.matching.kinship import (
    STRONG_LOCI,
    SUPPORT_CPI,
    AlleleTable,
    Conclusion,
    KinshipKind,
    KinshipResult,
    TableSet,
)
from hub.matching.model import FellegiSunterModel

# A likelihood ratio is itself a Bayes factor, so DNA weighs log2(CPI) bits; capped so that one
# lab result cannot drown every other fact, and so that exclusion stays finite.
_DNA_MAX_BITS = 40.0
_DNA_MIN_BITS = -30.0
# DNA that may not decide alone (a table that does not fit the profiles, a duo with an
# inconsistent locus) weighs at most this: other facts must bring the rest of the score.
DNA_NOT_ALONE_MAX_BITS = 6.0
# Name-frequency adjustment needs a population large enough to say what is common.
_TF_MIN_POPULATION = 500
_TF_MAX_BITS = 6.0


class NamePopulation(Protocol):
    """What weighing a pair reads of the persons searched; a CandidateIndex is one, and the
    streaming matcher passes counts kept in its database."""

    @property
    def given_counts(self) -> Mapping[str, int]: ...

    @property
    def surname_counts(self) -> Mapping[str, int]: ...

    @property
    def named(self) -> int:
        """Persons with a Chinese name."""

    def __len__(self) -> int:
        """Every person searched."""


class Decision(StrEnum):
    """NOTIFY: tell the police at once. REVIEW: put on the operators' review list."""

    NOTIFY = "NOTIFY"
    REVIEW = "REVIEW"


@dataclass(frozen=True)
class Hit:
    """A candidate pair worth telling someone about, with the evidence spelled out."""

    alert_ref: PersonRef
    record_ref: PersonRef
    score: float
    decision: Decision
    explanation: tuple[str, ...]
    kinship: KinshipResult | None


@dataclass(frozen=True)
class ScoredPair:
    """A compared pair, its total score and what each field contributed."""

    alert: Features
    other: Features
    comparison: PairComparison
    contributions: dict[str, float]
    score: float
    # DNA profiles searched (the bar for DNA alone rises with it); 0 when not known.
    dna_searched: int = 0
    notes: tuple[str, ...] = ()


def _dna_to_weigh(a: Features, b: Features) -> bool:
    """The pair has profiles that `comparison.kinship_of` compares (parents' and a child's,
    or two persons' own)."""
    if a.profile and b.profile:
        return True
    return bool((b.profile and (a.father or a.mother)) or (a.profile and (b.father or b.mother)))


def _weak_dna(kin: KinshipResult) -> str | None:
    """Why a parentage index, however high, is not evidence enough to lean on: forensic
    practice calls 2,000-10,000 inconclusive, and a duo (one parent) with an inconsistent locus
    or over fewer than 15 loci is what unrelated pairs reach by chance in a large database."""
    if kin.kind is KinshipKind.IDENTITY:
        return None
    if kin.conclusion is Conclusion.INCONCLUSIVE:
        return "inconclusive parentage index"
    if kin.kind is KinshipKind.DUO and kin.inconsistent_loci:
        return "duo with inconsistent loci"
    if kin.kind is KinshipKind.DUO and kin.loci_compared < STRONG_LOCI:
        return f"duo over {kin.loci_compared} loci (fewer than {STRONG_LOCI})"
    return None


class Matcher:
    """Scores candidate pairs; both search directions share the same comparison and weights."""

    def __init__(
        self,
        model: FellegiSunterModel | None = None,
        table: AlleleTable | TableSet | None = None,
        partial_floor: bool = True,
    ) -> None:
        self.model = model or FellegiSunterModel.default()
        if isinstance(table, TableSet):
            self.tables = table
        else:
            self.tables = TableSet.single(table or AlleleTable.load())
        # False restores the weighing of partial name agreements before issue 17 (frequency
        # adjustment could push a sound-alike surname below "different", and set its rare u
        # against the sound's whole frequency); only for measuring.
        self.partial_floor = partial_floor
        self._plain_of: tuple[FellegiSunterModel, dict[str, tuple[float, ...]]] | None = None
        self._best_of: tuple[FellegiSunterModel, dict[str, float]] | None = None

    @property
    def _plain_weights(self) -> dict[str, tuple[float, ...]]:
        """Every field's level weights without frequency adjustment (for the current model)."""
        if self._plain_of is None or self._plain_of[0] is not self.model:
            model = self.model
            weights = {f: tuple(model.weight(f, i) for i in range(len(FIELDS[f]))) for f in FIELDS}
            self._plain_of = (model, weights)
        return self._plain_of[1]

    @property
    def _best_weights(self) -> dict[str, float]:
        """The most (at least 0) each field can add to a score, "latin" for any Latin name."""
        if self._best_of is None or self._best_of[0] is not self.model:
            model = self.model

            def best(field: str) -> float:
                top = max(model.weight(field, level) for level in range(len(FIELDS[field])))
                if field in model.tf_fields:
                    top = max(top, model.weight(field, 0) + _TF_MAX_BITS)
                return max(0.0, top)

            weights = {f: best(f) for f in FIELDS}
            weights["latin"] = max(
                weights["latin_name"],
                weights["latin_one_word"],
                weights["latin_family"] + weights["latin_given"] + weights["latin_middle"],
            )
            self._best_of = (model, weights)
        return self._best_of[1]

    @property
    def table(self) -> AlleleTable:
        """The default allele table (profiles without a better one use it)."""
        return self.tables.default

    def match_new_alert(self, alert_facts: PersonFacts, index: CandidateIndex) -> list[Hit]:
        """Search a new or updated alert against every stored record and rescue notice."""
        alert = prepare(alert_facts)
        return self._hits(alert, index, alert_side=True)

    def match_new_record(self, record_facts: PersonFacts, index: CandidateIndex) -> list[Hit]:
        """Search one person of a record or rescue notice against the open alerts."""
        person = prepare(record_facts)
        return self._hits(person, index, alert_side=False)

    def _hits(self, probe: Features, index: CandidateIndex, alert_side: bool) -> list[Hit]:
        worth, _ = self.worth_scoring(probe, index, alert_side)
        return self.hits_among(probe, worth, index, alert_side)

    def worth_scoring(
        self, probe: Features, index: CandidateIndex, alert_side: bool
    ) -> tuple[list[Features], int]:
        """The probe's candidates (of the other side) that may make a hit, and how many
        candidates there were. Those whose score cannot reach review are dropped in one
        vectorised pass; the rest still need the exact filter (`hit_filter`) and full scoring."""
        slots = index.candidate_slots(probe)
        weights = self.bound_weights(probe, index)
        keep = columns.passing(index.columns, slots, index.columns.probe_row(probe), weights,
                               alert_side)
        return index.at_slots(slots[keep]), len(slots)

    def bound_weights(self, probe: Features, population: NamePopulation | None) -> BoundWeights:
        """The weights `columns.passing` bounds the probe's pairs with. Han names agreeing
        (exact or pinyin) have the probe's own value, so their frequency-adjusted weight is
        exact; a fuzzy given name and Latin names count the best they could weigh."""
        model = self.model
        plain = self._plain_weights
        han_probe = probe.name is not None and probe.name.han

        def han(field: str) -> tuple[float, ...]:
            if not han_probe:
                return plain[field]  # not read: only a Han probe's names are compared there
            levels = len(FIELDS[field])
            out = [self._field_weight(field, level, probe, population) for level in (0, 1)]
            last = model.weight(field, levels - 1)
            for level in range(2, levels - 1):
                weight = model.weight(field, level)
                out.append(max(weight, last + 0.5) if self.partial_floor else weight)
            return (*out, last)

        return BoundWeights(
            id_number=plain["id_number"],
            surname=(han("surname"), han("child_surname")),
            given_name=(han("given_name"), han("child_given_name")),
            birth=plain["birth"],
            sex=plain["sex"],
            province=plain["province"],
            rest=self._best_weights,
            base=self._population_bits(population) + _BOUND_SLACK,
            review=model.thresholds.review,
        )

    def hits_among(
        self,
        probe: Features,
        candidates: list[Features],
        population: NamePopulation | None,
        alert_side: bool,
    ) -> list[Hit]:
        """Score the probe against given candidates (of the other side); hits best first."""
        hits = []
        wanted = self.hit_filter(population)
        for candidate in candidates:
            alert, other = (probe, candidate) if alert_side else (candidate, probe)
            if alert.facts.source is not SourceKind.ALERT or other.facts.source is SourceKind.ALERT:
                continue
            if not wanted.may_hit(alert, other):
                continue
            hit = self.to_hit(self.score_pair(alert, other, population))
            if hit is not None:
                hits.append(hit)
        hits.sort(key=lambda h: -h.score)
        return hits

    def hit_filter(self, population: NamePopulation | None) -> HitFilter:
        """A filter of the candidates of one search among `population` (unchanged meanwhile)."""
        return HitFilter(self, population)

    def _population_bits(self, population: NamePopulation | None) -> float:
        if population is None or len(population) <= self.model.reference_population:
            return 0.0
        # The prior odds of a true match fall as 1/N: among ten times as many people, a
        # coincidence as good as this one is ten times likelier, so the same evidence
        # counts log2(10) bits less and false hits per search stay level as data grows.
        return -math.log2(len(population) / self.model.reference_population)

    def score_pair(
        self, alert: Features, other: Features, population: NamePopulation | None = None
    ) -> ScoredPair:
        """Compare and weigh one pair; `population` supplies name frequencies if given."""
        comparison = compare(alert, other, self.tables)
        contributions: dict[str, float] = {}
        notes: list[str] = []
        for field, level in comparison.levels.items():
            if level is None:
                continue
            contributions[field] = self._field_weight(field, level, alert, population)
        kin = comparison.kinship
        if kin is not None:
            bits = max(_DNA_MIN_BITS, min(_DNA_MAX_BITS, kin.log2_lr))
            if not kin.table_fits:
                notes.extend(c.describe() for c in kin.coverage if not c.fits)
                if bits > DNA_NOT_ALONE_MAX_BITS:
                    notes.append(
                        f"the allele table does not fit: DNA counted at most "
                        f"{DNA_NOT_ALONE_MAX_BITS:+.1f}, cannot notify on DNA alone"
                    )
                bits = min(bits, DNA_NOT_ALONE_MAX_BITS)
            elif (weak := _weak_dna(kin)) and bits > DNA_NOT_ALONE_MAX_BITS:
                notes.append(
                    f"{weak}: DNA counted at most {DNA_NOT_ALONE_MAX_BITS:+.1f}, "
                    "cannot notify on DNA alone"
                )
                bits = DNA_NOT_ALONE_MAX_BITS
            contributions["dna"] = bits
        searched = 0
        if population is not None:
            searched = int(getattr(population, "dna_profiles", len(population)))
        if population is not None and len(population) > self.model.reference_population:
            contributions["population"] = self._population_bits(population)
        return ScoredPair(
            alert,
            other,
            comparison,
            contributions,
            sum(contributions.values()),
            searched,
            tuple(notes),
        )

    def dna_bar(self, searched: int) -> float:
        """CPI that DNA alone must reach: 10,000 for `reference_population` profiles searched,
        and proportionally more beyond (chance hits grow with the profiles searched)."""
        return SUPPORT_CPI * max(1.0, searched / self.model.reference_population)

    def dna_decides(self, scored: ScoredPair) -> bool:
        """The DNA result alone is enough to notify."""
        kin = scored.comparison.kinship
        return kin is not None and kin.strong and kin.cpi >= self.dna_bar(scored.dna_searched)

    @staticmethod
    def conflicts(scored: ScoredPair) -> tuple[str, ...]:
        """Facts that contradict DNA supporting the pair: sex, an age far off."""
        if scored.contributions.get("dna", 0.0) <= 0.0:
            return ()
        out = []
        if scored.comparison.level_name("sex") == "differ":
            out.append("sex differs")
        if scored.comparison.level_name("birth") == "different":
            out.append("age far off")
        return tuple(out)

    def _field_weight(
        self, field: str, level: int, alert: Features, population: NamePopulation | None
    ) -> float:
        """The level's weight, frequency-adjusted; a partial agreement (a sound-alike surname,
        a near spelling) always lands between the field's "different" and its exact agreement."""
        weight = self.model.weight(field, level)
        if field not in self.model.tf_fields:
            return weight
        exact = self.model.weight(field, 0)
        if population is not None:
            if field.startswith("latin_"):
                exact += self._latin_tf(field, alert, population)
            else:
                # Same characters and same pinyin are both adjusted by how common the value is.
                exact += self._tf_adjustment(field, 0, alert, population)
                if level == 1:
                    weight += self._tf_adjustment(field, level, alert, population)
        last = len(FIELDS[field]) - 1
        if level == 0:
            return exact
        if level < last and self.partial_floor:
            # Sounding alike (陈/晨) is evidence for, never against: never below "different"
            # (a common surname's adjustment once took it to -5 bits, under a plain mismatch).
            floor = self.model.weight(field, last) + 0.5
            weight = min(max(weight, floor), max(exact, floor))
        return weight

    def _latin_tf(self, field: str, alert: Features, population: NamePopulation) -> float:
        counts = getattr(population, "latin_counts", None)
        total = getattr(population, "latin_named", 0)
        if alert.name is None or alert.name.han or counts is None:
            return 0.0
        value = ("f:" + alert.name.family) if field == "latin_family" else ("g:" + alert.name.first)
        u = self.model.u[field][0]
        if total < _TF_MIN_POPULATION:
            # Few Latin names yet (foreign victims among Chinese ones): shrunk towards the
            # average agreement as Chinese names are, so a name already seen several times
            # among a few dozen counts less (before, any name counted the average there).
            freq = (counts.get(value, 0) + _TF_MIN_POPULATION * u) / (total + _TF_MIN_POPULATION)
        else:
            freq = (counts.get(value, 0) + 1) / (total + 1)
        adjust = math.log2(u / freq)
        return max(-_TF_MAX_BITS, min(_TF_MAX_BITS, adjust))

    def _tf_adjustment(
        self, field: str, level: int, alert: Features, population: NamePopulation
    ) -> float:
        if alert.name is None or not alert.name.han:
            return 0.0
        given = field.endswith("given_name")
        counts = population.given_counts if given else population.surname_counts
        total = population.named
        value = alert.name.given_py if given else alert.name.surname_py
        u = self.model.u[field][level]
        if level == 1 and self.partial_floor and not given:
            # The counts are of sounds (pinyin), and a sound is shared by the same characters
            # (level 0) far more often than by others (陈/晨): a sound-alike agreement is as
            # much likelier for a common sound as agreement on the sound is, u0 + u1 on
            # average. (u1 alone set against the sound's whole frequency took 刘/柳 to the
            # floor, the weight of a plain mismatch.) Not for given names yet: their pinyin
            # m, counted on generated homophones, weighs more than exact agreement unadjusted
            # (5.8 against 4.4 bits), so adjusted alike 丽/立 counted as 丽/丽 and made false
            # hits among 8,000 persons; that m is to be estimated again first.
            u = self.model.u[field][0] + self.model.u[field][1]
        if total < _TF_MIN_POPULATION:
            # Too few names to say what is common on their own: shrink towards the average
            # agreement (u) with _TF_MIN_POPULATION pseudo-persons, so a name already seen
            # often (张, 丽 among the first hundreds) counts less from the start.
            freq = (counts.get(value, 0) + _TF_MIN_POPULATION * u) / (total + _TF_MIN_POPULATION)
            return max(-_TF_MAX_BITS, min(_TF_MAX_BITS, math.log2(u / freq)))
        freq = (counts.get(value, 0) + 1) / (total + 1)
        # A common name agreeing says less than the average agreement; a rare one says more.
        adjust = math.log2(u / freq)
        return max(-_TF_MAX_BITS, min(_TF_MAX_BITS, adjust))

    def decide(self, scored: ScoredPair) -> Decision | None:
        """NOTIFY at or above the upper threshold or on DNA strong enough alone; REVIEW between;
        DNA contradicted by sex or age goes to REVIEW, never straight to NOTIFY."""
        dna_alone = self.dna_decides(scored)
        decision: Decision | None = None
        if dna_alone or scored.score >= self.model.thresholds.notify:
            decision = Decision.NOTIFY
        elif scored.score >= self.model.thresholds.review:
            decision = Decision.REVIEW
        if decision is Decision.NOTIFY and self.conflicts(scored):
            return Decision.REVIEW
        return decision

    def to_hit(self, scored: ScoredPair) -> Hit | None:
        decision = self.decide(scored)
        if decision is None:
            return None
        return Hit(
            alert_ref=scored.alert.facts.ref,
            record_ref=scored.other.facts.ref,
            score=round(scored.score, 3),
            decision=decision,
            explanation=explain(scored, decision, self.model, self),
            kinship=scored.comparison.kinship,
        )


# Margin of the bound below: sums in another order may differ in the last bits.
_BOUND_SLACK = 1e-6


class HitFilter:
    """Tells which candidates of one search certainly make no hit, cheaply: most candidates
    share a weak key and nothing else. A pair with DNA to weigh always passes; the others are
    weighed from their field levels alone (no kinship, notes or explanation), the cheap fields
    first, the rest (aliases, documents, marks, address) only when their best weights could
    still lift the pair to review. What passes is scored in full by `Matcher.score_pair`, so
    the hits are exactly those of scoring every candidate in full."""

    def __init__(self, matcher: Matcher, population: NamePopulation | None) -> None:
        self._matcher = matcher
        self._population = population
        self._population_bits = matcher._population_bits(population)
        self._review = matcher.model.thresholds.review
        self._tf = frozenset(matcher.model.tf_fields)
        self._plain = matcher._plain_weights
        self._adjusted: dict[tuple[str, int, object], float] = {}
        self._last_alert: Features | None = None
        self._last_weights: dict[tuple[str, int], float] = {}

    def _weight(self, field: str, level: int, alert: Features) -> float:
        if field not in self._tf:
            return self._plain[field][level]
        # A frequency-adjusted weight depends on the alert's name only through this value.
        key = (field, level, _tf_value(field, alert.name))
        weight = self._adjusted.get(key)
        if weight is None:
            weight = self._matcher._field_weight(field, level, alert, self._population)
            self._adjusted[key] = weight
        return weight

    def _best(self, field: str, alert: Features) -> float:
        return max(self._weight(field, lvl, alert) for lvl in range(len(FIELDS[field])))

    def _alert_weight(self, field: str, level: int, alert: Features) -> float:
        """`_weight`, remembered for the last alert: a batch searches one alert against all its
        candidates, so its frequency-adjusted weights are looked up once, not per pair."""
        if alert is not self._last_alert:
            self._last_alert = alert
            self._last_weights = {}
        key = (field, level)
        weight = self._last_weights.get(key)
        if weight is None:
            weight = self._weight(field, level, alert)
            self._last_weights[key] = weight
        return weight

    def may_hit(self, alert: Features, other: Features) -> bool:
        """False when the pair certainly scores below review and has no DNA to weigh."""
        if _dna_to_weigh(alert, other):
            return True
        if not rest_present(alert, other):
            return self._core_score(alert, other) + self._population_bits >= self._review
        levels = core_levels(alert, other)
        score = 0.0
        for field, level in levels.items():
            if level is not None:
                score += self._weight(field, level, alert)
        rest = rest_present(alert, other)
        if rest:
            best = sum(max(0.0, self._best(f, alert)) for f in rest)
            if score + best + self._population_bits + _BOUND_SLACK < self._review:
                return False
            rest_levels(alert, other, levels)
            score = 0.0
            # Summed in score_pair's order, so that a pair on the threshold is decided alike.
            for field, level in levels.items():
                if level is not None:
                    score += self._weight(field, level, alert)
        return score + self._population_bits >= self._review

    def _core_score(self, alert: Features, other: Features) -> float:
        """The score of a pair compared on names, number, birth, sex and province only, summed
        in FIELDS order as score_pair does, without building the levels of every field."""
        weight = self._alert_weight
        plain = self._plain
        score = 0.0
        level = id_level(alert, other)
        if level is not None:
            score += plain["id_number"][level]
        names = name_levels(alert.name, other.name)
        if names:
            child = alert.missing_as_child or other.missing_as_child
            for field, level in names:
                score += weight(CHILD_NAMES.get(field, field) if child else field, level, alert)
        born = birth_level(alert, other)
        if born is not None:
            score += plain["birth"][born]
        if alert.sex is not Sex.UNKNOWN and other.sex is not Sex.UNKNOWN:
            score += plain["sex"][0 if alert.sex is other.sex else 1]
        place = province_level(alert, other)
        if place is not None:
            score += plain["province"][place]
        return score


def _tf_value(field: str, name: NameForms | None) -> object:
    if name is None:
        return None
    if field == "latin_family":
        return (name.han, name.family)
    if field == "latin_given":
        return (name.han, name.first)
    return (name.han, name.given_py if field.endswith("given_name") else name.surname_py)


def explain(
    scored: ScoredPair,
    decision: Decision | None,
    model: FellegiSunterModel,
    matcher: Matcher | None = None,
) -> tuple[str, ...]:
    """One line per compared field (level, values, weight), then DNA, notes and the verdict."""
    lines = []
    comparison = scored.comparison
    for field in FIELDS:
        if field not in scored.contributions:
            continue
        level = comparison.level_name(field)
        detail = comparison.detail(field)
        shown = f" ({detail})" if detail else ""
        lines.append(f"{field}: {level}{shown} {scored.contributions[field]:+.1f}")
    if comparison.kinship is not None:
        lines.append(f"{comparison.kinship.describe()} {scored.contributions['dna']:+.1f}")
    if "population" in scored.contributions:
        bits = scored.contributions["population"]
        searched = 2**-bits * model.reference_population
        lines.append(
            f"searched among {searched:,.0f} persons "
            f"(thresholds set for {model.reference_population:,}) {bits:+.1f}"
        )
    lines.extend(comparison.notes)
    lines.extend(scored.notes)
    kin = comparison.kinship
    if matcher is not None and kin is not None and kin.strong:
        bar = matcher.dna_bar(scored.dna_searched)
        alone = "enough" if kin.cpi >= bar else "not enough"
        lines.append(
            f"DNA alone needs CPI >= {bar:.3g} among {scored.dna_searched:,} profiles searched: "
            f"{alone}"
        )
    conflicts = Matcher.conflicts(scored)
    if conflicts and decision is Decision.REVIEW:
        lines.append("DNA contradicted (" + ", ".join(conflicts) + "): review, not notify")
    verdict = decision.value if decision else "no hit"
    lines.append(
        f"score {scored.score:.1f} (notify >= {model.thresholds.notify:g}, "
        f"review >= {model.thresholds.review:g}) -> {verdict}"
    )
    return tuple(lines)
