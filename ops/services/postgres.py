"""The project's own PostgreSQL cluster: Debian's server binaries, a private data dir, loopback.

The cluster's location and the OS user that runs it are decided in `_pg_cluster`.
"""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from hub.config import PG_OWNER, PG_PIPELINE, PG_ROLES, Settings
from hub.secrets import ensure_secret
from ops.errors import ServiceError
from ops.services._pg_cluster import (
    SERVER_USER,
    SUPERUSER,
    PgPaths,
    as_root,
    find_bin_dir,
    server_argv,
)
from ops.services._status import ServiceStatus
from processors.processes import ensure_port_free, read_pid, run_checked

# pg_ctl's wait for the server, and ours for its first answer: generous, since crash recovery
# on a machine whose cores are busy can take minutes, and giving up early fails by chance.
START_TIMEOUT_S = 180.0

__all__ = ["PgPaths", "admin_dsn", "find_bin_dir", "probe", "start", "status", "stop"]


def running_pid(paths: PgPaths) -> int | None:
    """The postmaster's pid when this cluster runs.

    Its command line must name this cluster's directory (`postgres -D <dir>`): a stale
    postmaster.pid may hold a pid that now belongs to another cluster's process on the machine,
    whose command line says "postgres" too.
    """
    return read_pid(paths.pid_file, str(paths.cluster))


def _admin_password(paths: PgPaths) -> str:
    try:
        return paths.admin_secret.read_text().strip()
    except FileNotFoundError as err:
        raise ServiceError(
            f"the cluster in {paths.cluster} exists but its superuser password file "
            f"{paths.admin_secret} is missing; restore it or remove the cluster to start afresh"
        ) from err


def init_cluster(paths: PgPaths, bin_dir: Path) -> bool:
    """Run initdb once; False when the cluster already exists."""
    if (paths.cluster / "PG_VERSION").exists():
        return False
    password = secrets.token_urlsafe(24)
    paths.admin_secret.write_text(password + "\n")
    paths.admin_secret.chmod(0o600)
    pwfile = paths.root / ".initdb-pw"
    pwfile.write_text(password + "\n")
    try:
        if as_root():
            user = pwd.getpwnam(SERVER_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        run_checked(
            server_argv(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(paths.cluster),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                ]
            ),
            "PostgreSQL initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    with open(paths.cluster / "postgresql.conf", "a") as conf:
        conf.write("\n# Written by ops/services/postgres.py on every start.\n")
        conf.write("include_if_exists = 'hub.conf'\n")
    return True


def _write_hub_conf(paths: PgPaths) -> None:
    s = paths.settings
    # TCP on loopback only; no Unix socket, so nothing depends on /var/run/postgresql existing.
    text = (
        f"listen_addresses = '{s.pg_host}'\n"
        f"port = {s.pg_port}\n"
        "unix_socket_directories = ''\n"
        "max_connections = 100\n"
        "shared_buffers = 128MB\n"
        "fsync = on\n"
        "log_min_messages = warning\n"
    )
    conf = paths.cluster / "hub.conf"
    conf.write_text(text)
    if as_root():
        user = pwd.getpwnam(SERVER_USER)
        os.chown(conf, user.pw_uid, user.pw_gid)


def admin_dsn(settings: Settings, dbname: str = "postgres") -> str:
    """A superuser DSN for administrative work on the project's cluster."""
    password = _admin_password(PgPaths(settings))
    return (
        f"host={settings.pg_host} port={settings.pg_port} dbname={dbname} "
        f"user={SUPERUSER} password={password} connect_timeout=5"
    )


def start(settings: Settings) -> ServiceStatus:
    """Start the cluster unless it runs; create role and database; return once it answers."""
    paths = PgPaths(settings)
    pid = running_pid(paths)
    started = False
    if pid is None:
        bin_dir = find_bin_dir()
        ensure_port_free(settings.pg_host, settings.pg_port, "PostgreSQL")
        paths.prepare()
        init_cluster(paths, bin_dir)
        _drop_stale_pid_file(paths)
        _write_hub_conf(paths)
        argv = server_argv(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(paths.cluster),
                "-l",
                str(paths.log),
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
                "start",
            ]
        )
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S + 60,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise ServiceError(
                f"PostgreSQL did not start (exit {done.returncode}): "
                f"{(done.stdout + done.stderr).strip()[-800:]}; see {paths.log}"
            )
        pid = running_pid(paths)
        started = True
    _wait_ready(settings, deadline=time.monotonic() + START_TIMEOUT_S)
    ensure_role_and_database(settings)
    ok, detail = probe(settings)
    if not ok:
        raise ServiceError(f"PostgreSQL runs but the hub role cannot use it: {detail}")
    return ServiceStatus(
        "postgres", True, f"{settings.pg_host}:{settings.pg_port}", pid, detail, started
    )


