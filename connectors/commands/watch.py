"""hub-connector watch: publish files dropped into a folder; move each to done/ or failed/."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from connectors.commands.publish import describe
from connectors.publisher import PublishReport
from connectors.readers import SUPPORTED_SUFFIXES
from connectors.runtime import (
    add_config_argument,
    config_from,
    connect,
    finish_sending,
    open_publisher,
    say,
    start_sending,
)
from hub.paths import check_folder
from hub.secrets import make_private_dirs


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `watch FOLDER` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "watch", help="publish every file dropped into a folder",
        description=(
            "Files put in DIR are published with --type; files put in DIR/<event-type>/ are "
            "published as that type. Each file then moves to done/ (with its rejects file, if "
            "any rows were rejected) or to failed/ when it could not be read at all."
        ),
    )
    parser.add_argument("folder", type=Path, metavar="DIR")
    parser.add_argument("--type", dest="event_type",
                        help="event type of files put directly in DIR")
    parser.add_argument("--mapping", type=Path, help="column mapping for files of --type")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="seconds between looks at the folder (default 5)")
    parser.add_argument("--once", action="store_true",
                        help="handle the files there now, then stop")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def _move(path: Path, folder: Path) -> Path:
    # The files moved there hold personal data: a folder made here is owner only.
    make_private_dirs(folder)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{time.strftime('%Y%m%d%H%M%S')}{path.suffix}"
    shutil.move(str(path), target)
    return target


def _candidates(root: Path, event_type: str | None, known: list[str]) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    places = [(root, event_type)] + [(root / t, t) for t in known if (root / t).is_dir()]
    for place, kind in places:
        if kind is None:
            continue
        for path in sorted(place.iterdir()):
            if (path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES
                    and not path.name.endswith(".rejects.csv") and not path.name.startswith(".")):
                found.append((path, kind))
    return found


def _settled(path: Path, sizes: dict[Path, int]) -> bool:
    """A file is taken only once its size stopped changing (it may still be being copied)."""
    size = path.stat().st_size
    previous = sizes.get(path)
    sizes[path] = size
    return previous == size


def run(args: argparse.Namespace) -> int:
    """Publish each settled file, then move it to done/ or failed/; loops unless --once."""
    root: Path = check_folder(args.folder, "watched folder")
    config = config_from(args)
    sizes: dict[Path, int] = {}
    with open_publisher(config) as publisher:
        known = publisher.catalog.event_types()
        while True:
            if publisher.sender is None:
                publisher.sender = connect(config)
            start_sending(publisher)
            for path, kind in _candidates(root, args.event_type, known):
                if not args.once and not _settled(path, sizes):
                    continue
                mapping = args.mapping if kind == args.event_type else None
                report: PublishReport = publisher.publish_file(path, kind, mapping_path=mapping)
                describe(report)
                destination = root / ("failed" if report.file_error else "done")
                moved = _move(path, destination)
                if report.rejects_path is not None and report.rejects_path.exists():
                    _move(report.rejects_path, destination)
                sizes.pop(path, None)
                say(f"{path.name} -> {moved}")
            sent, pending = finish_sending(publisher)
            if args.once:
                say(f"summary: sent {sent}, pending {pending}")
                return 0
            time.sleep(args.interval)
