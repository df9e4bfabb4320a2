"""Settings read from the environment, and handed on to other processes."""

from __future__ import annotations

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

    def test_password_is_masked_when_printed(self) -> None:
        """Printing settings never shows the database password."""
        settings = load_settings({"HUB_PG_PASSWORD": "s3cret"})
        assert "s3cret" not in str(settings) and "s3cret" not in repr(settings)

    def test_bad_port_names_the_variable(self) -> None:
        """A port that is not a number is refused with the variable's name."""
        with pytest.raises(ConfigError, match="HUB_PG_PORT"):
            load_settings({"HUB_PG_PORT": "abc"})
