"""Fixtures for connector tests: a participant's connector folder, reading what it published."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from connectors.cli import main
from hub.config import Settings
from hub.envelope import decode_envelope, decode_payload
from hub.keys import SigningKey, generate_keypair
from hub.schema_catalog import SchemaCatalog
from ops.broker_access import grant_access


@pytest.fixture(scope="session")
def hub_operator_key() -> SigningKey:
    """The key the tests' hub signs notifications with (the connectors pin its public half)."""
    return generate_keypair()


@pytest.fixture
def connector_factory(
    hub_settings: Settings, tmp_path: Path, hub_operator_key: SigningKey
) -> Callable[..., Path]:
    """Makes a participant's folder with `hub-connector init`, gives it a broker login and
    joins it with the bundle (`hub-connector join`): returns its config path."""

    def make(department: str = "migrant-registry", hub: str | None = None) -> Path:
        area = f"{secrets.randbelow(89) + 11}{secrets.randbelow(90) + 10}00"
        participant = f"{area}-{department}"
        folder = tmp_path / participant
        folder.mkdir()
        config = folder / "hub-connector.toml"
        code = main(["init", "--participant-id", participant, "--config", str(config),
                     "--hub", hub or hub_settings.kafka_bootstrap,
                     "--topic-prefix", hub_settings.topic_prefix])
        assert code == 0
        bundle = grant_access(hub_settings, participant, hub_operator_key.verify_key)
        if hub is not None:
            bundle = dataclasses.replace(bundle, bootstrap=hub)
        bundle.save(folder / "bundle.json")
        assert main(["join", "--config", str(config), str(folder / "bundle.json")]) == 0
        return config

    return make


@pytest.fixture
def read_published(hub_settings: Settings) -> Iterator[Callable[[str], list[tuple[str, Any]]]]:
    """Reads every event a participant published on the ingest topic: (event id, payload)."""
    catalog = SchemaCatalog.load()
    consumers: list[KafkaConsumer] = []

    def read(participant: str) -> list[tuple[str, Any]]:
        consumer = KafkaConsumer(
            f"{hub_settings.topic_prefix}ingest", **hub_settings.kafka_config(),
            group_id=f"check-{secrets.token_hex(4)}", auto_offset_reset="earliest",
            consumer_timeout_ms=6000,
        )
        consumers.append(consumer)
        found = []
        for record in consumer:
            if record.key != participant.encode():
                continue
            env = decode_envelope(record.value)
            found.append((str(env.event_id), decode_payload(catalog, env)))
        return found

    yield read
    for consumer in consumers:
        consumer.close()
