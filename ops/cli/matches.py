"""hubctl matches review [promote|dismiss] | failures: the streaming matcher's lists for operators,
and the review queue's acts (signed operator events, processors.review_stage)."""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from hub.config import load_settings
from hub.review import ReviewAct
from hub.store import to_jsonable
from processors.pg_matching import PgMatchStore


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `matches review [promote|dismiss]` and `matches failures` to the hubctl parser."""
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
    acts = review.add_subparsers(dest="review_action", metavar="ACT")
    for name, words in (("promote", "notify the pair to the police units like any hit"),
                        ("dismiss", "take the pair off the queue; nobody is notified")):
        act = acts.add_parser(
            name, help=words,
            description=f"{name.capitalize()} a review pair: {words}. The act is a "
            "review event signed with the hub operator's key and published to the ingest topic; "
            "the workers apply it (check with `hubctl matches review`).")
        act.add_argument("match_id", help="the pair's match id (from `hubctl matches review`)")
        act.add_argument("--reason", required=True, help="why, in a few words (kept in the log)")
        act.add_argument("--operator", default=getpass.getuser(),
                         help="who acts, as recorded in the event (default: your login name)")
        act.set_defaults(handler=_act, act=ReviewAct.PROMOTE if name == "promote"
                         else ReviewAct.DISMISS)
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


def _act(args: argparse.Namespace) -> int:
    from processors.review_stage import publish_review_act

    envelope = publish_review_act(load_settings(), args.act, args.match_id,
                                  operator=args.operator, reason=args.reason)
    print(f"{args.act.value} for pair {args.match_id} signed and published "
          f"(event {envelope.event_id}); the workers apply it, then it leaves the review list")
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
