"""hubctl topics apply|list: the topics declared in hub/topics.py."""

from __future__ import annotations

import argparse

from hub import topics
from hub.config import load_settings
from processors import topic_admin


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `topics apply|list` to the hubctl parser."""
    parser = subparsers.add_parser("topics", help="create, reconcile and list the hub's topics")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    apply = actions.add_parser(
        "apply", help="create missing topics, grow partitions, realign configs"
    )
    apply.add_argument(
        "--notifications-for",
        metavar="PARTICIPANT",
        action="append",
        default=[],
        help="also ensure this participant's notification topic (repeatable)",
    )
    apply.set_defaults(handler=_apply)
    actions.add_parser(
        "list", help="topics under the prefix, as the broker holds them"
    ).set_defaults(handler=_list)


def _apply(args: argparse.Namespace) -> int:
    settings = load_settings()
    specs = list(topics.TOPICS)
    specs += [topics.notification_spec(pid) for pid in args.notifications_for]
    changes = topic_admin.apply(settings, specs)
    for change in changes:
        print(change)
    print(f"{len(specs)} topics under prefix {settings.topic_prefix!r} match their declaration")
    return 0


def _list(args: argparse.Namespace) -> int:
    settings = load_settings()
    for state in topic_admin.list_topics(settings):
        retention = state.configs.get("retention.ms", "?")
        cleanup = state.configs.get("cleanup.policy", "?")
        insync = state.configs.get("min.insync.replicas", "?")
        print(
            f"{state.name:<48} partitions={state.partitions:<3} copies={state.replication} "
            f"min.insync={insync} retention.ms={retention:<12} cleanup.policy={cleanup}"
        )
    return 0
