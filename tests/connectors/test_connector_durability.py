"""Nothing lost, nothing doubled: the real `hub-connector publish` killed, the broker restarted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_samples import participant_of, write_migrant_csv

from connectors.config import load_config
from connectors.outbox import Outbox
from hub.config import Settings
from ops.services import kafka

pytestmark = [pytest.mark.services, pytest.mark.slow]
Reader = Callable[[str], list[tuple[str, Any]]]
CONNECTOR = str(Path(sys.executable).parent / "hub-connector")


def start_publish(config: Path, source: Path) -> subprocess.Popen[bytes]:
    log = (config.parent / "publish.log").open("ab")
    return subprocess.Popen(
        [CONNECTOR, "publish", "--type", "migrant-record", "--quiet", "--config", str(config),
         str(source)],
        stdout=log, stderr=log,
    )


def outbox_counts(config: Path) -> tuple[int, int]:
    """(stored, sent) read straight from the outbox file while another process writes it."""
    path = load_config(config).outbox_path
    if not path.exists():
        return 0, 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            total, sent = db.execute("SELECT COUNT(*), COUNT(sent_at) FROM events").fetchone()
    except sqlite3.OperationalError:
        return 0, 0  # the schema is not created yet
    return int(total), int(sent)


def wait_for(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def assert_every_row_once(config: Path, rows: int, read_published: Reader) -> None:
    """Every row reached the broker, and no row has two different event ids."""
    with Outbox(load_config(config).outbox_path) as box:
        stored = box.event_ids()
        assert box.stats().pending == 0
    published = read_published(participant_of(config))
    ids_by_record: dict[str, set[str]] = defaultdict(set)
    for event_id, payload in published:
        ids_by_record[payload["record_id"]].add(event_id)
    assert len(stored) == rows
    assert {e for e, _ in published} == set(stored)
    assert sorted(ids_by_record) == [f"R{n:06d}" for n in range(1, rows + 1)]
    assert all(len(ids) == 1 for ids in ids_by_record.values())


def test_sigkill_part_way_then_restart(
    connector_factory: Callable[..., Path], read_published: Reader
) -> None:
    """A 10,000-row publish killed with SIGKILL and run again delivers each row once."""
    config = connector_factory()
    source = write_migrant_csv(config.parent / "big.csv", 10_000)
    process = start_publish(config, source)
    try:
        wait_for(lambda: outbox_counts(config)[0] >= 1500, timeout_s=120)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    stored_at_kill, _ = outbox_counts(config)
    assert process.returncode == -signal.SIGKILL
    assert stored_at_kill < 10_000, "the publish finished before it could be killed"
    again = subprocess.run(
        [CONNECTOR, "publish", "--type", "migrant-record", "--quiet", "--config", str(config),
         str(source)], capture_output=True, text=True, timeout=600, check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "pending 0" in again.stderr
    assert_every_row_once(config, 10_000, read_published)


def test_broker_stopped_during_publish(
    hub_settings: Settings, connector_factory: Callable[..., Path], read_published: Reader
) -> None:
    """The broker stopped and started again in the middle of a publish: no row is lost."""
    config = connector_factory()
    source = write_migrant_csv(config.parent / "mid.csv", 6000)
    process = start_publish(config, source)
    try:
        wait_for(lambda: outbox_counts(config)[1] >= 300, timeout_s=120)
        try:
            kafka.stop(hub_settings)
            sent_while_down = outbox_counts(config)[1]
            time.sleep(1.0)
        finally:
            # The broker is shared: it is started again whatever happened above.
            kafka.start(hub_settings)
        process.wait(timeout=600)
        assert sent_while_down < 6000, "the publish finished before the broker stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for _ in range(3):
        if outbox_counts(config)[1] == 6000:
            break
        subprocess.run([CONNECTOR, "send", "--config", str(config)], capture_output=True,
                       timeout=300, check=False)
    assert_every_row_once(config, 6000, read_published)
