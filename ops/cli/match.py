"""hubctl match-eval (quality on labelled data) and hubctl match (batch over files)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from hub.config import load_settings
from hub.errors import HubError
from hub.matching.batch import in_turn, run_batch
from hub.matching.evaluation import EvalReport, evaluate, name_case_effect, pair_of
from hub.matching.kinship import TableSet
from hub.matching.matcher import Decision, Matcher
from hub.matching.model import FellegiSunterModel
from hub.matching.sampling_eval import evaluate_sampling
from hub.paths import check_readable_file
from ops.forked import run_forked
from synthetic import generate
from synthetic.files import write_dataset


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `match-eval` (quality on labelled data) and `match` (batch over files) to hubctl."""
    ev = subparsers.add_parser(
        "match-eval",
        help="generate labelled data, match it incrementally, report precision/recall/F1",
        description="Generate labelled alerts, migrant records and rescue notices, feed them to "
        "the matcher one by one in a random arrival order, and report precision, recall and F1 "
        "at the NOTIFY threshold and at the REVIEW threshold.",
    )
    ev.add_argument("--size", type=int, default=2000, help="persons in all (default 2000)")
    ev.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    _model_options(ev)
    ev.add_argument(
        "--tables",
        choices=("both", "lab", "wrong"),
        default="both",
        help="DNA scored with the run's lab table, with a deliberately wrong one (the shipped "
        "table, or --allele-table DIR if given), or both (default)",
    )
    ev.add_argument(
        "--without-dna",
        action="store_true",
        help="also match once with every STR profile dropped (what DNA adds)",
    )
    ev.add_argument(
        "--dna-bound-check",
        action="store_true",
        help="also match once without the bound on DNA candidates and print both recalls",
    )
    ev.add_argument(
        "--write-data", type=Path, metavar="DIR", help="also write the generated files here"
    )
    ev.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="format for --write-data"
    )
    ev.add_argument(
        "--fit-out", type=Path, metavar="FILE", help="estimate weights from this data and save them"
    )
    ev.add_argument(
        "--no-sampling",
        action="store_true",
        help="skip replaying the DNA-sampling requests for children of unknown origin",
    )
    ev.add_argument(
        "--no-name-effect",
        action="store_true",
        help="skip the second run that measures the name rules' effect on their subsets",
    )
    ev.set_defaults(handler=_match_eval)

    batch = subparsers.add_parser(
        "match",
        help="match alert files against record and rescue files, write pairs.csv",
        description="Batch mode with the same engine as the stream: every alert is searched "
        "against every record and rescue notice; one row per candidate pair with score, decision "
        "and explanation. Files are JSON Lines (.jsonl) or CSV with Chinese headers (.csv).",
    )
    batch.add_argument("--alerts", type=Path, required=True, help="alerts (and parents' DNA) file")
    batch.add_argument("--records", type=Path, required=True, help="migrant records file")
    batch.add_argument("--rescues", type=Path, help="rescue notices file")
    batch.add_argument("--out", type=Path, required=True, help="pairs CSV to write")
    batch.add_argument(
        "--all-candidates", action="store_true", help="also write pairs below review"
    )
    batch.add_argument(
        "--jobs",
        type=_jobs,
        default=len(os.sched_getaffinity(0)),
        metavar="N",
        help="search the alerts in N processes forked after the index is built (default: the "
        "CPUs this process may use; 1 searches in this process only)",
    )
    _model_options(batch)
    batch.set_defaults(handler=_match_batch)


def _jobs(text: str) -> int:
    try:
        jobs = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"at least 1 job, not {jobs}")
    return jobs


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allele-table",
        type=Path,
        metavar="DIR",
        help="allele-frequency table directory, or a directory of them (default: the "
        "HUB_ALLELE_TABLES setting, else the shipped table)",
    )
    parser.add_argument(
        "--theta",
        type=float,
        help="θ (F_ST) for the likelihood ratios (default: HUB_DNA_THETA, else 0.01)",
    )
    parser.add_argument("--weights", type=Path, help="weights JSON (default: the shipped one)")
    parser.add_argument("--notify", type=float, help="override the NOTIFY threshold")
    parser.add_argument("--review", type=float, help="override the REVIEW threshold")


