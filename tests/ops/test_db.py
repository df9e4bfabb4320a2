"""The migration runner: order, idempotence, rollback, immutability, fresh databases."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hub.config import Settings
from ops import db
from ops.errors import MigrationError, ServiceError


def _write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text, encoding="utf-8")


class TestDiscovery:
    def test_files_are_ordered_by_number(self, tmp_path: Path) -> None:
        """Migrations come back in numeric order whatever the directory listing says."""
        _write(tmp_path, "0010_b.sql", "SELECT 1;")
        _write(tmp_path, "0002_a.sql", "SELECT 1;")
        assert [m.label for m in db.discover(tmp_path)] == ["0002_a.sql", "0010_b.sql"]

    @pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
    def test_badly_named_files_are_errors(self, tmp_path: Path, name: str) -> None:
        """A .sql file with a bad name is reported by name, never silently skipped."""
        _write(tmp_path, name, "SELECT 1;")
        with pytest.raises(MigrationError, match=name):
            db.discover(tmp_path)

    def test_duplicate_numbers_are_errors(self, tmp_path: Path) -> None:
        """Two files with the same number are refused, naming both."""
        _write(tmp_path, "0003_one.sql", "SELECT 1;")
        _write(tmp_path, "0003_two.sql", "SELECT 1;")
        with pytest.raises(MigrationError, match=r"0003_one\.sql"):
            db.discover(tmp_path)

    def test_project_migrations_are_well_formed(self) -> None:
        """The files in ops/migrations/ all follow the naming rule, numbered without repeats,
        each holding SQL; discover finds every one of them, in order."""
        files = sorted(p.name for p in db.MIGRATIONS_DIR.glob("*.sql"))
        found = db.discover()
        assert [m.path.name for m in found] == files and len(files) >= 9
        assert [m.version for m in found] == sorted({m.version for m in found})
        assert all(m.sql_text.strip() for m in found)

    def test_bad_database_names_are_refused(self, tmp_path: Path) -> None:
        """A database name that would need quoting is refused before reaching the server."""
        with pytest.raises(ServiceError, match="not allowed"):
            db.create_database(Settings(data_dir=tmp_path), "x; DROP DATABASE hub")


@pytest.fixture
def scratch_dsn(hub_settings: Settings) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"{hub_settings.pg_database}_{secrets.token_hex(3)}"
    settings = db.create_database(hub_settings, name, exist_ok=False)
    yield settings.pg_owner_dsn
    db.drop_database(hub_settings, name)


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


@pytest.mark.services
class TestMigrate:
    def test_applies_in_order_once(self, scratch_dsn: str, tmp_path: Path) -> None:
        """Pending files are applied in order and recorded; a second run applies nothing."""
        _write(tmp_path, "0001_alerts.sql", "CREATE TABLE alerts (id int PRIMARY KEY);")
        _write(
            tmp_path,
            "0002_alert_names.sql",
            "ALTER TABLE alerts ADD COLUMN name text; CREATE INDEX ON alerts (name);",
        )
        assert db.migrate(scratch_dsn, tmp_path) == ["0001_alerts.sql", "0002_alert_names.sql"]
        assert db.migrate(scratch_dsn, tmp_path) == []
        assert db.applied(scratch_dsn) == [("0001", "alerts"), ("0002", "alert_names")]

    def test_failed_file_is_rolled_back_whole(self, scratch_dsn: str, tmp_path: Path) -> None:
        """A failing file leaves none of its statements behind and is not recorded."""
        _write(tmp_path, "0001_ok.sql", "CREATE TABLE kept (id int);")
        _write(tmp_path, "0002_broken.sql", "CREATE TABLE half (id int); SELECT * FROM nowhere;")
        with pytest.raises(MigrationError, match=r"0002_broken\.sql.*nowhere"):
            db.migrate(scratch_dsn, tmp_path)
        assert "kept" in _tables(scratch_dsn)
        assert "half" not in _tables(scratch_dsn)
        assert db.applied(scratch_dsn) == [("0001", "ok")]

    def test_edited_applied_file_is_reported(self, scratch_dsn: str, tmp_path: Path) -> None:
        """Changing a file after it was applied is an error naming the file."""
        _write(tmp_path, "0001_t.sql", "CREATE TABLE t (id int);")
        db.migrate(scratch_dsn, tmp_path)
        _write(tmp_path, "0001_t.sql", "CREATE TABLE t (id bigint);")
        with pytest.raises(MigrationError, match=r"0001_t\.sql was changed"):
            db.migrate(scratch_dsn, tmp_path)

    def test_project_migrations_apply_to_a_fresh_database(self, scratch_dsn: str) -> None:
        """All of ops/migrations/ applies to an empty database, and re-running is a no-op."""
        applied = db.migrate(scratch_dsn)
        assert applied == [m.label for m in db.discover()]
        assert db.migrate(scratch_dsn) == []


@pytest.mark.services
class TestFreshDatabases:
    def test_fresh_database_is_migrated_and_empty(self, fresh_db_settings: Settings) -> None:
        """A per-test database has every migration recorded and is not the run's database."""
        labels = [f"{v}_{n}.sql" for v, n in db.applied(fresh_db_settings.pg_dsn)]
        assert labels == [m.label for m in db.discover()]
        assert db.migrate(fresh_db_settings.pg_owner_dsn) == []

    def test_fresh_databases_do_not_share_rows(
        self, fresh_db_settings: Settings, hub_settings: Settings
    ) -> None:
        """A table written in the per-test database does not exist in the run's database."""
        with psycopg.connect(fresh_db_settings.pg_owner_dsn) as conn:
            conn.execute("CREATE TABLE only_here (id int)")
        assert "only_here" in _tables(fresh_db_settings.pg_dsn)
        assert "only_here" not in _tables(hub_settings.pg_dsn)

    def test_drop_ends_sessions_of_other_roles(self, hub_settings: Settings) -> None:
        """The owner role drops its database even while another role's session is inside it."""
        from ops.services import postgres

        role, password = f"reader_{secrets.token_hex(3)}", secrets.token_hex(8)
        name = f"{hub_settings.pg_database}_{secrets.token_hex(3)}"
        with psycopg.connect(postgres.admin_dsn(hub_settings), autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        try:
            other = db.create_database(hub_settings, name)
            intruder_dsn = (f"host={other.pg_host} port={other.pg_port} dbname={name} "
                            f"user={role} password={password}")
            with psycopg.connect(intruder_dsn, autocommit=True) as intruder:
                intruder.execute("SELECT 1")
                db.drop_database(hub_settings, name)
            with psycopg.connect(hub_settings.pg_dsn) as conn:
                gone = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                assert gone.fetchone() is None
        finally:
            with psycopg.connect(postgres.admin_dsn(hub_settings), autocommit=True) as admin:
                admin.execute(f"DROP ROLE IF EXISTS {role}")
