"""The cheap candidate filter: it drops only pairs that full scoring would not make a hit."""

from __future__ import annotations

from hub.matching.blocking import CandidateIndex
from hub.matching.evaluation import facts_of
from hub.matching.features import Features, prepare
from hub.matching.matcher import Matcher
from synthetic import generate


def _split(size: int, seed: int) -> tuple[list[Features], list[Features], CandidateIndex]:
    """Alerts, the other persons, and an index of the other persons."""
    alerts: list[Features] = []
    people: list[Features] = []
    for kind, persons in facts_of(generate(size, seed), []):
        for person in persons:
            (alerts if kind == "alert" else people).append(prepare(person))
    others = CandidateIndex()
    for person in people:
        others.add(person)
    return alerts, people, others


class TestHitFilter:
    def test_filter_keeps_every_hit_and_drops_only_non_hits(self) -> None:
        """Over every candidate of generated data (Han and Latin names, DNA, a population large
        enough for frequency adjustment): a dropped pair never scores as a hit in full, and a
        pair without DNA that passes scores at least review in full."""
        alerts, _, others = _split(1500, 5)
        matcher = Matcher()
        review = matcher.model.thresholds.review
        dropped = kept = hits = 0
        for alert in alerts:
            wanted = matcher.hit_filter(others)
            for candidate in others.candidates(alert):
                scored = matcher.score_pair(alert, candidate, others)
                hit = matcher.to_hit(scored)
                if not wanted.may_hit(alert, candidate):
                    dropped += 1
                    assert hit is None, hit
                    continue
                kept += 1
                hits += hit is not None
                if scored.comparison.kinship is None:
                    assert scored.score >= review, scored.contributions
        assert others.named >= 500  # the frequency adjustment was in play
        assert dropped > 2 * kept and hits > 50

    def test_hits_among_unchanged_by_the_filter(self) -> None:
        """Searching with the filter gives the hits (scores, decisions, explanations) that
        scoring every candidate in full gives, in both directions."""
        alerts, people, others = _split(800, 9)
        matcher = Matcher()
        open_alerts = CandidateIndex()
        for alert in alerts:
            open_alerts.add(alert)
        for probe, index, alert_side in [(a, others, True) for a in alerts[:150]] + [
            (o, open_alerts, False) for o in people[:300]
        ]:
            candidates = index.candidates(probe)
            full = []
            for c in candidates:
                pair = (probe, c) if alert_side else (c, probe)
                hit = matcher.to_hit(matcher.score_pair(*pair, index))
                if hit is not None:
                    full.append(hit)
            full.sort(key=lambda h: -h.score)
            assert matcher.hits_among(probe, candidates, index, alert_side) == full
