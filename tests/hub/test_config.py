"""Settings read from the environment, and handed on to other processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.config import load_settings
from hub.errors import ConfigError


class TestSettings:
    def test_environment_round_trip(self, tmp_path: Path) -> None:
        """A process given as_environment() loads exactly the settings it came from."""
        settings = load_settings({}).with_overrides(
            data_dir=tmp_path, kafka_port=39000, pg_database="other", topic_prefix="t1."
        )
        assert load_settings(settings.as_environment()) == settings

    def test_passwords_live_in_files_not_settings(self, tmp_path: Path) -> None:
        """Passwords are read from the secrets folder when a connection is made, never held,
        printed or handed to another process by the settings."""
        settings = load_settings({"HUB_SECRETS_DIR": str(tmp_path)})
        (tmp_path / "pg-hub.secret").write_text("s3cret\n")
        (tmp_path / "kafka-hub-admin.secret").write_text("k4fka\n")
        assert "password=s3cret" in settings.pg_dsn
        assert settings.kafka_config()["sasl_plain_password"] == "k4fka"
        shown = str(settings) + repr(settings) + str(settings.as_environment())
        assert "s3cret" not in shown and "k4fka" not in shown

    def test_missing_secret_says_what_creates_it(self, tmp_path: Path) -> None:
        """Without the secrets folder a connection string names `hubctl services up`."""
        settings = load_settings({"HUB_SECRETS_DIR": str(tmp_path / "none")})
        with pytest.raises(ConfigError, match="hubctl services up"):
            _ = settings.pg_dsn

    def test_bad_port_names_the_variable(self) -> None:
        """A port that is not a number is refused with the variable's name."""
        with pytest.raises(ConfigError, match="HUB_PG_PORT"):
            load_settings({"HUB_PG_PORT": "abc"})


class TestSecretFiles:
    def test_existing_folder_keeps_its_mode(self, tmp_path: Path) -> None:
        """Writing a private file into a shared folder never closes the folder to others."""
        from hub.secrets import write_private

        shared = tmp_path / "project"
        shared.mkdir(mode=0o755)
        shared.chmod(0o755)
        write_private(shared / "x.bundle.json", b"{}")
        assert shared.stat().st_mode & 0o777 == 0o755
        assert (shared / "x.bundle.json").stat().st_mode & 0o777 == 0o600
        write_private(tmp_path / "new" / "s.secret", b"s")
        assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700

    def test_private_dirs_are_made_0700_and_existing_ones_kept(self, tmp_path: Path) -> None:
        """Every missing folder is made 0700 whatever the umask; existing ones keep their mode."""
        from hub.secrets import make_private_dirs

        tmp_path.chmod(0o755)
        previous = os.umask(0)
        try:
            make_private_dirs(tmp_path / "a" / "b")
        finally:
            os.umask(previous)
        assert [(p.stat().st_mode & 0o777) for p in (tmp_path, tmp_path / "a", tmp_path / "a" / "b")
                ] == [0o755, 0o700, 0o700]

    def test_private_files_are_0600_whatever_the_umask(self, tmp_path: Path) -> None:
        """create_private_file and open_private_write give 0600, also to a file that was 0644."""
        from hub.secrets import create_private_file, open_private_write

        old = tmp_path / "old.csv"
        old.write_text("x")
        old.chmod(0o644)
        previous = os.umask(0)
        try:
            create_private_file(tmp_path / "db.sqlite3")
            with open_private_write(old) as out:
                out.write("y")
        finally:
            os.umask(previous)
        assert (tmp_path / "db.sqlite3").stat().st_mode & 0o777 == 0o600
        assert old.stat().st_mode & 0o777 == 0o600 and old.read_text() == "y"
