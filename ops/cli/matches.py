"""hubctl matches review | failures: the streaming matcher's lists for operators."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hub.config import load_settings
from hub.store import to_jsonable
from processors.pg_matching import PgMatchStore


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "matches", help="the matcher's review list and the events it could not use"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    review = actions.add_parser(
        "review",
        help="pairs between the review and notify thresholds, awaiting an operator",
        description="List undecided pairs that scored between the thresholds, best first, "
        "with the evidence for each.",
    )
    review.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    review.add_argument("--json", action="store_true", help="one JSON object per line")
    review.set_defaults(handler=_review)
    failures = actions.add_parser("failures", help="events kept because they could not be matched")
    failures.set_defaults(handler=_failures)


def _review(args: argparse.Namespace) -> int:
    store = PgMatchStore(load_settings().pg_dsn)
    try:
        rows = store.review_list(args.limit)
    finally:
        store.close()
    if args.json:
        for row in rows:
            print(json.dumps(to_jsonable(row), ensure_ascii=False))
        return 0
    if not rows:
        print("review list is empty")
        return 0
    for row in rows:
        print(_line(row))
        for evidence in row["explanation"] or []:
            print(f"    {evidence}")
    print(f"{len(rows)} pairs to review")
    return 0


def _line(row: dict[str, Any]) -> str:
    child = "" if row["child_index"] is None else f" child {row['child_index']}"
    return (
        f"{row['match_id']}  score {row['score']:.1f}  alert {row['alert_id']}  "
        f"{row['counterpart_kind']} {row['counterpart_id']}{child}  "
        f"since {row['first_found_at']:%Y-%m-%d %H:%M}"
    )


def _failures(args: argparse.Namespace) -> int:
    store = PgMatchStore(load_settings().pg_dsn)
    try:
        rows = store.failures()
    finally:
        store.close()
    for event_id, event_type, reason in rows:
        print(f"{event_id}  {event_type}: {reason}")
    print(f"{len(rows)} events could not be matched")
    return 0
