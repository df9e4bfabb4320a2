"""The broker and the database enforce who may do what, whatever the client tries."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewPartitions, NewTopic
from kafka.errors import KafkaError

from hub import topics
from hub.bundle import Bundle
from hub.config import PG_READER, Settings
from hub.keys import generate_keypair
from hub.secrets import write_private
from ops.broker_access import access_of, grant_access, revoke_access

pytestmark = pytest.mark.services
TIMEOUTS = {"request_timeout_ms": 5000, "bootstrap_timeout_ms": 5000}


def login(bundle: Bundle, tmp_path: Path) -> dict[str, Any]:
    """kafka-python arguments that log in as the bundle's participant."""
    secret = tmp_path / f"{bundle.principal}.secret"
    write_private(secret, bundle.secret.encode())
    ca = tmp_path / "ca.pem"
    ca.write_text(bundle.ca_certificate)
    return {"bootstrap_servers": bundle.bootstrap, "security_protocol": "SASL_SSL",
            "ssl_cafile": str(ca), "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": bundle.principal, "sasl_plain_password": bundle.secret}


def produce(config: dict[str, Any], topic: str) -> None:
    producer = KafkaProducer(**config, acks="all", max_block_ms=5000, **TIMEOUTS)
    try:
        producer.send(topic, value=b"x").get(timeout=10)
    finally:
        producer.close(timeout=2)


def fetch(config: dict[str, Any], topic: str, group: str) -> list[Any]:
    """Read partition 0 of `topic` as a member of `group`, asking the group for its offset."""
    consumer = KafkaConsumer(**config, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, **TIMEOUTS)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.committed(partition)  # needs the group
        records: list[Any] = []
        for _ in range(4):
            for batch in consumer.poll(timeout_ms=500).values():
                records += batch
        return records
    finally:
        consumer.close()


@pytest.fixture
def two_participants(hub_settings: Settings, tmp_path: Path) -> Iterator[tuple[Bundle, Bundle]]:
    """Two police units with their own logins, removed afterwards."""
    operator = generate_keypair().verify_key
    ids = [f"{secrets.randbelow(80) + 11}0000-police" for _ in range(2)]
    while ids[0] == ids[1]:
        ids[1] = f"{secrets.randbelow(80) + 11}0000-police"
    bundles = (grant_access(hub_settings, ids[0], operator),
               grant_access(hub_settings, ids[1], operator))
    yield bundles
    for participant in ids:
        revoke_access(hub_settings, participant)


class TestAuthentication:
    def test_no_credentials_and_wrong_secret_are_refused(
        self, hub_settings: Settings, two_participants: tuple[Bundle, Bundle], tmp_path: Path
    ) -> None:
        """A plaintext client and a wrong password get no metadata, produce nor fetch."""
        ingest = topics.topic_name(hub_settings, "ingest")
        wrong = login(two_participants[0], tmp_path) | {"sasl_plain_password": "guess"}
        for config in ({"bootstrap_servers": hub_settings.kafka_bootstrap}, wrong):
            with pytest.raises(KafkaError):
                KafkaAdminClient(**config, **TIMEOUTS).list_topics()
            with pytest.raises(KafkaError):
                produce(config, ingest)
            with pytest.raises(KafkaError):
                fetch(config, ingest, f"{two_participants[0].principal}.x")


class TestAuthorisation:
    def test_participant_reaches_only_its_own(
        self, hub_settings: Settings, two_participants: tuple[Bundle, Bundle], tmp_path: Path
    ) -> None:
        """A may write ingest and read its own topic; nothing of B, no other topic, no admin."""
        a, b = two_participants
        config = login(a, tmp_path)
        own = topics.notification_topic(hub_settings, a.participant_id)
        other = topics.notification_topic(hub_settings, b.participant_id)
        produce(config, topics.topic_name(hub_settings, "ingest"))
        assert fetch(config, own, f"{a.principal}.inbox") == []
        for topic in (other, topics.topic_name(hub_settings, "verified"), own):
            with pytest.raises(KafkaError):
                produce(config, topic)
        with pytest.raises(KafkaError):
            fetch(config, other, f"{a.principal}.inbox")
        with pytest.raises(KafkaError):
            fetch(config, own, f"{b.principal}.inbox")
        admin = KafkaAdminClient(**config, **TIMEOUTS)
        try:
            assert set(admin.list_topics()) <= {own, topics.topic_name(hub_settings, "ingest")}
            with pytest.raises(KafkaError):
                admin.create_topics([NewTopic(f"{hub_settings.topic_prefix}evil", 1, 1)])
            with pytest.raises(KafkaError):
                admin.delete_topics([own])
            with pytest.raises(KafkaError):
                admin.create_partitions({own: NewPartitions(total_count=9)})
        finally:
            admin.close()

    def test_revocation_refuses_at_once(
        self, hub_settings: Settings, two_participants: tuple[Bundle, Bundle], tmp_path: Path
    ) -> None:
        """After revoke_access the participant's producer and consumer are refused."""
        a, _ = two_participants
        config = login(a, tmp_path)
        produce(config, topics.topic_name(hub_settings, "ingest"))
        assert access_of(hub_settings, a.participant_id) == (True, 5)
        revoke_access(hub_settings, a.participant_id)
        assert access_of(hub_settings, a.participant_id) == (False, 0)
        with pytest.raises(KafkaError):
            produce(config, topics.topic_name(hub_settings, "ingest"))
        own = topics.notification_topic(hub_settings, a.participant_id)
        with pytest.raises(KafkaError):
            fetch(config, own, f"{a.principal}.inbox")


class TestDatabaseRoles:
    @pytest.mark.parametrize("statement", [
        "UPDATE event_store SET publisher_id = 'x'",
        "DELETE FROM event_store",
        "TRUNCATE event_store",
        "ALTER TABLE event_store DISABLE TRIGGER ALL",
        "DROP TABLE event_store",
        "CREATE TABLE sneaky (id int)",
    ])
    def test_pipeline_cannot_rewrite_the_event_store(
        self, fresh_db_settings: Settings, statement: str
    ) -> None:
        """The pipeline role may append and read events, never change, remove or unguard them."""
        with psycopg.connect(fresh_db_settings.pg_dsn) as conn:
            conn.execute("SELECT count(*) FROM event_store")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)

    def test_reader_only_reads(self, fresh_db_settings: Settings) -> None:
        """The reader role sees the projections and cannot write to any table."""
        with psycopg.connect(fresh_db_settings.dsn_as(PG_READER)) as conn:
            conn.execute("SELECT count(*) FROM event_store")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM proj_alerts")

    def test_passwords_are_private_files(self, hub_settings: Settings) -> None:
        """Every generated secret is a 0600 file in a 0700 folder, and never in the settings."""
        assert hub_settings.secrets_dir.stat().st_mode & 0o077 == 0
        files = list(hub_settings.secrets_dir.glob("*.secret"))
        assert len(files) >= 6
        for path in files:
            assert path.stat().st_mode & 0o077 == 0
            assert path.read_text().strip() not in str(hub_settings) + repr(hub_settings)
