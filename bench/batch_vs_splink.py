"""`hubctl match` against Splink on one labelled batch: 2,000 alerts against about 80,000 persons.

The labelled set (`generate`, 2,000 alerts with their true pairs) is topped up with migrant
records of other seeds, people unrelated to those alerts, until the records and rescue notices
hold `--persons` persons (accompanying children counted). Both tools run as their own process on
the same files: `hubctl match` as a user runs it, Splink (DuckDB, the model of
`compare_splink.py`, EM-trained, no DNA) reading the same files. Printed per tool: wall time,
peak memory of its process tree (see `Usage`), precision, recall and F1 at its cut
(ours: NOTIFY; Splink: p >= 0.5), and the ratios.

    .venv/bin/python -m bench.batch_vs_splink --alerts 2000 --persons 80000

What it cannot show: the background records are drawn by the same generator as the labelled
ones, so their names and ages follow the same pools; real data has heavier name tails.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.matching.document_files import read_documents, write_jsonl
from hub.matching.evaluation import score_pairs
from synthetic import Dataset, generate
from synthetic.files import write_dataset

# generate(size) makes one alert per four persons.
_PERSONS_PER_ALERT = 4
MEMORY_LIMIT_MIB = 1024.0


def _persons(records: list[dict[str, Any]]) -> int:
    return sum(1 + len(r.get("children") or []) for r in records)


def make_files(directory: Path, alerts: int, persons: int, seed: int) -> dict[str, Path]:
    """Write the batch (alerts, records, rescues, labels, the lab's allele table)."""
    data = generate(alerts * _PERSONS_PER_ALERT, seed)
    have = _persons(data.records) + len(data.rescues)
    extra = 0
    while have < persons:
        extra += 1
        background = generate(40_000, seed * 1000 + extra)
        for record in background.records:
            if have >= persons:
                break
            data.records.append(record)
            have += 1 + len(record.get("children") or [])
        print(f"  background records: {have:,} of {persons:,} persons", flush=True)
    paths = write_dataset(directory, data, "jsonl")
    if data.world is not None:
        paths["table"] = data.world.write_lab_table(directory / "allele-table")
    print(
        f"batch: {len(data.alerts):,} alerts, {have:,} persons in records and rescue notices, "
        f"{len(data.labels):,} true pairs (seed {seed})"
    )
    return paths


Pair = tuple[str, str, int | None]


def _pairs(path: Path, decision: str | None = None) -> list[Pair]:
    """(alert, other, child index) of a labels or pairs CSV; of one decision if given."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            (row["alert_id"], row["other_id"], int(row["child_index"]) if row["child_index"]
             else None)
            for row in csv.DictReader(handle)
            if decision is None or row["decision"] == decision
        ]


@dataclass
class Usage:
    """What one tool's process tree used: wall and CPU seconds (the child and every child of
    its own it waited for) and peak memory. `tree_mib` is the peak, sampled every
    `_SAMPLE_SECONDS`, of the tree's proportional set size (a page shared by n processes, as
    forked workers share the index, counts 1/n in each, so the sum is the memory the tree
    holds); `rss_sum_mib` the peak of its resident sizes summed (shared pages counted in every
    process: an upper bound); `largest_mib` the largest single process's peak RSS (its
    VmHWM, which the kernel keeps between samples, so a short peak is not missed; not wait4's
    ru_maxrss, which also counts the pages this benchmark's own process held when it forked
    the child)."""

    seconds: float
    cpu_seconds: float
    tree_mib: float
    rss_sum_mib: float
    largest_mib: float
    output: str

    @property
    def peak_mib(self) -> float:
        """The figure held against the limit: the tree's, never below the largest process."""
        return max(self.tree_mib, self.largest_mib)


_SAMPLE_SECONDS = 0.5


def _tree(root: int) -> list[int]:
    """The process and all its descendants, from each thread's /proc children list (a whole
    /proc scan per sample took a tenth of a core from the tools measured)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # ended meanwhile
        for task in tasks:
            children = Path(f"/proc/{pid}/task/{task}/children")
            try:
                todo.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
    return found


def _memory_mib(pids: list[int]) -> tuple[float, float, float]:
    """Summed proportional and resident set sizes of these processes, and the largest peak
    resident size of one of them, in MiB."""
    pss = rss = largest = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            name, _, value = line.partition(":")
            if name == "Pss":
                pss += int(value.split()[0])
            elif name == "Rss":
                rss += int(value.split()[0])
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                largest = max(largest, int(line.split()[1]))
    return pss / 1024, rss / 1024, largest / 1024


def run_measured(command: list[str]) -> Usage:
    """Run one tool as a child, sampling its process tree's memory until it ends. On a shared
    machine the wall time mostly measures the others' load; the CPU time is the tool's own work
    (Splink's DuckDB threads and our forked workers alike are counted)."""
    started = time.perf_counter()
    tree_mib = rss_sum_mib = largest_mib = 0.0
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            pss, rss, largest = _memory_mib(_tree(child.pid))
            tree_mib, rss_sum_mib = max(tree_mib, pss), max(rss_sum_mib, rss)
            largest_mib = max(largest_mib, largest)
            time.sleep(_SAMPLE_SECONDS)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        output = log.read()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}):\n{output}")
    return Usage(seconds, usage.ru_utime + usage.ru_stime, tree_mib, rss_sum_mib, largest_mib,
                 output)