def allele_tables(args: argparse.Namespace, directory: Path | None = None) -> TableSet:
    """The tables a command uses: --allele-table, else the hub setting, else the shipped one."""
    settings = load_settings()
    theta = args.theta if getattr(args, "theta", None) is not None else settings.dna_theta
    chosen = directory or getattr(args, "allele_table", None) or settings.allele_tables
    return TableSet.load(chosen, theta)


def _matcher(args: argparse.Namespace, tables: TableSet | None = None) -> Matcher:
    if args.weights:
        model = FellegiSunterModel.load(check_readable_file(args.weights, "weights file"))
    else:
        model = FellegiSunterModel.default()
    if args.notify is not None or args.review is not None:
        notify = args.notify if args.notify is not None else model.thresholds.notify
        review = args.review if args.review is not None else model.thresholds.review
        model = model.with_thresholds(notify, review)
    return Matcher(model, tables if tables is not None else allele_tables(args))


def _match_eval(args: argparse.Namespace) -> int:
    if args.size < 10:
        raise HubError("--size must be at least 10")
    started = time.perf_counter()
    data = generate(args.size, args.seed)
    generated = time.perf_counter() - started
    if data.world is None:  # pragma: no cover - generate() always draws a world
        raise HubError("the generated data has no lab table")
    theta = args.theta if args.theta is not None else load_settings().dna_theta
    lab = TableSet.single(data.world.lab_table.with_theta(theta))
    wrong = TableSet.load(args.allele_table, theta)
    runs = {"lab": [("lab's table", lab)], "wrong": [("wrong table", wrong)]}.get(
        args.tables, [("lab's table", lab), ("wrong table", wrong)]
    )
    matcher = _matcher(args, runs[0][1])
    if args.write_data:
        paths = write_dataset(args.write_data, data, args.format)
        table_dir = data.world.write_lab_table(args.write_data / "allele-table")
        print("wrote " + ", ".join(str(p) for p in [*paths.values(), table_dir]))
    if args.fit_out:
        from hub.matching.training import fit_dataset

        fitted = fit_dataset(data, matcher, seed=args.seed)
        fitted.save(args.fit_out)
        print(f"weights estimated from {len(data.labels)} true pairs saved to {args.fit_out}")
    t = matcher.model.thresholds
    world = data.world
    print(
        f"data: {len(data.alerts)} alerts ({len(data.parents_dna)} with parents' DNA), "
        f"{len(data.records)} migrant records, {len(data.rescues)} rescue notices, "
        f"{len(data.labels)} true pairs (seed {args.seed}, generated in {generated:.1f} s)"
    )
    print(
        f"DNA: kit {world.kit} ({len(world.truth.loci)} loci), lab {world.lab}, lab table "
        f"N = {world.lab_table.default_sample_size}, θ = {theta:g}"
    )
    print(f"thresholds: notify >= {t.notify:g}, review >= {t.review:g}")
    errors: list[str] = []
    first: tuple[Matcher, EvalReport] | None = None
    for title, tables in runs:
        matcher = _matcher(args, tables)
        report = evaluate(data, matcher, seed=args.seed)
        errors = report.errors
        first = first or (matcher, report)
        names = ", ".join(x.name for x in tables.tables)
        print(f"-- {title} ({names})")
        _print_report(report)
        if not args.no_sampling:
            notified = [pair_of(h) for h in report.hits if h.decision is Decision.NOTIFY]
            sampling = evaluate_sampling(data, matcher, data.sample_profile, notified,
                                         data.late_registered)
            for line in sampling.lines():
                print(line)
            print(sampling.with_record_hits(notified, data.labels).line("NOTIFY with samples"))
        if args.dna_bound_check:
            free = evaluate(data, matcher, seed=args.seed, dna_limit=None, dna_min_share=0.0)
            print(
                f"   DNA candidates without the bound: {free.dna_pairs_candidates}/"
                f"{free.dna_pairs} true DNA pairs, {free.dna_candidates_per_search:.1f} DNA "
                f"candidates per search, all-key candidate recall {free.candidate_recall:.3f}; "
                f"NOTIFY F1 {free.notify.f1:.3f} in {free.seconds:.1f} s"
            )
    if first is not None and not args.no_name_effect:
        # Measured once, with the first run's tables: the name rules do not touch DNA.
        print("names as recorded (rules before -> after: name kind read, sound-alike floor):")
        for effect in name_case_effect(data, first[0], first[1], seed=args.seed):
            print("  " + effect.line())
    if args.without_dna:
        bare = evaluate(data, _matcher(args, lab), seed=args.seed, without_dna=True)
        print("-- without DNA (every STR profile dropped)")
        print(bare.notify.line("NOTIFY"))
        for kind, scores in bare.by_kind.items():
            print(scores.line(f"  {kind}"))
    for err in errors[:20]:
        print(f"input error: {err}", file=sys.stderr)
    return 0


