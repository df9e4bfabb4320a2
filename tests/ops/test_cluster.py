"""A three-broker cluster loses a broker while a connector publishes and a worker processes.

Real everything: `hubctl services up --brokers 3`'s cluster (private ports and data dir), the
real `hub-connector publish` process, a detached pipeline worker, the shared PostgreSQL. One
broker, the active controller, is SIGKILLed mid-run; afterwards every row is stored exactly once,
every hit is notified once to each police unit, and the broker, restarted, is back in sync.
"""

from __future__ import annotations

import csv
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from connectors.cli import main as connector_main
from connectors.config import load_config
from connectors.samples import HEADER, migrant_row
from hub import topics
from hub.config import Settings
from hub.identity import check_character
from hub.keys import SigningKey
from hub.notice import open_notice
from hub.registry import operator_key_paths
from ops.broker_access import grant_access
from ops.services import kafka
from processors import topic_admin
from processors.processes import free_ports
from processors.testing import payload_for
from tests.processors.pipeline_support import Lane, make_lane

pytestmark = [pytest.mark.services, pytest.mark.slow]

CONNECTOR = str(Path(sys.executable).parent / "hub-connector")
POLICE = "510000-police"
LOCAL_POLICE = "320000-police"
REGISTRY = "320000-migrant-registry"
ROWS = 1000
HITS = 20
# Generous: three JVMs, a worker and a connector share two cores with other work.
SLOW = 300.0
CHILD_COLUMNS = ["随迁子女1姓名", "随迁子女1性别", "随迁子女1出生日期", "随迁子女1身份证号",
                 "随迁子女1关系"]
GIVEN = "红梅兰芳秀英华玉珍丽"


