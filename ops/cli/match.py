"""hubctl match-eval (quality on labelled data) and hubctl match (batch over files)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hub.errors import HubError
from hub.matching.batch import run_batch
from hub.matching.evaluation import evaluate, name_case_effect
from hub.matching.matcher import Matcher
from hub.matching.model import FellegiSunterModel
from hub.matching.synthetic import generate
from hub.matching.synthetic.files import write_dataset
from hub.paths import check_readable_file


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        "--write-data", type=Path, metavar="DIR", help="also write the generated files here"
    )
    ev.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="format for --write-data"
    )
    ev.add_argument(
        "--fit-out", type=Path, metavar="FILE", help="estimate weights from this data and save them"
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
    _model_options(batch)
    batch.set_defaults(handler=_match_batch)


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", type=Path, help="weights JSON (default: the shipped one)")
    parser.add_argument("--notify", type=float, help="override the NOTIFY threshold")
    parser.add_argument("--review", type=float, help="override the REVIEW threshold")


def _matcher(args: argparse.Namespace) -> Matcher:
    if args.weights:
        model = FellegiSunterModel.load(check_readable_file(args.weights, "weights file"))
    else:
        model = FellegiSunterModel.default()
    if args.notify is not None or args.review is not None:
        notify = args.notify if args.notify is not None else model.thresholds.notify
        review = args.review if args.review is not None else model.thresholds.review
        model = model.with_thresholds(notify, review)
    return Matcher(model)


def _match_eval(args: argparse.Namespace) -> int:
    if args.size < 10:
        raise HubError("--size must be at least 10")
    started = time.perf_counter()
    data = generate(args.size, args.seed)
    generated = time.perf_counter() - started
    matcher = _matcher(args)
    if args.write_data:
        paths = write_dataset(args.write_data, data, args.format)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    if args.fit_out:
        from hub.matching.training import fit_dataset

        fitted = fit_dataset(data, matcher, seed=args.seed)
        fitted.save(args.fit_out)
        print(f"weights estimated from {len(data.labels)} true pairs saved to {args.fit_out}")
    report = evaluate(data, matcher, seed=args.seed)
    t = matcher.model.thresholds
    print(
        f"data: {len(data.alerts)} alerts, {len(data.records)} migrant records, "
        f"{len(data.rescues)} rescue notices, {report.persons} persons, "
        f"{len(data.labels)} true pairs (seed {args.seed}, generated in {generated:.1f} s)"
    )
    print(f"thresholds: notify >= {t.notify:g}, review >= {t.review:g}")
    print(report.notify.line("NOTIFY"))
    print(report.notify_or_review.line("NOTIFY+REVIEW"))
    rate = report.persons / report.seconds if report.seconds else 0.0
    print(f"matched incrementally in {report.seconds:.2f} s ({rate:,.0f} persons/s)")
    if not args.no_name_effect:
        print("names as recorded (rules before -> after: name kind read, sound-alike floor):")
        for effect in name_case_effect(data, matcher, report, seed=args.seed):
            print("  " + effect.line())
    for err in report.errors[:20]:
        print(f"input error: {err}", file=sys.stderr)
    return 0


def _match_batch(args: argparse.Namespace) -> int:
    for path in (args.alerts, args.records, args.rescues):
        if path is not None:
            check_readable_file(path, "input file")
    started = time.perf_counter()
    result = run_batch(
        _matcher(args), args.alerts, args.records, args.rescues, args.out, args.all_candidates
    )
    seconds = time.perf_counter() - started
    print(
        f"{result.alerts} alerts against {result.persons} persons: {result.candidates} candidate "
        f"pairs, {result.notify} NOTIFY, {result.review} REVIEW; {result.rows_written} rows "
        f"written to {args.out} in {seconds:.2f} s"
    )
    if result.errors:
        errors_path = args.out.with_suffix(".errors.txt")
        errors_path.write_text("\n".join(result.errors) + "\n", encoding="utf-8")
        print(f"{len(result.errors)} input problems kept in {errors_path}", file=sys.stderr)
    return 0
