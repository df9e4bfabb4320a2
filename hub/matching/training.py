"""Estimating the Fellegi-Sunter weights from unlabelled data: u from random pairs, m by EM."""

from __future__ import annotations

import random
from collections.abc import Mapping

from hub.matching.blocking import CandidateIndex
from hub.matching.comparison import compare
from hub.matching.features import Features
from hub.matching.matcher import Matcher
from hub.matching.model import FellegiSunterModel

Levels = Mapping[str, int | None]


def random_pair_levels(
    alerts: list[Features], others: list[Features], matcher: Matcher, pairs: int, seed: int
) -> list[Levels]:
    """Comparison levels of randomly drawn alert/other pairs (nearly all non-matches)."""
    rng = random.Random(seed)
    out: list[Levels] = []
    for _ in range(pairs):
        a, b = rng.choice(alerts), rng.choice(others)
        out.append(compare(a, b, matcher.table).levels)
    return out


def candidate_pair_levels(alerts: list[Features], others: list[Features], matcher: Matcher) -> list[Levels]:
    """Levels of every pair that blocking puts together: the mix EM separates."""
    index = CandidateIndex()
    for person in others:
        index.add(person)
    return [compare(a, b, matcher.table).levels for a in alerts for b in index.candidates(a)]


def fit(
    alerts: list[Features],
    others: list[Features],
    base: FellegiSunterModel,
    matcher: Matcher,
    random_pairs: int = 50_000,
    seed: int = 0,
) -> FellegiSunterModel:
    """u from random pairs, then m and the match share by EM on the blocked candidates."""
    model = base.estimate_u(random_pair_levels(alerts, others, matcher, random_pairs, seed))
    return model.em(candidate_pair_levels(alerts, others, matcher))


def fit_labelled(
    alerts: list[Features],
    others: list[Features],
    true_pairs: list[tuple[Features, Features]],
    base: FellegiSunterModel,
    matcher: Matcher,
    random_pairs: int = 50_000,
    seed: int = 0,
) -> FellegiSunterModel:
    """u from random pairs, m counted on known true pairs (confirmed matches or labels)."""
    model = base.estimate_u(random_pair_levels(alerts, others, matcher, random_pairs, seed))
    confirmed = [compare(a, b, matcher.table).levels for a, b in true_pairs]
    return model.refine_with_decisions(confirmed, [], strength=1.0)
