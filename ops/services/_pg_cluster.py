"""Where the project's PostgreSQL cluster lives and which OS user runs it.

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
import shutil
import subprocess
import time
from pathlib import Path

from hub.config import Settings
from ops.errors import ServiceError, ToolMissingError
from processors.processes import INSTALL_HINT, read_pid, run_checked

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


def as_root() -> bool:
    """Whether we run as root, in which case the server runs as the postgres user."""
    return os.geteuid() == 0


def server_argv(argv: list[str]) -> list[str]:
    """Run `argv` as the server's owner: the postgres user when we are root, else ourselves."""
    if not as_root():
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
        server_argv(["test", "-x", str(directory), "-a", "-r", str(directory)]),
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
        if as_root():
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
    if read_pid(cluster / "postmaster.pid", str(cluster)) is not None:
        run_checked(
            server_argv(
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
