"""The operator's commands and the test entry script, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.services

HUBCTL = str(Path(sys.executable).parent / "hubctl")


def _run(
    argv: list[str], settings: Settings, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HUB_TOPIC_PREFIX=settings.topic_prefix)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def test_db_migrate_and_status_on_a_named_database(fresh_db_settings: Settings) -> None:
    """`hubctl db migrate --database` finds a migrated database up to date; status lists all."""
    name = fresh_db_settings.pg_database
    done = _run([HUBCTL, "db", "migrate", "--database", name], fresh_db_settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"database {name} is up to date"
    done = _run([HUBCTL, "db", "status", "--database", name], fresh_db_settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout and all(line.startswith("applied ") for line in done.stdout.splitlines())


def test_topics_apply_then_list(hub_settings: Settings) -> None:
    """`hubctl topics apply` on an applied prefix changes nothing; `list` shows the ingest
    topic's bounded retention (30 days)."""
    done = _run([HUBCTL, "topics", "apply"], hub_settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("5 topics under prefix")
    listed = _run([HUBCTL, "topics", "list"], hub_settings).stdout
    ingest = [
        line
        for line in listed.splitlines()
        if line.startswith(f"{hub_settings.topic_prefix}ingest ")
    ]
    assert len(ingest) == 1 and "partitions=6" in ingest[0]
    assert "retention.ms=2592000000" in ingest[0]


def test_bad_participant_is_a_clear_error(hub_settings: Settings) -> None:
    """A malformed participant id exits 1 with the reason, creating nothing."""
    done = _run([HUBCTL, "topics", "apply", "--notifications-for", "3200-police"], hub_settings)
    assert done.returncode == 1
    assert "participant id '3200-police'" in done.stderr


@pytest.mark.slow
def test_run_tests_fails_when_no_test_runs(hub_settings: Settings) -> None:
    """ops/run-tests exits non-zero when pytest selects no test (pytest's exit code 5)."""
    done = subprocess.run(
        [
            "bash",
            str(PROJECT_ROOT / "ops" / "run-tests"),
            "tests/ops/test_proc.py",
            "-k",
            "no_test_has_this_name",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "collected no tests" in done.stderr