def splink_side(directory: Path, seed: int, out: Path) -> None:
    """Run Splink on the batch files (in its own process) and write its pairs at p >= 0.5."""
    from bench.compare_splink import run_splink

    alerts = read_documents(directory / "alerts.jsonl", "alerts")
    data = Dataset(
        alerts=alerts.payloads,
        parents_dna=alerts.parents_dna,
        records=read_documents(directory / "records.jsonl", "records").payloads,
        rescues=read_documents(directory / "rescues.jsonl", "rescues").payloads,
    )
    pairs, _ = run_splink(data, 0.5, seed)
    write_jsonl(out, ({"pair": list(p), "p": s} for s, p in pairs))


def _files(directory: Path, alerts: int, persons: int, seed: int) -> dict[str, Path]:
    """The batch's files in `directory`, written unless a run with the same sizes left them."""
    stamp = directory / "batch.json"
    wanted = {"alerts": alerts, "persons": persons, "seed": seed}
    names = {"alerts": "alerts.jsonl", "records": "records.jsonl", "rescues": "rescues.jsonl",
             "labels": "labels.csv", "table": "allele-table"}
    if stamp.exists() and json.loads(stamp.read_text(encoding="utf-8")) == wanted:
        print(f"batch: reusing the files in {directory}")
        return {key: directory / name for key, name in names.items()}
    paths = make_files(directory, alerts, persons, seed)
    stamp.write_text(json.dumps(wanted), encoding="utf-8")
    return paths


def compare(
    alerts: int, persons: int, seed: int, keep: Path | None = None, jobs: int | None = None
) -> dict[str, float]:
    """Print and return both tools' seconds, CPU seconds, peak MiB and F1, and the ratios."""
    with tempfile.TemporaryDirectory(prefix="batch-vs-splink-") as tmp:
        directory = keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        paths = _files(directory, alerts, persons, seed)
        labels = _pairs(paths["labels"])
        hubctl = str(Path(sys.executable).with_name("hubctl"))
        out = directory / "pairs.csv"
        ours_run = run_measured(
            [hubctl, "match", "--alerts", str(paths["alerts"]), "--records",
             str(paths["records"]), "--rescues", str(paths["rescues"]), "--out", str(out),
             "--allele-table", str(paths["table"])]
            + ([] if jobs is None else ["--jobs", str(jobs)])
        )
        print("  hubctl match: " + ours_run.output.strip().splitlines()[0])
        ours = score_pairs(_pairs(out, "NOTIFY"), labels)
        splink_out = directory / "splink.jsonl"
        splink_run = run_measured(
            [sys.executable, "-m", "bench.batch_vs_splink", "--splink-side", str(directory),
             "--seed", str(seed), "--splink-out", str(splink_out)]
        )
        with splink_out.open(encoding="utf-8") as handle:
            found = [json.loads(line)["pair"] for line in handle]
        splink = score_pairs([(a, b, c) for a, b, c in found], labels)
    print(
        f"{'':24} {'time s':>7} {'CPU s':>7} {'peak MiB':>8} {'RSS sum':>7} {'largest':>7} "
        f"{'precision':>9} {'recall':>6} {'F1':>6}"
    )
    for title, run, s in (
        ("hubctl match (NOTIFY)", ours_run, ours),
        ("Splink (p >= 0.5)", splink_run, splink),
    ):
        print(
            f"{title:24} {run.seconds:7.1f} {run.cpu_seconds:7.1f} {run.peak_mib:8.0f} "
            f"{run.rss_sum_mib:7.0f} {run.largest_mib:7.0f} {s.precision:9.3f} {s.recall:6.3f} "
            f"{s.f1:6.3f}"
        )
    print(
        f"time ratio hubctl match / Splink = {ours_run.seconds / splink_run.seconds:.2f} wall, "
        f"{ours_run.cpu_seconds / splink_run.cpu_seconds:.2f} CPU (goal < 1 wall); peak memory "
        f"of the process tree {ours_run.peak_mib:.0f} MiB against the limit "
        f"{MEMORY_LIMIT_MIB:.0f} MiB (ratio {ours_run.peak_mib / MEMORY_LIMIT_MIB:.2f}); "
        f"Splink {splink_run.peak_mib:.0f} MiB"
    )
    return {"seconds": ours_run.seconds, "cpu_seconds": ours_run.cpu_seconds,
            "peak_mib": ours_run.peak_mib, "rss_sum_mib": ours_run.rss_sum_mib, "f1": ours.f1,
            "splink_seconds": splink_run.seconds, "splink_cpu_seconds": splink_run.cpu_seconds,
            "splink_peak_mib": splink_run.peak_mib, "splink_f1": splink.f1}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=2000, help="alerts (2,000)")
    parser.add_argument(
        "--persons", type=int, default=80_000, help="persons in records and notices (80,000)"
    )
    parser.add_argument("--seed", type=int, default=17, help="generator seed (17)")
    parser.add_argument(
        "--directory", type=Path,
        help="keep the batch's files here and reuse them when sizes and seed match",
    )
    parser.add_argument(
        "--jobs", type=int, help="hubctl match --jobs (default: its own, the CPU count)"
    )
    parser.add_argument("--splink-side", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--splink-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.splink_side is not None:
        splink_side(args.splink_side, args.seed, args.splink_out)
        return 0
    compare(args.alerts, args.persons, args.seed, args.directory, args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
