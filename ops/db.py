"""Schema migrations and database administration for the hub's PostgreSQL.

Migrations are numbered SQL files in ops/migrations/ (`0001_what_it_does.sql`), applied in order,
each in its own transaction, and recorded in `schema_migrations` with a checksum so that an
applied file edited afterwards is reported rather than silently diverging.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from hub.config import PG_PIPELINE, PG_READER, Settings
from ops.errors import MigrationError, ServiceError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Any fixed number works; it only has to be the same for every process migrating a database.
_LOCK_KEY = 2_026_0002

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


# Tables that only grow: the pipeline may add rows and read them, never change or remove them.
APPEND_ONLY = ("event_store", "disclosure_audit", "case_audit")


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: str
    name: str
    path: Path

    @property
    def sql_text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def label(self) -> str:
        return self.path.name


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in `directory`, ordered by number; bad names are errors."""
    found: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path}: migration file names must look like 0001_lower_case_words.sql"
            )
        version = match.group(1)
        if version in found:
            raise MigrationError(
                f"{path}: number {version} is already used by {found[version].path.name}"
            )
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations not yet applied to the database at `dsn`; their file names.

    `dsn` is the owner role's (Settings.pg_owner_dsn). Afterwards the pipeline and reader roles
    get exactly their privileges on whatever the migrations made (grant_privileges).
    """
    migrations = discover(directory)
    applied_now: list[str] = []
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            # Serialises concurrent migrators (two test sessions, `services up` twice at once).
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                conn.execute(_CREATE_TABLE)
                rows = conn.execute("SELECT version, name, checksum FROM schema_migrations")
                done = {version: (name, checksum) for version, name, checksum in rows.fetchall()}
                for migration in migrations:
                    if migration.version in done:
                        _check_unchanged(migration, *done[migration.version])
                        continue
                    _apply(conn, migration)
                    applied_now.append(migration.label)
                grant_privileges(conn)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    except psycopg.OperationalError as err:
        raise ServiceError(f"cannot reach PostgreSQL to migrate: {err}") from err
    return applied_now


def grant_privileges(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Give the pipeline role read and write on every table but the append-only ones, where it
    may only insert and read, and the reader role read access alone; idempotent.

    Neither role owns anything, so neither can alter a table or disable its triggers.
    """
    pipeline, reader = sql.Identifier(PG_PIPELINE), sql.Identifier(PG_READER)
    with conn.transaction():
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}, {}").format(pipeline, reader))
        conn.execute(sql.SQL(
            "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO {}"
        ).format(pipeline))
        conn.execute(sql.SQL(
            "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}"
        ).format(pipeline))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(reader))
        conn.execute(sql.SQL("REVOKE ALL ON schema_migrations FROM {}").format(pipeline))
        conn.execute(sql.SQL("GRANT SELECT ON schema_migrations TO {}").format(pipeline))
        for table in APPEND_ONLY:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                continue
            conn.execute(sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                sql.Identifier(table), pipeline))


def _check_unchanged(migration: Migration, name: str, checksum: str) -> None:
    if checksum != migration.checksum:
        raise MigrationError(
            f"{migration.label} was changed after it was applied (as {migration.version}_{name}); "
            "applied migrations are immutable: put the change in a new numbered file"
        )


def _apply(conn: psycopg.Connection[tuple[object, ...]], migration: Migration) -> None:
    try:
        with conn.transaction():
            # Without parameters psycopg sends the text as one simple query, so a file may hold
            # several statements.
            conn.execute(migration.sql_text.encode("utf-8"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as err:
        raise MigrationError(f"{migration.label} failed and was rolled back: {err}") from err


def applied(dsn: str) -> list[tuple[str, str]]:
    """(version, name) of every migration recorded in the database, in order."""
    with psycopg.connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
        if exists is None or exists[0] is None:
            return []
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(str(v), str(n)) for v, n in rows.fetchall()]


def _check_name(name: str) -> None:
    if _DB_NAME.match(name) is None:
        raise ServiceError(
            f"database name {name!r} is not allowed: use lower-case letters, digits and _ "
            "(at most 63, not starting with a digit)"
        )


def create_database(
    settings: Settings, name: str, *, exist_ok: bool = True, template: str | None = None
) -> Settings:
    """Create database `name` owned by the owner role; the settings that point at it.

    With `template`, the new database is a copy of that one (which must have no open sessions):
    much faster than migrating a new database when tests need many.
    """
    _check_name(name)
    if template is not None:
        _check_name(template)
    with psycopg.connect(settings.pg_owner_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not exist_ok:
            raise ServiceError(f"database {name!r} already exists")
        if not exists:
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template is not None:
                statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            try:
                conn.execute(statement)
            except psycopg.Error as err:
                raise ServiceError(f"cannot create database {name!r}: {err}") from err
    return settings.with_overrides(pg_database=name)


def drop_database(settings: Settings, name: str) -> None:
    """Drop database `name` (closing its sessions); nothing happens when it does not exist."""
    _check_name(name)
    if name == settings.pg_database:
        # Connect through the maintenance database: one cannot drop the database one is in.
        settings = settings.with_overrides(pg_database="postgres")
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    last: psycopg.Error | None = None
    # A session may connect between FORCE's termination and the drop; a retry then succeeds.
    for attempt in range(5):
        try:
            with psycopg.connect(settings.pg_owner_dsn, autocommit=True) as conn:
                conn.execute(statement)
            return
        except (psycopg.errors.ObjectInUse, psycopg.errors.InsufficientPrivilege) as err:
            last = err
            time.sleep(0.2 * (attempt + 1))
    raise ServiceError(f"cannot drop database {name!r}: {last}") from last