def _drop_stale_pid_file(paths: PgPaths) -> None:
    # Left by a cluster that was killed: its pid may since have gone to another process, and
    # then the server refuses to start ("lock file already exists"). Nothing of this cluster
    # runs (no process names its directory, its port is free), so the file is stale.
    if paths.pid_file.exists() and running_pid(paths) is None:
        paths.pid_file.unlink(missing_ok=True)


def _wait_ready(settings: Settings, deadline: float) -> None:
    last = "no answer yet"
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(admin_dsn(settings), autocommit=True) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.Error as err:
            last = str(err).strip()
        time.sleep(0.3)
    raise ServiceError(
        f"PostgreSQL did not answer on {settings.pg_host}:{settings.pg_port}: {last}"
    )


def ensure_role_and_database(settings: Settings) -> None:
    """Create the hub's three roles (passwords from their 0600 files) and its default database.

    The owner role owns every database and table and runs migrations; the pipeline and reader
    roles get their privileges from `ops.db.grant_privileges` after each migration.
    """
    with psycopg.connect(admin_dsn(settings), autocommit=True) as conn:
        for role in PG_ROLES:
            password = ensure_secret(settings.pg_secret_file(role))
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
            extra = sql.SQL(" CREATEDB" if role == PG_OWNER else " NOCREATEDB")
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEROLE{} PASSWORD {}").format(
                    verb, sql.Identifier(role), extra, sql.Literal(password)
                )
            )
        owner = sql.Identifier(PG_OWNER)
        _hand_over_from_pipeline(settings, conn)
        # DROP DATABASE ... WITH (FORCE) must end every session in the database, autovacuum
        # workers included; without this the owner cannot drop its own test databases.
        conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(owner))
        has_db = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.pg_database,)
        ).fetchone()
        if not has_db:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(settings.pg_database), owner
                )
            )
        else:
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(settings.pg_database), owner
                )
            )


def _hand_over_from_pipeline(settings: Settings, conn: psycopg.Connection[Any]) -> None:
    """Databases made when the pipeline role owned everything pass to the owner role."""
    rows = conn.execute(
        "SELECT d.datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
        "WHERE r.rolname = %s", (PG_PIPELINE,)
    ).fetchall()
    for (name,) in rows:
        with psycopg.connect(admin_dsn(settings, name), autocommit=True) as inside:
            inside.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                sql.Identifier(PG_PIPELINE), sql.Identifier(PG_OWNER)))


def probe(settings: Settings) -> tuple[bool, str]:
    """Run a real query as the application role; (True, server version) when it works."""
    try:
        with psycopg.connect(settings.pg_dsn, connect_timeout=5, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as err:
        return False, str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
    version = row[0] if row else "?"
    return True, f"PostgreSQL {version}, database {settings.pg_database}"


def status(settings: Settings) -> ServiceStatus:
    """Health of the cluster without starting it."""
    paths = PgPaths(settings)
    address = f"{settings.pg_host}:{settings.pg_port}"
    pid = running_pid(paths)
    if pid is None:
        return ServiceStatus("postgres", False, address, None, "not running")
    ok, detail = probe(settings)
    return ServiceStatus("postgres", ok, address, pid, detail)


def stop(settings: Settings) -> str:
    """Stop the cluster with pg_ctl's fast mode (active sessions are rolled back)."""
    paths = PgPaths(settings)
    pid = running_pid(paths)
    if pid is None:
        return "postgres: not running"
    bin_dir = find_bin_dir()
    run_checked(
        server_argv(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(paths.cluster),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
            ]
        ),
        "PostgreSQL stop",
        timeout=90,
    )
    return f"postgres: stopped (pid {pid})"
