"""hubctl db migrate|status: schema migrations of the hub's PostgreSQL databases."""

from __future__ import annotations

import argparse

from hub.config import Settings, load_settings
from ops import db


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `db migrate|status` to the hubctl parser."""
    parser = subparsers.add_parser("db", help="schema migrations of the hub's databases")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    migrate = actions.add_parser("migrate", help="apply the migrations not yet applied")
    migrate.add_argument(
        "--database", metavar="NAME", help="database to migrate (default: the hub's own)"
    )
    migrate.set_defaults(handler=_migrate)
    status = actions.add_parser("status", help="list applied and pending migrations")
    status.add_argument("--database", metavar="NAME", help="database (default: the hub's own)")
    status.set_defaults(handler=_status)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if args.database:
        settings = settings.with_overrides(pg_database=args.database)
    return settings


def _migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    applied = db.migrate(settings.pg_owner_dsn)
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print(f"database {settings.pg_database} is up to date")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    done = {version for version, _ in db.applied(settings.pg_dsn)}
    for migration in db.discover():
        state = "applied" if migration.version in done else "pending"
        print(f"{state:<8} {migration.label}")
    return 0
