"""Shared fixtures: the real services, and an isolated namespace for each test run.

A test that needs Kafka or PostgreSQL is marked `@pytest.mark.services` and asks for
`hub_settings`: Settings whose topic prefix (`t<hex>.`) and database (`test_<hex>`) belong to
this run alone, with the declared topics applied and all migrations run. When the services
cannot be started such tests are skipped with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer

from hub import topics
from hub.config import Settings, load_settings
from hub.errors import HubError
from ops import db, services
from ops.services import kafka, postgres
from processors import topic_admin
from processors.processes import free_ports

_RUN_ID = secrets.token_hex(4)
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Caches the tools make; anything else new in the project folder after a run is a test that
# wrote where the user works (bundles, reports, keys) instead of into its tmp_path.
_TOOL_CACHES = {".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", ".coverage"}
_ROOT_BEFORE = set(os.listdir(_PROJECT_ROOT))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = sorted(set(os.listdir(_PROJECT_ROOT)) - _ROOT_BEFORE - _TOOL_CACHES)
    if left:
        print(f"\ntests left files in the project folder: {', '.join(left)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"services could not be started: {reason}", pytrace=False)
    pytest.skip(f"services could not be started: {reason}")


@pytest.fixture(scope="session")
def services_up() -> Settings:
    """The default settings, once `hubctl services up` has brought both services up."""
    settings = load_settings()
    try:
        services.up(settings)
    except HubError as err:
        _unavailable(str(err))
    return settings


@pytest.fixture(scope="session")
def hub_settings(services_up: Settings) -> Iterator[Settings]:
    """Settings isolated to this test run: own topic prefix, own migrated database."""
    base = services_up.with_overrides(topic_prefix=f"t{_RUN_ID}.")
    name = f"test_{_RUN_ID}"
    try:
        settings = db.create_database(base, name, exist_ok=False)
        db.migrate(settings.pg_owner_dsn)
        topic_admin.apply(settings)
    except HubError as err:
        _unavailable(str(err))
    yield settings
    db.drop_database(settings, name)
    topic_admin.delete_prefixed(settings)


@pytest.fixture(scope="session")
def _migrated_template(hub_settings: Settings) -> Iterator[str]:
    """An empty, fully migrated database that nobody connects to: the source of fresh copies."""
    name = f"{hub_settings.pg_database}_tpl"
    db.migrate(db.create_database(hub_settings, name, exist_ok=False).pg_owner_dsn)
    yield name
    db.drop_database(hub_settings, name)


@pytest.fixture
def fresh_db_settings(hub_settings: Settings, _migrated_template: str) -> Iterator[Settings]:
    """This run's settings pointing at a brand-new migrated database for this one test."""
    name = f"{hub_settings.pg_database}_{secrets.token_hex(4)}"
    settings = db.create_database(hub_settings, name, exist_ok=False, template=_migrated_template)
    yield settings
    db.drop_database(hub_settings, name)


@pytest.fixture
def pg_connection(hub_settings: Settings) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A connection to this run's database, rolled back and closed after the test."""
    conn = psycopg.connect(hub_settings.pg_dsn)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture
def topic_factory(hub_settings: Settings) -> Callable[..., str]:
    """Makes a fresh topic under this run's prefix: topic_factory(partitions=1) -> name."""

    def make(partitions: int = 1, suffix: str | None = None) -> str:
        spec = topics.TopicSpec(suffix or f"adhoc.{secrets.token_hex(4)}", partitions)
        topic_admin.apply(hub_settings, [spec])
        return spec.name(hub_settings)

    return make


@pytest.fixture
def kafka_producer_factory(hub_settings: Settings) -> Iterator[Callable[..., KafkaProducer]]:
    """Makes kafka-python producers on the test broker; all are closed after the test."""
    made: list[KafkaProducer] = []

    def make(**config: Any) -> KafkaProducer:
        config.setdefault("acks", "all")
        producer = KafkaProducer(**hub_settings.kafka_config(), **config)
        made.append(producer)
        return producer

    yield make
    for producer in made:
        producer.close(timeout=5)


@pytest.fixture
def kafka_consumer_factory(hub_settings: Settings) -> Iterator[Callable[..., KafkaConsumer]]:
    """Makes kafka-python consumers reading from the start; all are closed after the test."""
    made: list[KafkaConsumer] = []

    def make(*topic_names: str, **config: Any) -> KafkaConsumer:
        config.setdefault("auto_offset_reset", "earliest")
        config.setdefault("group_id", f"test-{secrets.token_hex(4)}")
        config.setdefault("consumer_timeout_ms", 10000)
        consumer = KafkaConsumer(
            *topic_names, **hub_settings.kafka_config(), **config
        )
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.close()




@pytest.fixture
def private_kafka_settings(
    hub_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """This run's settings, but with a broker of its own (private ports and data dir).

    For tests that stop or restart the broker: the shared one stays untouched for everyone
    else. The database is still this run's. The broker is stopped afterwards.
    """
    port, controller_port = free_ports(2)
    settings = hub_settings.with_overrides(
        data_dir=tmp_path_factory.mktemp("broker") / "data",
        kafka_port=port,
        kafka_controller_port=controller_port,
    )
    try:
        kafka.start(settings)
        topic_admin.apply(settings)
        yield settings
    finally:
        kafka.stop(settings)


@pytest.fixture
def private_postgres_settings(
    hub_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """This run's settings, but with a PostgreSQL cluster of its own, migrated.

    For tests that stop or restart PostgreSQL: the shared cluster stays untouched for everyone
    else. Kafka is still the shared broker. The cluster is stopped and removed afterwards.
    """
    (port,) = free_ports(1)
    settings = hub_settings.with_overrides(
        data_dir=tmp_path_factory.mktemp("postgres") / "data", pg_port=port
    )
    try:
        postgres.start(settings)
        db.migrate(settings.pg_owner_dsn)
        yield settings
    finally:
        postgres.stop(settings)
        # As root the cluster may live outside the data dir (see ops/services/_pg_cluster.py).
        note = settings.data_dir / "postgres.location"
        if note.exists():
            shutil.rmtree(Path(note.read_text().strip()).parent, ignore_errors=True)
