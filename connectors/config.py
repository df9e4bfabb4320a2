"""The connector's own configuration file (TOML): who this participant is and where the hub is.

Several participants can run on one machine, each with its own file (`--config`); relative paths
in the file are taken from the file's folder, so a participant's folder can be moved as a whole.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.config import KafkaAccess
from hub.errors import ConfigError
from hub.identity import participant_problem
from hub.keys import VerifyKey
from hub.paths import read_user_bytes
from hub.topics import declared, notification_spec

DEFAULT_CONFIG = Path("hub-connector.toml")


def check_participant_id(value: str) -> tuple[str, str]:
    """(area code, department) of a participant id, or ConfigError saying what is wrong."""
    problem = participant_problem(value)
    if problem is not None:
        raise ConfigError(problem)
    area, _, department = value.partition("-")
    return area, department


@dataclass(frozen=True)
class ConnectorConfig:
    """A participant's connector settings, read from its TOML file."""

    path: Path
    participant_id: str
    display_name: str
    hub_bootstrap: str
    topic_prefix: str
    key_file: Path
    state_dir: Path
    connect_timeout_s: float = 5.0
    delivery_timeout_s: float = 120.0
    # From the hub's bundle (`hub-connector join`): broker login and the key notifications
    # must be signed with.
    principal: str | None = None
    secret_file: Path | None = None
    ca_file: Path | None = None
    hub_operator_key: str | None = None

    @property
    def joined(self) -> bool:
        return None not in (self.principal, self.secret_file, self.ca_file, self.hub_operator_key)

    def _require_join(self) -> None:
        if not self.joined:
            raise ConfigError(
                f"{self.path}: this connector has not joined the hub yet; run "
                f"`hub-connector join BUNDLE --config {self.path}` with the bundle the hub "
                "operator sent you after registering you"
            )

    @property
    def kafka(self) -> KafkaAccess:
        """The broker login from the bundle (TLS with the hub CA, SCRAM as this participant)."""
        self._require_join()
        assert self.principal and self.secret_file and self.ca_file  # checked above
        return KafkaAccess(self.hub_bootstrap, self.ca_file, self.principal, self.secret_file)

    @property
    def operator_key(self) -> VerifyKey:
        """The hub operator's public key, pinned at join: notifications must carry its signature."""
        self._require_join()
        assert self.hub_operator_key is not None
        return VerifyKey.from_base64(self.hub_operator_key)

    @property
    def inbox_group(self) -> str:
        """The consumer group of the inbox: its name starts with this participant's principal."""
        self._require_join()
        return f"{self.principal}.inbox"

    @property
    def encryption_key_file(self) -> Path:
        """The X25519 private key details are sealed to, beside the signing key."""
        return encryption_key_path(self.key_file)

    @property
    def area_code(self) -> str:
        return self.participant_id.split("-", 1)[0]

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.sqlite3"

    @property
    def inbox_path(self) -> Path:
        return self.state_dir / "inbox.sqlite3"

    @property
    def refused_path(self) -> Path:
        """Messages on the notification topic that were refused, with the reason."""
        return self.state_dir / "refused.jsonl"

    @property
    def ingest_topic(self) -> str:
        return self.topic_prefix + declared("ingest").suffix

    @property
    def notification_topic(self) -> str:
        return self.topic_prefix + notification_spec(self.participant_id).suffix


def encryption_key_path(signing_key: Path) -> Path:
    """Where the encryption key of a signing key file lives: keys/P.pem -> keys/P.x25519.pem."""
    return signing_key.with_name(f"{signing_key.stem}.x25519.pem")


def _get(data: dict[str, Any], name: str, kind: type, where: Path) -> Any:
    if name not in data:
        raise ConfigError(f"{where}: the setting {name!r} is missing")
    value = data[name]
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: {name!r} must be {kind.__name__}, got {value!r}")
    return value


def load_config(path: Path) -> ConnectorConfig:
    """Read and check a connector configuration file."""
    if not path.exists() and not path.is_symlink():
        raise ConfigError(
            f"no connector configuration at {path}; run `hub-connector init` first "
            "or give the file with --config"
        )
    raw = read_user_bytes(path, "configuration file")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from err
    base = path.resolve().parent
    participant = _get(data, "participant_id", str, path)
    check_participant_id(participant)
    return ConnectorConfig(
        path=path,
        participant_id=participant,
        display_name=str(data.get("display_name", participant)),
        hub_bootstrap=_get(data, "hub", str, path),
        topic_prefix=str(data.get("topic_prefix", "hub.")),
        key_file=base / _get(data, "key_file", str, path),
        state_dir=base / _get(data, "state_dir", str, path),
        connect_timeout_s=float(data.get("connect_timeout_s", 5.0)),
        delivery_timeout_s=float(data.get("delivery_timeout_s", 120.0)),
        principal=_optional(data, "principal", path),
        secret_file=_optional_path(data, "secret_file", path, base),
        ca_file=_optional_path(data, "ca_file", path, base),
        hub_operator_key=_optional(data, "hub_operator_public_key", path),
    )


def _optional(data: dict[str, Any], name: str, where: Path) -> str | None:
    return None if name not in data else str(_get(data, name, str, where))


def _optional_path(data: dict[str, Any], name: str, where: Path, base: Path) -> Path | None:
    value = _optional(data, name, where)
    return None if value is None else base / value


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass(frozen=True)
class JoinSettings:
    """What `hub-connector join` adds to the file: paths relative to the file's folder."""

    principal: str
    secret_file: str
    ca_file: str
    hub_operator_public_key: str


def write_config(
    path: Path, *, participant_id: str, display_name: str, hub: str, topic_prefix: str,
    key_file: str, state_dir: str, join: JoinSettings | None = None, replace: bool = False,
) -> None:
    """Write the configuration file; refuses to overwrite one unless `replace`."""
    lines = [
        "# hub-connector configuration. Paths are relative to this file's folder.",
        f"participant_id = {_toml_string(participant_id)}",
        f"display_name = {_toml_string(display_name)}",
        "# Kafka bootstrap address of the exchange hub.",
        f"hub = {_toml_string(hub)}",
        f"topic_prefix = {_toml_string(topic_prefix)}",
        "# Private signing key: never give it to anyone, the hub only needs the public key.",
        f"key_file = {_toml_string(key_file)}",
        "# Outbox and inbox databases: keep them, they prevent loss and duplicates.",
        f"state_dir = {_toml_string(state_dir)}",
        "# Seconds to wait for the hub when connecting, and for a send to be acknowledged.",
        "connect_timeout_s = 5.0",
        "delivery_timeout_s = 120.0",
    ]
    if join is not None:
        lines += [
            "# From the hub's bundle (hub-connector join): broker login and trust.",
            f"principal = {_toml_string(join.principal)}",
            "# Broker password: readable by its owner only, never give it to anyone.",
            f"secret_file = {_toml_string(join.secret_file)}",
            f"ca_file = {_toml_string(join.ca_file)}",
            "# Notifications must be signed with this key, or they are refused.",
            f"hub_operator_public_key = {_toml_string(join.hub_operator_public_key)}",
        ]
    text = "\n".join([*lines, ""])
    if replace:
        staging = path.with_name(path.name + ".new")
        staging.write_text(text, encoding="utf-8")
        staging.replace(path)
        return
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; remove it or choose another --config") from None
