"""hubctl registry and hubctl schemas list: signed registry events from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from hub.keys import generate_keypair
from hub.registry import load_operator_key, operator_key_paths
from hub.schema_catalog import SCHEMA_DIR, SchemaCatalog
from hub.verify import replay_registry
from ops.cli import main as hubctl
from ops.cli import registry as registry_cli
from ops.cli.registry import read_events


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    assert hubctl(["registry", "init"]) == 0
    return tmp_path / "data"


def _replay(data_dir: Path, events: list[bytes]) -> Any:
    registry, rejected = replay_registry(
        SchemaCatalog.load(), load_operator_key(data_dir), events, now=datetime.now(UTC)
    )
    assert rejected == []
    return registry


class TestOffline:
    def test_init_creates_owner_only_key_once(
        self, data_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """init writes a 0600 operator key and keeps it on a second run."""
        private, public = operator_key_paths(data_dir)
        assert private.stat().st_mode & 0o777 == 0o600
        first = public.read_text()
        assert hubctl(["registry", "init"]) == 0
        assert public.read_text() == first
        assert "exists" in capsys.readouterr().out

    def test_register_grant_revoke_to_file(
        self, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Events written with --out replay into the expected registry state."""
        monkeypatch.chdir(tmp_path)  # the participant's bundle is written here
        key = generate_keypair()
        out = tmp_path / "events.b64"
        assert (
            hubctl(
                [
                    "registry",
                    "register",
                    "450000-womens-federation",
                    "--name",
                    "广西妇联",
                    "--public-key",
                    key.verify_key.base64,
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        assert (
            hubctl(
                [
                    "registry",
                    "grant",
                    "450000-womens-federation",
                    "rescue-notice",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        assert (
            hubctl(
                [
                    "registry",
                    "withdraw",
                    "450000-womens-federation",
                    "tip-report",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        assert (
            hubctl(
                [
                    "registry",
                    "revoke-key",
                    "450000-womens-federation",
                    key.key_id,
                    "--reason",
                    "rotation",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        registry = _replay(data_dir, read_events(out))
        now = datetime.now(UTC)
        assert registry.permissions_at("450000-womens-federation", now) == [
            "case-follow-up",
            "rescue-notice",
        ]
        record = registry.key("450000-womens-federation", key.key_id)
        assert record is not None and record.revoked_at is not None

    def test_nonsense_is_refused_and_not_written(
        self, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A key for an unregistered participant is refused with a reason; nothing is written."""
        out = tmp_path / "events.b64"
        code = hubctl(
            [
                "registry",
                "add-key",
                "410000-police",
                "--public-key",
                generate_keypair().verify_key.base64,
                "--out",
                str(out),
            ]
        )
        assert code == 1
        assert "not registered" in capsys.readouterr().err
        assert not out.exists()

    def test_import_registration_request(self, data_dir: Path, tmp_path: Path) -> None:
        """A connector's registration request becomes a participant with its key."""
        key = generate_keypair()
        request = tmp_path / "req.json"
        request.write_text(
            json.dumps(
                {
                    "participant_id": "340000-police",
                    "display_name": "安徽省公安厅",
                    "jurisdiction": "340000",
                    "public_key": key.verify_key.base64,
                    "key_id": key.key_id,
                    "requested_event_types": ["missing-person-alert"],
                }
            ),
            encoding="utf-8",
        )
        out = tmp_path / "events.b64"
        assert hubctl(["registry", "import", str(request), "--out", str(out)]) == 0
        registry = _replay(data_dir, read_events(out))
        assert registry.key("340000-police", key.key_id) is not None

    def test_schemas_list(self, capsys: pytest.CaptureFixture[str]) -> None:
        """schemas list prints every version with its fingerprint and marks the latest."""
        assert hubctl(["schemas", "list"]) == 0
        lines = capsys.readouterr().out.splitlines()
        # One line per schema file: other versions are added as the schemas evolve.
        assert len(lines) == len(list(SCHEMA_DIR.glob("*.avsc")))
        assert any(
            line.startswith("tip-report") and "v2" in line and "(latest)" in line for line in lines
        )


@pytest.mark.services
def test_register_publishes_to_registry_topic(
    hub_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kafka_consumer_factory: Callable[..., Any],
) -> None:
    """Without --out, registry events land on <prefix>registry and replay from there."""
    monkeypatch.chdir(tmp_path)  # the participant's bundle is written here
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUB_TOPIC_PREFIX", hub_settings.topic_prefix)
    monkeypatch.setenv("HUB_KAFKA_HOST", hub_settings.kafka_host)
    monkeypatch.setenv("HUB_KAFKA_PORT", str(hub_settings.kafka_port))
    assert hubctl(["registry", "init"]) == 0
    key = generate_keypair()
    assert (
        hubctl(
            [
                "registry",
                "register",
                "530000-police",
                "--name",
                "云南省公安厅",
                "--public-key",
                key.verify_key.base64,
            ]
        )
        == 0
    )
    consumer = kafka_consumer_factory(hub_settings.topic_prefix + "registry")
    values = []
    for record in consumer:
        values.append(record.value)
        if len(values) == 2:
            break
    registry = _replay(tmp_path / "data", values)
    assert registry.key("530000-police", key.key_id) is not None


def test_unreachable_broker_keeps_events_in_journal(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no broker listening, the command fails naming the journal that holds the events."""
    monkeypatch.setenv("HUB_KAFKA_PORT", "1")  # nothing listens on port 1
    monkeypatch.setattr(registry_cli, "KAFKA_TIMEOUT_MS", 1000)
    code = hubctl(["registry", "register", "520000-police", "--name", "贵州省公安厅"])
    assert code == 1
    err = capsys.readouterr().err
    assert "journal.b64" in err
    journal = operator_key_paths(data_dir)[0].parent / "journal.b64"
    assert len(read_events(journal)) == 1
