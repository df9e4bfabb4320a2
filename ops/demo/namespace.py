"""The demo's own namespace: a topic prefix, a database and a folder per run.

Each `hubctl demo` run gets a fresh prefix (`demo<stamp>.`) and database (`demo_<stamp>`), so a
second run never trips over the first one's participants, sequence numbers or inbox offsets,
and the hub's own `hub.` namespace never receives demo data. Starting a run retires the previous
one (workers stopped, topics deleted, database dropped). The folder keeps a `demo.env` that
points ordinary `hubctl` commands at the current run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.config import Settings
from hub.errors import HubError
from ops.errors import DemoError

RUN_FILE = "run.json"
ENV_FILE = "demo.env"


@dataclass(frozen=True)
class DemoRun:
    """One demo run: where its files live and which prefix and database it uses."""

    root: Path
    prefix: str
    database: str
    started_at: str

    def settings(self, base: Settings) -> Settings:
        """The hub settings of this run (same services, own prefix and database)."""
        return base.with_overrides(topic_prefix=self.prefix, pg_database=self.database)

    @property
    def operator_dir(self) -> Path:
        """HUB_DATA_DIR of this run's registry commands (its own registry journal)."""
        return self.root / "hub"

    def participant_dir(self, participant_id: str) -> Path:
        return self.root / participant_id

    def config_path(self, participant_id: str) -> Path:
        return self.participant_dir(participant_id) / "hub-connector.toml"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def default_root(settings: Settings) -> Path:
    """Where the demo keeps its participants and data unless told otherwise."""
    return settings.data_dir / "demo"


def new_run(root: Path) -> DemoRun:
    """A fresh namespace (not yet created anywhere)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
    return DemoRun(root, f"demo{stamp}.", f"demo_{stamp}", datetime.now(UTC).isoformat())


def load_run(root: Path) -> DemoRun | None:
    """The run recorded in `root`, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((root / RUN_FILE).read_text(encoding="utf-8"))
        return DemoRun(root, str(data["prefix"]), str(data["database"]), str(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_run(run: DemoRun, base: Settings) -> None:
    """Record the run and write the environment file that points hubctl at it."""
    run.root.mkdir(parents=True, exist_ok=True)
    record = {"prefix": run.prefix, "database": run.database, "started_at": run.started_at}
    (run.root / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Points hubctl at the latest demo run: `. " + str(run.root / ENV_FILE) + "`",
        f"export HUB_TOPIC_PREFIX={run.prefix}",
        f"export HUB_PG_DATABASE={run.database}",
        "",
    ]
    (run.root / ENV_FILE).write_text("\n".join(lines), encoding="utf-8")


def retire(base: Settings, root: Path) -> list[str]:
    """Stop the console and workers of the run recorded in `root`, delete its topics and
    database."""
    from ops import db
    from ops.console import detached
    from processors import topic_admin
    from processors.app import app_id
    from processors.supervisor import stop_workers, worker_dir

    # The run's operator console first: it reads the database dropped below.
    stopped = detached.stop(root / detached.RECORD)
    previous = load_run(root)
    if previous is None:
        return [stopped] if stopped else []
    settings = previous.settings(base)
    lines = [f"previous demo run {previous.prefix}: " + "; ".join(stop_workers(settings))]
    if stopped:
        lines.append(stopped)
    # The retired run's worker logs and Faust scratch folders would only pile up.
    shutil.rmtree(worker_dir(settings), ignore_errors=True)
    for scratch in (base.data_dir / "faust").glob(f"{app_id(settings)}-*"):
        shutil.rmtree(scratch, ignore_errors=True)
    try:
        deleted = topic_admin.delete_prefixed(settings)
        lines.append(f"deleted {len(deleted)} topics under {previous.prefix}")
        db.drop_database(base, previous.database)
        lines.append(f"dropped database {previous.database}")
    except HubError as err:
        # A half-retired run must not block a new one: its names never come back.
        lines.append(f"could not clean up everything of {previous.prefix}: {err}")
    (root / RUN_FILE).unlink(missing_ok=True)
    return lines


def clear_folder(root: Path) -> None:
    """Remove the previous run's participant folders (the demo owns everything in `root`)."""
    if root.exists():
        if not (root / RUN_FILE).exists() and any(root.iterdir()) and not _demo_made(root):
            raise DemoError(f"{root} holds files the demo did not make; choose another --root")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / ".demo").write_text("made by hubctl demo\n", encoding="utf-8")


def _demo_made(root: Path) -> bool:
    return (root / ".demo").exists()


def tool(name: str) -> str:
    """Path of one of the project's commands (hubctl, hub-connector) beside this Python."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise DemoError(f"the {name} command is not installed (run bash ops/bootstrap)")
    return found


def environment(settings: Settings) -> dict[str, str]:
    """The environment of a subprocess that must see exactly these settings."""
    env = dict(os.environ)
    env.update(
        {
            **settings.as_environment(),
            # Subprocess output goes to log files; rich must not draw progress bars there.
            "TERM": "dumb",
        }
    )
    return env
