"""`hub-connector init`: one step to a configuration, a key and a registration request."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.cli import main
from connectors.config import check_participant_id, load_config
from hub.errors import ConfigError
from hub.keys import SigningKey
from hub.registry import RegistrationRequest


class TestInit:
    def test_files_written_and_consistent(self, tmp_path: Path) -> None:
        """Config, private key and a request the registry accepts, all naming the same key."""
        config = tmp_path / "hub-connector.toml"
        assert main(["init", "--participant-id", "510100-police", "--display-name", "成都市公安局",
                     "--config", str(config), "--hub", "127.0.0.1:29092"]) == 0
        settings = load_config(config)
        key = SigningKey.load(settings.key_file)
        request = RegistrationRequest.from_json(
            (tmp_path / "510100-police.registration.json").read_text(encoding="utf-8"))
        assert request.public_key.key_id == key.key_id
        assert request.jurisdiction == "510100"
        assert "missing-person-alert" in request.requested_event_types
        assert settings.notification_topic.endswith("notifications.510100-police")
        assert settings.key_file.stat().st_mode & 0o077 == 0

    def test_refuses_to_overwrite(self, tmp_path: Path) -> None:
        """A second init on the same config file fails and leaves the key untouched."""
        config = tmp_path / "c.toml"
        args = ["init", "--participant-id", "320000-civil-affairs", "--config", str(config)]
        assert main(args) == 0
        key_before = (tmp_path / "keys" / "320000-civil-affairs.pem").read_bytes()
        assert main(args) == 1
        assert (tmp_path / "keys" / "320000-civil-affairs.pem").read_bytes() == key_before

    def test_bad_participant_id(self, tmp_path: Path) -> None:
        """A malformed participant id is refused, saying what shape it must have."""
        with pytest.raises(ConfigError, match="320000-police"):
            check_participant_id("32-police")
        with pytest.raises(ConfigError, match="one of police"):
            check_participant_id("320000-army")
        assert main(["init", "--participant-id", "32-police",
                     "--config", str(tmp_path / "c.toml")]) == 1
        assert not (tmp_path / "c.toml").exists()