@pytest.fixture
def cluster(hub_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A KRaft cluster of three brokers of its own (the database is this run's); stopped after."""
    ports = free_ports(6)
    settings = hub_settings.with_overrides(
        data_dir=tmp_path_factory.mktemp("cluster") / "data",
        kafka_port=ports[0],
        kafka_controller_port=ports[1],
        kafka_peer_ports=(ports[2], ports[4]),
    )
    try:
        began = time.monotonic()
        report = kafka.start_all(settings, 3, [(ports[2], ports[3]), (ports[4], ports[5])])
        print(f"\ncluster of {len(report)} up in {time.monotonic() - began:.1f}s")
        yield settings
    finally:
        print(kafka.stop(settings))


def _child(i: int) -> dict[str, Any]:
    born = date(2012, 1, 1) + timedelta(days=53 * i)
    # The 17th digit is even: a girl's number.
    body = f"510104{born:%Y%m%d}{i % 50:02d}2"
    return {
        "name": f"{'李王张刘陈'[i % 5]}{GIVEN[i % 10]}{GIVEN[(i // 10) % 10]}",
        "sex": "FEMALE",
        "birth": {"precision": "DAY", "date": born},
        "id_number": body + check_character(body),
        "marks": [],
    }


def _alert(lane: Lane, i: int) -> bytes:
    payload = payload_for(
        "missing-person-alert", i, lane.world.epoch, POLICE, person=_child(i),
        last_seen_place={"area_code": "510104", "text": "成都市锦江区某小区"},
        jurisdiction="510000",
    )
    return lane.world.event(POLICE, "missing-person-alert", payload=payload)


def _write_rows(path: Path, numbers: range) -> Path:
    """Migrant records R<n> for n in `numbers`; every (ROWS // HITS)th has a missing child."""
    every = ROWS // HITS
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER + CHILD_COLUMNS)
        for n in numbers:
            extra = ["", "", "", "", ""]
            if n % every == 0:
                child = _child(n // every - 1)
                born = child["birth"]["date"]
                extra = [child["name"], "女", born.isoformat(), child["id_number"], "非亲属"]
            writer.writerow(migrant_row(n) + extra)
    return path


def _publish(config: Path, source: Path) -> subprocess.Popen[bytes]:
    """The real `hub-connector publish`, in the background."""
    log = (config.parent / "publish.log").open("ab")
    return subprocess.Popen(
        [CONNECTOR, "publish", "--type", "migrant-record", "--quiet", "--config", str(config),
         str(source)], stdout=log, stderr=log,
    )


def _connector(lane: Lane, folder: Path) -> Path:
    """The registry's connector: `hub-connector init`, a broker login and ACLs, `join`."""
    folder.mkdir()
    config = folder / "hub-connector.toml"
    assert connector_main(["init", "--participant-id", REGISTRY, "--config", str(config),
                           "--hub", lane.settings.kafka_bootstrap,
                           "--topic-prefix", lane.settings.topic_prefix]) == 0
    bundle = grant_access(lane.settings, REGISTRY, lane.world.operator.verify_key)
    bundle.save(folder / "bundle.json")
    assert connector_main(["join", "--config", str(config), str(folder / "bundle.json")]) == 0
    # The hub knows the connector's own key: its events verify under it.
    lane.world.keys[REGISTRY] = SigningKey.load(load_config(config).key_file)
    return config


def _outbox_sent(config: Path) -> int:
    path = load_config(config).outbox_path
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return int(db.execute("SELECT COUNT(sent_at) FROM events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


def _wait(what: str, check: Callable[[], bool], timeout: float = SLOW) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _notifications(lane: Lane) -> Counter[tuple[str, str]]:
    """(recipient, match id) -> how many notifications, over every notification topic."""
    prefix = lane.settings.topic_prefix + topics.NOTIFICATIONS
    consumer = KafkaConsumer(
        **lane.settings.kafka_config(), group_id=f"check-{secrets.token_hex(4)}",
        auto_offset_reset="earliest", consumer_timeout_ms=3000,
    )
    try:
        names = sorted(t for t in consumer.topics() if t.startswith(prefix))
        found: Counter[tuple[str, str]] = Counter()
        if names:
            consumer.subscribe(names)
            for message in consumer:
                recipient = message.topic[len(prefix):]
                notice = open_notice(message.value, lane.world.operator.verify_key, recipient)
                found[(recipient, str(notice.body["match_id"]))] += 1
        return found
    finally:
        consumer.close()


def _out_of_sync(settings: Settings, names: list[str]) -> list[str]:
    """Partitions of these topics with fewer than three replicas in sync."""
    with topic_admin.admin_client(settings) as admin:
        described = admin.describe_topics(names)
    return [f"{t['name']}[{p['partition_index']}] isr={p['isr_nodes']}"
            for t in described for p in t["partitions"] if len(p["isr_nodes"]) < 3]


def test_one_broker_killed_mid_run_loses_and_doubles_nothing(
    cluster: Settings, tmp_path: Path
) -> None:
    """SIGKILL the controller broker while rows flow: all stored once, every hit notified once,
    and the restarted broker rejoins with every partition back to three in-sync replicas."""
    began = time.monotonic()
    with make_lane(cluster, tmp_path / "lane") as lane:
        for state in topic_admin.list_topics(lane.settings):
            assert (state.replication, state.configs["min.insync.replicas"]) == (3, "2"), state
        # The matcher signs match-found events with the operator key found in the data dir.
        lane.world.operator.save(operator_key_paths(lane.settings.data_dir)[0])
        config = _connector(lane, tmp_path / "registry")
        lane.start(1)
        lane.register_and_wait(POLICE, LOCAL_POLICE, REGISTRY)
        lane.publish([_alert(lane, i) for i in range(HITS)])
        lane.wait_for("the alerts indexed", lambda: lane.scalar(
            "SELECT count(*) FROM match_alerts") == HITS, timeout=SLOW)

        print(f"lane, worker, registrations and {HITS} alerts in {time.monotonic() - began:.1f}s")
        half = ROWS // 2
        first = _write_rows(tmp_path / "first.csv", range(1, half + 1))
        second = _write_rows(tmp_path / "second.csv", range(half + 1, ROWS + 1))
        publish = _publish(config, first)
        # Kill once part of the first file reached the broker (and the worker is still busy);
        # the second file is published at once, while the cluster elects new leaders, and the
        # broker stays down until every row is stored and every hit notified.
        _wait("the first rows sent", lambda: _outbox_sent(config) > 0
              or publish.poll() is not None)
        with topic_admin.admin_client(lane.settings) as admin:
            victim = int(admin.describe_cluster()["controller_id"])
        pid = kafka.node_pids(cluster)[victim]
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        sent_then = _outbox_sent(config)
        stored_query = ("SELECT count(*) FROM event_store WHERE publisher_id = %s "
                        "AND event_type = 'migrant-record'")
        stored_then = lane.scalar(stored_query, REGISTRY)
        print(f"SIGKILL broker {victim} (pid {pid}, controller) with {sent_then}/{ROWS} rows "
              f"sent, {stored_then} stored")
        log = config.parent / "publish.log"
        assert publish.wait(timeout=SLOW) == 0, log.read_text()
        publish = _publish(config, second)
        assert stored_then < ROWS, "the worker must still have been processing"
        # `hubctl services status` names the broker that is gone (and exits 1).
        gone = [s for s in kafka.statuses(cluster) if s.name == f"kafka-{victim}"]
        assert [(s.healthy, s.pid, s.detail) for s in gone] == [(False, None, "not running")]

        assert publish.wait(timeout=SLOW) == 0, log.read_text()
        print(f"publish done {time.monotonic() - killed_at:.1f}s after the kill")
        assert _outbox_sent(config) == ROWS
        lane.wait_for("every row stored", lambda: lane.scalar(stored_query, REGISTRY) == ROWS,
                      timeout=SLOW)
        print(f"every row stored {time.monotonic() - killed_at:.1f}s after the kill")
        lane.wait_for("two notifications per hit",
                      lambda: sum(_notifications(lane).values()) >= 2 * HITS, timeout=SLOW)
        print(f"all rows stored and hits notified {time.monotonic() - killed_at:.1f}s after "
              "the kill")

        rows = lane.scalar(
            "SELECT json_build_array(count(*), count(DISTINCT event_id), "
            "count(DISTINCT body ->> 'record_id')) FROM event_store "
            "WHERE publisher_id = %s AND event_type = 'migrant-record'", REGISTRY)
        assert rows == [ROWS, ROWS, ROWS], "stored rows, distinct events, distinct record ids"
        found = _notifications(lane)
        matches = {match for _, match in found}
        print(f"published {ROWS}, stored {rows[0]} ({rows[0] - rows[2]} duplicates), "
              f"{len(matches)} hits, {sum(found.values())} notifications")
        assert len(matches) == HITS
        assert found == Counter({(who, m): 1 for m in matches for who in (POLICE, LOCAL_POLICE)})
        assert lane.scalar(
            "SELECT count(*) FROM event_store WHERE event_type = 'match-found'") == HITS
        assert lane.scalar("SELECT count(*) FROM quarantine") == 0

        began = time.monotonic()
        again = kafka.start_all(cluster)
        assert [s.started for s in again].count(True) == 1 and all(s.healthy for s in again)
        names = [s.name for s in topic_admin.list_topics(lane.settings)]
        _wait("every partition back to three in-sync replicas",
              lambda: not _out_of_sync(lane.settings, names))
        print(f"broker {victim} restarted and in sync in {time.monotonic() - began:.1f}s")