def _print_report(report: EvalReport) -> None:
    print(report.notify.line("NOTIFY"))
    print(report.notify_or_review.line("NOTIFY+REVIEW"))
    for kind, scores in report.by_kind.items():
        print(scores.line(f"  {kind}"))
        causes = ", ".join(f"{cause} {n}" for cause, n in report.misses.get(kind, {}).items())
        print(f"    missed at NOTIFY: {causes}")
        shared = ", ".join(f"{fact} {n}" for fact, n in report.miss_evidence.get(kind, {}).items())
        print(f"      what they share at best: {shared}")
    per_1000 = 1000 * report.dna_notified_false / report.rescues if report.rescues else 0.0
    print(
        f"DNA-notified: {report.dna_notified} NOTIFY made by DNA, {report.dna_notified_false} "
        f"false ({per_1000:.2f} per 1,000 rescue notices); profiles the table does not fit: "
        f"{report.unfit_profiles} of {report.dna_profiles}"
    )
    print(
        f"candidates: recall {report.candidate_recall:.3f}; DNA true pairs (parents' and "
        f"child's profiles) that became candidates {report.dna_pairs_candidates}/"
        f"{report.dna_pairs}, notified {report.dna_pairs_notified}, "
        f"{report.dna_candidates_per_search:.1f} DNA candidates per search (bounded)"
    )
    rate = report.persons / report.seconds if report.seconds else 0.0
    print(f"matched incrementally in {report.seconds:.2f} s ({rate:,.0f} persons/s)")


def _match_batch(args: argparse.Namespace) -> int:
    for path in (args.alerts, args.records, args.rescues):
        if path is not None:
            check_readable_file(path, "input file")
    started = time.perf_counter()
    result = run_batch(
        _matcher(args), args.alerts, args.records, args.rescues, args.out, args.all_candidates,
        jobs=args.jobs, runner=run_forked if args.jobs > 1 else in_turn,
    )
    seconds = time.perf_counter() - started
    print(
        f"{result.alerts} alerts against {result.persons} persons: {result.candidates} candidate "
        f"pairs, {result.notify} NOTIFY, {result.review} REVIEW; {result.rows_written} rows "
        f"written to {args.out} in {seconds:.2f} s (index {result.index_seconds:.2f} s, search "
        f"{result.search_seconds:.2f} s, {args.jobs} job{'s' if args.jobs > 1 else ''})"
    )
    if result.dna_unfit:
        print(
            f"{result.dna_unfit} of {result.dna_compared} DNA comparisons used a table that does "
            "not fit the profiles (see the explanation; such DNA cannot notify alone)",
            file=sys.stderr,
        )
    if result.errors:
        errors_path = args.out.with_suffix(".errors.txt")
        errors_path.write_text("\n".join(result.errors) + "\n", encoding="utf-8")
        print(f"{len(result.errors)} input problems kept in {errors_path}", file=sys.stderr)
    return 0
