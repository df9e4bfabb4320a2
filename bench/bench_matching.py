"""Matching throughput, search latency and memory, with a bare-lookup baseline from the same run.

1. Records per second matched against N open alerts (default 100,000), and the same probes
   through the blocking-key lookups alone (a dict lookup per key): the ratio says how much the
   scoring costs on top of finding candidates.
2. Time to search a new alert against M stored records and rescue notices (default 1,000,000):
   p50 and p99 over a sample of alerts, against the key lookups alone.
3. Memory: resident set size before and after building each index, bytes per indexed person.

    .venv/bin/python bench/bench_matching.py --alerts 100000 --records 1000000
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Iterator

from hub.matching.blocking import CandidateIndex, blocking_keys
from hub.matching.evaluation import facts_of
from hub.matching.facts import PersonFacts, SourceKind
from hub.matching.features import Features, prepare
from hub.matching.matcher import Matcher
from synthetic import generate


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _people(total: int, seed: int, want_alerts: bool) -> Iterator[PersonFacts]:
    """Persons of generated data in chunks (so a million never sit twice in memory)."""
    chunk = 40_000
    produced = 0
    batch = 0
    while produced < total:
        data = generate(chunk, seed * 1000 + batch)
        batch += 1
        for kind, people in facts_of(data, []):
            if (kind == "alert") != want_alerts:
                continue
            for person in people:
                yield person
                produced += 1
                if produced >= total:
                    return


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def score_all(matcher: Matcher, probe: Features, index: CandidateIndex, alert_side: bool) -> int:
    """Hits found by scoring every candidate in full, as the matcher did before its filter
    (the same-run reference for the filter's speed-up)."""
    hits = 0
    for candidate in index.candidates(probe):
        alert, other = (probe, candidate) if alert_side else (candidate, probe)
        if alert.facts.source is not SourceKind.ALERT or other.facts.source is SourceKind.ALERT:
            continue
        hits += matcher.to_hit(matcher.score_pair(alert, other, index)) is not None
    return hits


def exact_filter_only(matcher: Matcher, probe: Features, index: CandidateIndex,
                      alert_side: bool) -> int:
    """Hits found with the exact filter over every candidate, without the vectorised bound
    (the matcher's search before the bound: the same-run reference for its speed-up)."""
    return len(matcher.hits_among(probe, index.candidates(probe), index, alert_side))


def build(total: int, seed: int, alerts: bool) -> tuple[CandidateIndex, float, float]:
    """An index of `total` persons; returns it, the build seconds and the RSS growth in MiB."""
    gc.collect()
    before = rss_mib()
    started = time.perf_counter()
    index = CandidateIndex()
    for person in _people(total, seed, want_alerts=alerts):
        index.add(prepare(person))
    seconds = time.perf_counter() - started
    gc.collect()
    return index, seconds, rss_mib() - before


def bench_records(
    matcher: Matcher, n_alerts: int, n_probes: int, seed: int
) -> dict[str, float]:
    """Print and return persons/s matched, key-lookup-only persons/s and bytes per alert."""
    index, seconds, grown = build(n_alerts, seed, alerts=True)
    print(
        f"alert index: {len(index):,} open alerts built in {seconds:.1f} s "
        f"({len(index) / seconds:,.0f}/s), RSS +{grown:,.0f} MiB "
        f"({grown * 2**20 / max(len(index), 1):,.0f} bytes per alert, of which "
        f"{index.columns.nbytes() / max(len(index), 1):,.0f} in the scoring columns)"
    )
    probes = [prepare(p) for p in _people(n_probes, seed + 7, want_alerts=False)]
    started = time.perf_counter()
    lookups = 0
    for probe in probes:
        lookups += len(index.query_slots(blocking_keys(probe, stored=False)))
    bare = time.perf_counter() - started
    started = time.perf_counter()
    hits = 0
    for probe in probes:
        hits += len(matcher.match_new_record(probe.facts, index))
    full = time.perf_counter() - started
    rate = len(probes) / full
    # Every candidate scored in full, on a share of the probes (it is the slow way).
    # Each probe both ways in turn, so that both see the same load of a shared machine.
    some = probes[: max(100, len(probes) // 5)]
    full_hits = some_hits = exact_hits = 0
    slow = fast = exact = 0.0
    for probe in some:
        started = time.perf_counter()
        full_hits += score_all(matcher, probe, index, alert_side=False)
        middle = time.perf_counter()
        exact_hits += exact_filter_only(matcher, probe, index, alert_side=False)
        third = time.perf_counter()
        some_hits += len(matcher.match_new_record(probe.facts, index))
        slow += middle - started
        exact += third - middle
        fast += time.perf_counter() - third
    before = len(some) / slow
    print(
        f"records matched against {len(index):,} alerts: {rate:,.0f} persons/s, "
        f"{1000 / rate:.2f} ms each ({len(probes):,} probes, "
        f"{lookups / len(probes):.0f} candidates each, {hits} hits)"
    )
    print(
        f"  limit measured in this run, key lookups alone: {len(probes) / bare:,.0f} persons/s; "
        f"ratio full/lookup-only = {bare / full:.3f}"
    )
    print(
        f"  every candidate scored in full (no filter): {before:,.0f} persons/s on "
        f"{len(some):,} probes, {full_hits} hits (filtered: {some_hits}); "
        f"speed-up on the same probes, timed in turn {slow / fast:.1f}x"
    )
    print(
        f"  exact filter alone, no vectorised bound: {len(some) / exact:,.0f} persons/s, "
        f"{exact_hits} hits; speed-up of the bound on the same probes {exact / fast:.1f}x"
    )
    return {"rate": rate, "lookup_rate": len(probes) / bare, "unfiltered_rate": before,
            "speed_up": slow / fast, "bound_speed_up": exact / fast,
            "bytes_per_alert": grown * 2**20 / max(len(index), 1)}


def bench_alerts(
    matcher: Matcher, n_records: int, n_probes: int, seed: int
) -> dict[str, float]:
    """Print and return alert-search p50/p99 in ms and the key-lookup-only p50."""
    index, seconds, grown = build(n_records, seed + 1, alerts=False)
    print(
        f"record index: {len(index):,} persons built in {seconds:.1f} s "
        f"({len(index) / seconds:,.0f}/s), RSS +{grown:,.0f} MiB "
        f"({grown * 2**20 / max(len(index), 1):,.0f} bytes per person, of which "
        f"{index.columns.nbytes() / max(len(index), 1):,.0f} in the scoring columns); "
        f"total RSS {rss_mib():,.0f} MiB"
    )
    probes: list[Features] = [prepare(p) for p in _people(n_probes, seed + 9, want_alerts=True)]
    full_ms: list[float] = []
    bare_ms: list[float] = []
    unfiltered_ms: list[float] = []
    exact_ms: list[float] = []
    candidates = 0
    for i, probe in enumerate(probes):
        started = time.perf_counter()
        found = index.query_slots(blocking_keys(probe, stored=False))
        bare_ms.append((time.perf_counter() - started) * 1000)
        candidates += len(found)
        started = time.perf_counter()
        matcher.match_new_alert(probe.facts, index)
        full_ms.append((time.perf_counter() - started) * 1000)
        if i % 5 == 0:  # every fifth alert also scored the slow way, every candidate in full
            started = time.perf_counter()
            score_all(matcher, probe, index, alert_side=True)
            unfiltered_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            exact_filter_only(matcher, probe, index, alert_side=True)
            exact_ms.append((time.perf_counter() - started) * 1000)
    print(
        f"alert search against {len(index):,} persons: p50 {_percentile(full_ms, 0.5):.2f} ms, "
        f"p99 {_percentile(full_ms, 0.99):.2f} ms, mean {statistics.fmean(full_ms):.2f} ms "
        f"({len(probes)} alerts, {candidates / len(probes):.0f} candidates each)"
    )
    print(
        f"  limit measured in this run, key lookups alone: p50 {_percentile(bare_ms, 0.5):.3f} ms, "
        f"p99 {_percentile(bare_ms, 0.99):.3f} ms; ratio p50 full/lookup = "
        f"{_percentile(full_ms, 0.5) / max(_percentile(bare_ms, 0.5), 1e-9):.0f}"
    )
    print(
        f"  every candidate scored in full (no filter), {len(unfiltered_ms)} of the alerts: "
        f"p50 {_percentile(unfiltered_ms, 0.5):.2f} ms, p99 {_percentile(unfiltered_ms, 0.99):.2f}"
        f" ms, mean {statistics.fmean(unfiltered_ms):.2f} ms; speed-up of the mean "
        f"{statistics.fmean(unfiltered_ms) / statistics.fmean(full_ms[::5]):.1f}x"
    )
    print(
        f"  exact filter alone, no vectorised bound, the same alerts: "
        f"p50 {_percentile(exact_ms, 0.5):.2f} ms, p99 {_percentile(exact_ms, 0.99):.2f} ms, "
        f"mean {statistics.fmean(exact_ms):.2f} ms; speed-up of the bound (mean) "
        f"{statistics.fmean(exact_ms) / statistics.fmean(full_ms[::5]):.1f}x"
    )
    return {"p50_ms": _percentile(full_ms, 0.5), "p99_ms": _percentile(full_ms, 0.99),
            "lookup_p50_ms": _percentile(bare_ms, 0.5), "persons": float(len(index))}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--alerts", type=int, default=100_000, help="open alerts in the index (100,000)"
    )
    parser.add_argument("--records", type=int, default=1_000_000, help="stored persons (1,000,000)")
    parser.add_argument(
        "--record-probes", type=int, default=5_000, help="record persons to match (5,000)"
    )
    parser.add_argument("--alert-probes", type=int, default=1_000, help="alerts to search (1,000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    parser.add_argument("--skip-records", action="store_true", help="skip part 1")
    parser.add_argument("--skip-alerts", action="store_true", help="skip part 2")
    args = parser.parse_args()
    matcher = Matcher()
    print(f"start RSS {rss_mib():,.0f} MiB")
    if not args.skip_records:
        bench_records(matcher, args.alerts, args.record_probes, args.seed)
        gc.collect()
    if not args.skip_alerts:
        bench_alerts(matcher, args.records, args.alert_probes, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
