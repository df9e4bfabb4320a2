"""Fellegi-Sunter weights: m and u per field level, EM, refinement by police decisions."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from hub.errors import MatchingModelError
from hub.matching.comparison import FIELDS

Levels = Mapping[str, int | None]
_FLOOR = 1e-4  # no level is ever impossible: keeps log weights finite


@dataclass(frozen=True)
class Thresholds:
    """Score at or above `notify` is notified at once; at or above `review` goes to review."""

    notify: float
    review: float

    def __post_init__(self) -> None:
        if self.review > self.notify:
            raise MatchingModelError(f"review threshold {self.review} above notify {self.notify}")


@dataclass(frozen=True)
class FellegiSunterModel:
    """m = P(level | same person), u = P(level | different people), per field."""

    m: Mapping[str, tuple[float, ...]]
    u: Mapping[str, tuple[float, ...]]
    prior: float
    thresholds: Thresholds
    tf_fields: tuple[str, ...] = ("surname", "given_name")
    # Thresholds hold for searches among this many persons; larger populations pay log2(N/ref).
    reference_population: int = 1000
    doc: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name, levels in FIELDS.items():
            for table, label in ((self.m, "m"), (self.u, "u")):
                probs = table.get(name)
                if probs is None or len(probs) != len(levels):
                    raise MatchingModelError(
                        f"weights: field {name} needs {len(levels)} {label} values"
                    )
                if any(not 0.0 < p <= 1.0 for p in probs):
                    raise MatchingModelError(f"weights: field {name} {label} values outside (0, 1]")

    @cached_property
    def _weights(self) -> dict[str, tuple[float, ...]]:
        return {
            f: tuple(math.log2(m / u) for m, u in zip(self.m[f], self.u[f], strict=True))
            for f in FIELDS
        }

    def weight(self, field_name: str, level: int) -> float:
        """log2(m/u): how many bits of evidence this level gives for a match."""
        return self._weights[field_name][level]

    # -- persistence ---------------------------------------------------------------------------

    @classmethod
    def default(cls) -> FellegiSunterModel:
        """The weights shipped in hub/matching/data/default_weights.json."""
        return cls.load(
            Path(str(resources.files("hub.matching") / "data" / "default_weights.json"))
        )

    @classmethod
    def load(cls, path: Path) -> FellegiSunterModel:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            fields = raw["fields"]
            return cls(
                m={f: tuple(float(x) for x in fields[f]["m"]) for f in FIELDS},
                u={f: tuple(float(x) for x in fields[f]["u"]) for f in FIELDS},
                prior=float(raw["prior"]),
                thresholds=Thresholds(
                    float(raw["thresholds"]["notify"]), float(raw["thresholds"]["review"])
                ),
                tf_fields=tuple(raw.get("tf_fields", ())),
                reference_population=int(raw.get("reference_population", 1000)),
                doc=raw.get("doc", {}),
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise MatchingModelError(f"weights file {path}: {err!r}") from err

    def to_json(self) -> dict[str, Any]:
        return {
            "doc": dict(self.doc),
            "prior": self.prior,
            "thresholds": {"notify": self.thresholds.notify, "review": self.thresholds.review},
            "tf_fields": list(self.tf_fields),
            "reference_population": self.reference_population,
            "fields": {
                f: {
                    "levels": list(FIELDS[f]),
                    "m": [round(x, 6) for x in self.m[f]],
                    "u": [round(x, 6) for x in self.u[f]],
                    "weights_log2": [round(self.weight(f, i), 3) for i in range(len(FIELDS[f]))],
                }
                for f in FIELDS
            },
        }

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )

    def with_thresholds(self, notify: float, review: float) -> FellegiSunterModel:
        return replace(self, thresholds=Thresholds(notify, review))

    # -- estimation ----------------------------------------------------------------------------

    def estimate_u(self, random_pairs: Iterable[Levels]) -> FellegiSunterModel:
        """u from pairs drawn at random: almost all are different people."""
        counts = _level_counts(random_pairs, None)
        return replace(self, u={f: _normalise(counts[f], self.u[f], 1.0) for f in FIELDS})

    def em(
        self,
        pairs: Sequence[Levels],
        iterations: int = 30,
        fix_u: bool = True,
        fields: Iterable[str] | None = None,
        fix_prior: bool = False,
    ) -> FellegiSunterModel:
        """Expectation-maximisation on unlabelled candidate pairs; returns the fitted model.

        With fix_u (the default) u stays as estimated from random pairs and EM learns m and the
        share of matches, the split that converges reliably on blocked candidates.
        """
        model = self
        trained = set(fields or FIELDS)
        for _ in range(iterations):
            lam = min(max(model.prior, 1e-6), 1 - 1e-6)
            probs = []
            for levels in pairs:
                log_m = math.log(lam)
                log_u = math.log(1 - lam)
                for f, lvl in levels.items():
                    if lvl is None:
                        continue
                    log_m += math.log(model.m[f][lvl])
                    log_u += math.log(model.u[f][lvl])
                diff = max(min(log_u - log_m, 700.0), -700.0)
                probs.append(1.0 / (1.0 + math.exp(diff)))
            m_counts = _level_counts(pairs, probs)
            new_m = {
                f: _normalise(m_counts[f], model.m[f], 1.0) if f in trained else model.m[f]
                for f in FIELDS
            }
            new_u = dict(model.u)
            if not fix_u:
                u_counts = _level_counts(pairs, [1 - p for p in probs])
                new_u = {f: _normalise(u_counts[f], model.u[f], 1.0) for f in FIELDS}
            new_prior = model.prior if fix_prior else sum(probs) / max(len(probs), 1)
            change = max(
                abs(x - y) for f in FIELDS for x, y in zip(new_m[f], model.m[f], strict=True)
            )
            model = replace(model, m=new_m, u=new_u, prior=new_prior)
            if change < 1e-6:
                break
        return model

    def refine_with_decisions(
        self,
        confirmed_pairs: Iterable[Levels],
        rejected_pairs: Iterable[Levels],
        strength: float = 50.0,
    ) -> FellegiSunterModel:
        """Police decisions update m (confirmed) and u (rejected), the current values weighing
        as `strength` pseudo-pairs so that a handful of decisions nudges rather than overturns."""
        m_counts = _level_counts(confirmed_pairs, None)
        u_counts = _level_counts(rejected_pairs, None)
        return replace(
            self,
            m={f: _normalise(m_counts[f], self.m[f], strength) for f in FIELDS},
            u={f: _normalise(u_counts[f], self.u[f], strength) for f in FIELDS},
        )


def _level_counts(
    pairs: Iterable[Levels], weights: Sequence[float] | None
) -> dict[str, list[float]]:
    counts = {f: [0.0] * len(levels) for f, levels in FIELDS.items()}
    for i, levels in enumerate(pairs):
        w = 1.0 if weights is None else weights[i]
        for f, lvl in levels.items():
            if lvl is not None and f in counts:
                counts[f][lvl] += w
    return counts


def _normalise(
    counts: Sequence[float], prior: Sequence[float], strength: float
) -> tuple[float, ...]:
    """Counts blended with the previous probabilities as a Dirichlet prior of `strength` pairs."""
    total = sum(counts) + strength
    probs = [(c + strength * p) / total for c, p in zip(counts, prior, strict=True)]
    probs = [max(p, _FLOOR) for p in probs]
    norm = sum(probs)
    return tuple(p / norm for p in probs)
