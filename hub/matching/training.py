"""Estimating the Fellegi-Sunter weights: u from random pairs, m from known true pairs."""

from __future__ import annotations

import random
from collections.abc import Mapping

from hub.matching.comparison import compare
from hub.matching.evaluation import facts_of
from hub.matching.features import Features, prepare
from hub.matching.labelled import LabelledData
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


def fit_labelled(
    alerts: list[Features],
    others: list[Features],
    true_pairs: list[tuple[Features, Features]],
    base: FellegiSunterModel,
    matcher: Matcher,
    random_pairs: int = 50_000,
    seed: int = 0,
    strength: float = 30.0,
) -> FellegiSunterModel:
    """u from random pairs, m counted on known true pairs (confirmed matches or labels),
    blended with the base model's m as `strength` pseudo-pairs so unseen levels stay possible."""
    model = base.estimate_u(random_pair_levels(alerts, others, matcher, random_pairs, seed))
    confirmed = [compare(a, b, matcher.table).levels for a, b in true_pairs]
    return model.refine_with_decisions(confirmed, [], strength=strength)


def fit_dataset(
    data: LabelledData, matcher: Matcher, seed: int = 0, random_pairs: int = 50_000
) -> FellegiSunterModel:
    """Weights from a labelled dataset (generated, or built from confirmed police decisions)."""
    docs = facts_of(data, [])
    alerts = [prepare(f) for kind, people in docs if kind == "alert" for f in people]
    others = [prepare(f) for kind, people in docs if kind != "alert" for f in people]
    by_alert = {a.facts.ref.business_id: a for a in alerts}
    by_other = {(o.facts.ref.business_id, o.facts.ref.child_index): o for o in others}
    true_pairs = [
        (by_alert[a], by_other[(o, c)])
        for a, o, c in data.labels
        if a in by_alert and (o, c) in by_other
    ]
    return fit_labelled(
        alerts, others, true_pairs, matcher.model, matcher, random_pairs=random_pairs, seed=seed
    )
