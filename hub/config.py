"""Typed, frozen settings read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from hub.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as err:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from err


@dataclass(frozen=True)
class Settings:
    """Where the hub's services live and how its names are prefixed."""

    data_dir: Path
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 29092
    kafka_controller_port: int = 29093
    pg_host: str = "127.0.0.1"
    pg_port: int = 25432
    pg_user: str = "hub"
    pg_database: str = "hub"
    pg_password: str = field(default="hub", repr=False)
    topic_prefix: str = "hub."

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def pg_dsn(self) -> str:
        return (
            f"host={self.pg_host} port={self.pg_port} dbname={self.pg_database} "
            f"user={self.pg_user} password={self.pg_password}"
        )

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some settings replaced (for command-line arguments and tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_environment(self) -> dict[str, str]:
        """The HUB_* variables that make another process load exactly these settings."""
        return {
            "HUB_DATA_DIR": str(self.data_dir),
            "HUB_KAFKA_HOST": self.kafka_host,
            "HUB_KAFKA_PORT": str(self.kafka_port),
            "HUB_KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
            "HUB_PG_HOST": self.pg_host,
            "HUB_PG_PORT": str(self.pg_port),
            "HUB_PG_USER": self.pg_user,
            "HUB_PG_DATABASE": self.pg_database,
            "HUB_PG_PASSWORD": self.pg_password,
            "HUB_TOPIC_PREFIX": self.topic_prefix,
        }

    def __str__(self) -> str:
        return (
            f"kafka={self.kafka_bootstrap} postgres={self.pg_host}:{self.pg_port}/"
            f"{self.pg_database} user={self.pg_user} password=*** prefix={self.topic_prefix!r}"
        )


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Settings from HUB_* environment variables, with loopback defaults."""
    env = dict(os.environ) if env is None else env
    data_dir = Path(env.get("HUB_DATA_DIR") or PROJECT_ROOT / ".data")
    return Settings(
        data_dir=data_dir,
        kafka_host=env.get("HUB_KAFKA_HOST", "127.0.0.1"),
        kafka_port=_int(env, "HUB_KAFKA_PORT", 29092),
        kafka_controller_port=_int(env, "HUB_KAFKA_CONTROLLER_PORT", 29093),
        pg_host=env.get("HUB_PG_HOST", "127.0.0.1"),
        pg_port=_int(env, "HUB_PG_PORT", 25432),
        pg_user=env.get("HUB_PG_USER", "hub"),
        pg_database=env.get("HUB_PG_DATABASE", "hub"),
        pg_password=env.get("HUB_PG_PASSWORD", "hub"),
        topic_prefix=env.get("HUB_TOPIC_PREFIX", "hub."),
    )
