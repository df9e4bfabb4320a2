"""Fixtures for the console's browser tests: a hub lane with a worker, the console served by
`hubctl console` in its own process, and a real headless Chromium driven by Selenium."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaProducer

from hub import topics
from hub.config import Settings
from hub.envelope import decode_envelope
from hub.errors import EnvelopeError
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from ops import db
from ops.cli import main as hubctl
from ops.console.accounts import Accounts
from ops.console.detached import launch
from ops.console.loopback import address
from ops.errors import ServiceError
from processors import topic_admin
from processors.processes import free_ports
from processors.supervisor import start_workers, stop_workers, workers
from processors.testing import SignedWorld

PROJECT = Path(__file__).resolve().parents[3]
# Screenshots land here (ignored by git, like the rest of .data/).
SHOTS = PROJECT / ".data" / "test-output" / "console"
POLICE = "320000-police"
CIVIL = "530000-civil-affairs"
SICHUAN_POLICE = "510000-police"
REGISTRY = "320000-migrant-registry"
PASSWORD = "a-long-test-password"


@dataclass
class Hub:
    """One lane of the hub for the console tests: settings, signed world, producer."""

    settings: Settings
    world: SignedWorld
    producer: KafkaProducer

    def publish(self, wires: list[bytes], suffix: str = "ingest") -> None:
        for wire in wires:
            try:
                key = decode_envelope(wire).publisher_id.encode()
            except EnvelopeError:  # malformed on purpose
                key = b"unknown"
            self.producer.send(topics.topic_name(self.settings, suffix), key=key, value=wire)
        self.producer.flush(timeout=60)

    def scalar(self, query: str, *params: Any) -> Any:
        with psycopg.connect(self.settings.pg_dsn) as conn:
            row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def as_owner(self, statement: str) -> None:
        with psycopg.connect(self.settings.pg_owner_dsn, autocommit=True) as conn:
            conn.execute(statement.encode())

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        logs = [w.log_file.read_text(errors="replace")[-3000:] for w in workers(self.settings)
                if w.log_file.exists()]
        raise AssertionError(f"timed out waiting for {what}\n" + "\n".join(logs))


@pytest.fixture(scope="module")
def hub(hub_settings: Settings, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[Hub]:
    """Own database, topics and data folder; the operator key where `hubctl` looks for it; two
    participants registered through `hubctl registry publish` (so its journal knows them);
    one pipeline worker running."""
    rid = secrets.token_hex(3)
    name = f"{hub_settings.pg_database}_c{rid}"
    data_dir = tmp_path_factory.mktemp("console") / "data"
    settings = db.create_database(hub_settings, name, exist_ok=False).with_overrides(
        topic_prefix=f"{hub_settings.topic_prefix}c{rid}.", data_dir=data_dir)
    db.migrate(settings.pg_owner_dsn)
    topic_admin.apply(settings)
    world = SignedWorld(SchemaCatalog.load())
    private, public = operator_key_paths(data_dir)
    world.operator.save(private)
    public.write_text(world.operator.verify_key.base64 + "\n", encoding="ascii")
    registrations = data_dir / "registrations.b64"
    wires = [w for pid in (POLICE, CIVIL, SICHUAN_POLICE, REGISTRY) for w in world.register(pid)]
    registrations.write_text(
        "".join(base64.b64encode(w).decode() + "\n" for w in wires), encoding="ascii")
    producer = KafkaProducer(**settings.kafka_config(), acks="all", linger_ms=10)
    lane = Hub(settings, world, producer)
    saved = dict(os.environ)
    os.environ.update(settings.as_environment())
    try:
        assert hubctl(["registry", "publish", str(registrations)]) == 0
        start_workers(settings, 1)
        lane.wait_for("registrations stored", lambda: lane.scalar(
            "SELECT count(*) FROM event_store") == len(wires))
        yield lane
    finally:
        os.environ.clear()
        os.environ.update(saved)
        stop_workers(settings, timeout=20)
        producer.close(timeout=5)
        db.drop_database(settings, name)
        topic_admin.delete_prefixed(settings)


@dataclass
class Served:
    """The console process and its address."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="module")
def console(hub: Hub) -> Iterator[Served]:
    """`hubctl console` on a free loopback port, with an operator and an auditor account."""
    accounts = Accounts(hub.settings.pg_dsn)
    accounts.add("olga", "operator", PASSWORD)
    accounts.add("arno", "auditor", PASSWORD)
    accounts.close()
    (port,) = free_ports(1)
    log = hub.settings.data_dir / "console.log"
    env = {**os.environ, **hub.settings.as_environment()}
    try:
        process = launch(str(Path(sys.executable).parent / "hubctl"), port, ["--refresh", "1"],
                         env, log, cwd=PROJECT)
    except ServiceError as err:
        raise AssertionError(f"{err}:\n{log.read_text()}") from None
    yield Served(address(port).rstrip("/"), process, log)
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's chromium and chromium-driver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    binary = shutil.which("chromium")
    if driver_path is None or binary is None:
        message = "chromium and chromium-driver are not installed (bash ops/bootstrap as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--lang=en"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.implicitly_wait(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
