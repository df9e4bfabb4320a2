"""What each family of blocking keys costs and finds, on labelled data (the generator knows the
true pairs).

Alerts are searched against every record person and rescue notice, as `hubctl match` does. Per
key family (the key's prefix: `gn` given name + birth year, `pv` province + sex + birth year,
`dna` the DNA groups ...) it prints the candidates the family brings per alert, the true pairs
it finds, those that only it finds, and how many of those score NOTIFY (a true pair only a
family finds but that never scores a hit costs the family nothing to lose).

    .venv/bin/python -m bench.blocking_families --size 8000 --seed 21

What it cannot show: which keys real data needs that the generator never exercises (its names,
ages and provinces follow its own pools).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict

from hub.matching.blocking import CandidateIndex, blocking_keys
from hub.matching.evaluation import facts_of
from hub.matching.facts import PersonRef
from hub.matching.features import Features, prepare
from hub.matching.labelled import LabelledData
from hub.matching.matcher import Decision, Matcher
from synthetic import generate


def family(key: str) -> str:
    """The family a key belongs to: its prefix."""
    return key.split(":", 1)[0]


def candidates_by_family(index: CandidateIndex, probe: Features) -> dict[str, set[PersonRef]]:
    """The candidates each key family brings for one probe (DNA keys as one family)."""
    found: dict[str, set[PersonRef]] = defaultdict(set)
    for key in blocking_keys(probe, stored=False):
        if not key.startswith("dna:"):
            found[family(key)] |= index.query_keys([key])
    dna = index.dna_candidates(probe)
    if dna:
        found["dna"] = dna
    return found


def measure(data: LabelledData, matcher: Matcher) -> dict[str, dict[str, float]]:
    """Per family: candidates per alert, true pairs found, found only by it (and of those,
    NOTIFY hits); the key "all" holds the totals."""
    index = CandidateIndex()
    alerts: list[Features] = []
    for kind, people in facts_of(data, []):
        for facts in people:
            if kind == "alert":
                alerts.append(prepare(facts))
            else:
                index.add(prepare(facts))
    truth: dict[str, set[tuple[str, int | None]]] = defaultdict(set)
    for alert_id, other_id, child in data.labels:
        truth[alert_id].add((other_id, child))
    brought: Counter[str] = Counter()
    found: Counter[str] = Counter()
    only: Counter[str] = Counter()
    only_notify: Counter[str] = Counter()
    total = true_found = true_notify = 0
    for alert in alerts:
        by_family = candidates_by_family(index, alert)
        union: set[PersonRef] = set().union(*by_family.values()) if by_family else set()
        total += len(union)
        for fam, refs in by_family.items():
            brought[fam] += len(refs)
        wanted = truth.get(alert.facts.ref.business_id, set())
        for ref in union:
            if (ref.business_id, ref.child_index) not in wanted:
                continue
            true_found += 1
            other = index.get(ref)
            assert other is not None
            notify = matcher.decide(matcher.score_pair(alert, other, index)) is Decision.NOTIFY
            true_notify += notify
            families = [fam for fam, refs in by_family.items() if ref in refs]
            for fam in families:
                found[fam] += 1
            if len(families) == 1:
                only[families[0]] += 1
                only_notify[families[0]] += notify
    n = max(len(alerts), 1)
    out = {
        fam: {"candidates": brought[fam] / n, "found": found[fam], "only": only[fam],
              "only_notify": only_notify[fam]}
        for fam in sorted(brought, key=lambda f: -brought[f])
    }
    out["all"] = {"candidates": total / n, "found": true_found, "only": 0,
                  "only_notify": true_notify, "labelled": len(data.labels)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=8000, help="persons generated (8,000)")
    parser.add_argument("--seed", type=int, default=21, help="generator seed (21)")
    args = parser.parse_args()
    started = time.perf_counter()
    data = generate(args.size, args.seed)
    table = data.world.lab_table if data.world is not None else None
    result = measure(data, Matcher(table=table))
    print(f"{'family':8} {'cand/alert':>10} {'true found':>10} {'only it':>8} {'only+NOTIFY':>11}")
    for fam, row in result.items():
        if fam == "all":
            continue
        print(
            f"{fam:8} {row['candidates']:10.1f} {row['found']:10.0f} {row['only']:8.0f} "
            f"{row['only_notify']:11.0f}"
        )
    everything = result["all"]
    print(
        f"all: {everything['candidates']:.1f} candidates per alert; candidate recall "
        f"{everything['found'] / max(everything['labelled'], 1):.3f} "
        f"({everything['found']:.0f} of {everything['labelled']:.0f} true pairs), "
        f"{everything['only_notify']:.0f} of them NOTIFY ({time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
