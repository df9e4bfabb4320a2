"""The project's own PostgreSQL cluster: Debian's server binaries, a private data dir, loopback.

PostgreSQL refuses to run as root. When hubctl runs as root, the server runs as the `postgres`
system user (created if missing) and the cluster directory belongs to it. That user must be able
to reach the cluster directory; when the data dir sits below a directory it cannot enter (e.g. a
checkout under a private home), the cluster goes to /var/lib/exchange-hub/<hash>/postgres instead
and .data/postgres.location says where. A fallback cluster found there without that note
belongs to an earlier checkout whose .data is gone: it is set aside, and a new one made.
The superuser's password is generated at initdb and kept beside the cluster, readable by its
owner only; the hub's own role (`hub`) is what the rest of the project uses.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from hub.config import Settings
from hub.errors import ServiceError, ToolMissingError
from ops.services._proc import INSTALL_HINT, ensure_port_free, read_pid, run_checked
from ops.services._status import ServiceStatus

SERVER_USER = "postgres"
SUPERUSER = "postgres"
FALLBACK_ROOT = Path("/var/lib/exchange-hub")


def find_bin_dir() -> Path:
    """The directory holding pg_ctl and initdb, newest installed major version first."""
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found is not None:
            candidate = Path(found).resolve().parent
            if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
                return candidate
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in versions:
        if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
            return candidate
    raise ToolMissingError(f"PostgreSQL server programs (pg_ctl, initdb) not found; {INSTALL_HINT}")


def _as_root() -> bool:
    return os.geteuid() == 0


def _server_argv(argv: list[str]) -> list[str]:
    """Run `argv` as the server's owner: the postgres user when we are root, else ourselves."""
    if not _as_root():
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ToolMissingError(
            "`runuser` (util-linux) is needed to run PostgreSQL as root's helper"
        )
    return [runuser, "-u", SERVER_USER, "--", *argv]


def _ensure_server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ToolMissingError(f"no `{SERVER_USER}` user and no `useradd` to create it")
    run_checked(
        [
            useradd,
            "--system",
            "--user-group",
            "--home-dir",
            "/var/lib/postgresql",
            "--shell",
            "/usr/sbin/nologin",
            SERVER_USER,
        ],
        f"creating the {SERVER_USER} system user",
    )
    return pwd.getpwnam(SERVER_USER)


def _reachable_by_server_user(directory: Path) -> bool:
    done = subprocess.run(
        _server_argv(["test", "-x", str(directory), "-a", "-r", str(directory)]),
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


class PgPaths:
    """Where the cluster, its log and the superuser's password file live."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.location_note = settings.data_dir / "postgres.location"
        self.root = self._chosen_root()
        self.cluster = self.root / "data"
        self.log = self.root / "postgres.log"
        self.pid_file = self.cluster / "postmaster.pid"

    @property
    def admin_secret(self) -> Path:
        """The superuser's password, kept beside the cluster so the two never part."""
        return self.root.parent / "postgres-admin.secret"

    def _chosen_root(self) -> Path:
        if self.location_note.exists():
            return Path(self.location_note.read_text().strip())
        return self.settings.data_dir / "postgres"

    def prepare(self) -> None:
        """Create the root dir owned by the server user, moving to the fallback if unreachable."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if _as_root():
            user = _ensure_server_user()
            if not self.location_note.exists() and not _reachable_by_server_user(
                self.settings.data_dir
            ):
                digest = hashlib.sha256(str(self.settings.data_dir.resolve()).encode()).hexdigest()
                self.root = FALLBACK_ROOT / digest[:12] / "postgres"
                self.cluster, self.log = self.root / "data", self.root / "postgres.log"
                self.pid_file = self.cluster / "postmaster.pid"
                FALLBACK_ROOT.mkdir(mode=0o755, exist_ok=True)
                _retire_orphan(self.root.parent)
                self.root.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                self.location_note.write_text(f"{self.root}\n")
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            if not _reachable_by_server_user(self.root):
                raise ServiceError(
                    f"the {SERVER_USER} user cannot enter {self.root}; make every directory "
                    f"above it traversable (chmod o+x) or set HUB_DATA_DIR to a directory it "
                    f"can reach"
                )
        else:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)


def _retire_orphan(base: Path) -> None:
    """Set aside a fallback cluster left by an earlier checkout at the same path.

    That checkout's .data (its Kafka log included) is gone, so its event store no longer matches
    any log: the new checkout starts afresh. The old cluster is stopped and renamed, not deleted;
    only the previous set-aside copy for this path is removed, so disk use stays bounded.
    """
    if not base.exists():
        return
    cluster = base / "postgres" / "data"
    if read_pid(cluster / "postmaster.pid", "postgres") is not None:
        run_checked(
            _server_argv(
                [str(find_bin_dir() / "pg_ctl"), "-D", str(cluster), "-m", "fast", "-w", "stop"]
            ),
            f"stopping the orphaned cluster in {cluster}",
            timeout=90,
        )
    for older in base.parent.glob(f"{base.name}.orphaned-*"):
        shutil.rmtree(older)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = base.with_name(f"{base.name}.orphaned-{stamp}")
    base.rename(target)
    print(f"postgres: set aside the cluster of an earlier checkout at this path: {target}")


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
        if _as_root():
            user = pwd.getpwnam(SERVER_USER)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        run_checked(
            _server_argv(
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
    if _as_root():
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
    pid = read_pid(paths.pid_file, "postgres")
    started = False
    if pid is None:
        bin_dir = find_bin_dir()
        ensure_port_free(settings.pg_host, settings.pg_port, "PostgreSQL")
        paths.prepare()
        init_cluster(paths, bin_dir)
        _write_hub_conf(paths)
        argv = _server_argv(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(paths.cluster),
                "-l",
                str(paths.log),
                "-w",
                "-t",
                "90",
                "start",
            ]
        )
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise ServiceError(
                f"PostgreSQL did not start (exit {done.returncode}): "
                f"{(done.stdout + done.stderr).strip()[-800:]}; see {paths.log}"
            )
        pid = read_pid(paths.pid_file, "postgres")
        started = True
    _wait_ready(settings, deadline=time.monotonic() + 60)
    ensure_role_and_database(settings)
    ok, detail = probe(settings)
    if not ok:
        raise ServiceError(f"PostgreSQL runs but the hub role cannot use it: {detail}")
    return ServiceStatus(
        "postgres", True, f"{settings.pg_host}:{settings.pg_port}", pid, detail, started
    )


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
    """Create (or realign the password of) the application role, and its default database."""
    with psycopg.connect(admin_dsn(settings), autocommit=True) as conn:
        role = sql.Identifier(settings.pg_user)
        exists = conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (settings.pg_user,)
        ).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                verb, role, sql.Literal(settings.pg_password)
            )
        )
        has_db = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.pg_database,)
        ).fetchone()
        if not has_db:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(settings.pg_database), role
                )
            )


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
    pid = read_pid(paths.pid_file, "postgres")
    if pid is None:
        return ServiceStatus("postgres", False, address, None, "not running")
    ok, detail = probe(settings)
    return ServiceStatus("postgres", ok, address, pid, detail)


def stop(settings: Settings) -> str:
    """Stop the cluster with pg_ctl's fast mode (active sessions are rolled back)."""
    paths = PgPaths(settings)
    pid = read_pid(paths.pid_file, "postgres")
    if pid is None:
        return "postgres: not running"
    bin_dir = find_bin_dir()
    run_checked(
        _server_argv(
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
