"""hubctl schemas check|list: the payload schemas and their evolution rules."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hub.evolution import check_directory
from hub.paths import check_folder
from hub.schema_catalog import SchemaCatalog


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `schemas check|list` to the hubctl parser."""
    parser = subparsers.add_parser("schemas", help="list payload schemas, check evolution rules")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="check every version against every earlier one (schemas/EVOLUTION.md)"
    )
    check.add_argument(
        "--dir", type=Path, default=None, help="schema directory (default: schemas/)"
    )
    check.set_defaults(handler=_check)
    listing = actions.add_parser("list", help="event types, versions and fingerprints")
    listing.add_argument("--dir", type=Path, default=None, help="schema directory")
    listing.set_defaults(handler=_list)


def _check(args: argparse.Namespace) -> int:
    if args.dir is not None:
        check_folder(args.dir, "schema folder")
    violations = check_directory(args.dir)
    for violation in violations:
        print(violation, file=sys.stderr)
    if violations:
        print(
            f"{len(violations)} schema rule violation(s); see schemas/EVOLUTION.md", file=sys.stderr
        )
        return 1
    catalog = SchemaCatalog.load(args.dir)
    count = sum(len(catalog.versions(t)) for t in catalog.event_types())
    print(f"ok: {len(catalog.event_types())} event types, {count} versions follow the rules")
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.dir is not None:
        check_folder(args.dir, "schema folder")
    catalog = SchemaCatalog.load(args.dir)
    for event_type in catalog.event_types():
        for sv in catalog.versions(event_type):
            latest = " (latest)" if sv is catalog.latest(event_type) else ""
            print(f"{event_type:<24} v{sv.version:<3} {sv.fingerprint.hex()}{latest}")
    return 0
