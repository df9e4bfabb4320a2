"""Helpers and fixtures for connector tests: a participant's connector folder and test files."""

from __future__ import annotations

import csv
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from connectors.cli import main
from hub.config import Settings
from hub.envelope import decode_envelope, decode_payload
from hub.schema_catalog import SchemaCatalog

HEADER = ["登记编号", "姓名", "性别", "出生日期", "身份证号", "户籍地址", "现住址", "入住日期",
          "登记日期", "登记派出所"]


def migrant_row(n: int) -> list[str]:
    """A valid migrant-record row whose record id is R<n>."""
    return [f"R{n:06d}", f"测试{n}", "男" if n % 2 else "女", f"19{80 + n % 20}年{1 + n % 12}月3日",
            "", "110105 北京市朝阳区", f"320102 玄武区某路{n}号", "2024/5/1", "2024-05-02",
            "玄武派出所"]


def write_migrant_csv(path: Path, rows: int, *, encoding: str = "utf-8",
                      extra: list[list[str]] | None = None) -> Path:
    """A migrant-record CSV with `rows` valid rows (R000001...), then any extra rows."""
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(1, rows + 1):
            writer.writerow(migrant_row(n))
        for row in extra or []:
            writer.writerow(row)
    return path


@pytest.fixture
def connector_factory(hub_settings: Settings, tmp_path: Path) -> Callable[..., Path]:
    """Makes a participant's folder with `hub-connector init`: returns its config path."""

    def make(department: str = "migrant-registry", hub: str | None = None) -> Path:
        area = f"{secrets.randbelow(89) + 11}{secrets.randbelow(90) + 10}00"
        folder = tmp_path / f"{area}-{department}"
        folder.mkdir()
        config = folder / "hub-connector.toml"
        code = main(["init", "--participant-id", f"{area}-{department}", "--config", str(config),
                     "--hub", hub or hub_settings.kafka_bootstrap,
                     "--topic-prefix", hub_settings.topic_prefix])
        assert code == 0
        return config

    return make


def participant_of(config: Path) -> str:
    """The participant id written in a connector configuration."""
    for line in config.read_text(encoding="utf-8").splitlines():
        if line.startswith("participant_id"):
            return line.split('"')[1]
    raise AssertionError("no participant id")


@pytest.fixture
def read_published(hub_settings: Settings) -> Iterator[Callable[[str], list[tuple[str, Any]]]]:
    """Reads every event a participant published on the ingest topic: (event id, payload)."""
    catalog = SchemaCatalog.load()
    consumers: list[KafkaConsumer] = []

    def read(participant: str) -> list[tuple[str, Any]]:
        consumer = KafkaConsumer(
            f"{hub_settings.topic_prefix}ingest", bootstrap_servers=hub_settings.kafka_bootstrap,
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
