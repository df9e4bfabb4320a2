"""The bundle the hub operator hands a newly registered participant, like a key.

It holds the participant's broker login (principal and secret), the hub CA's certificate, the
hub operator's public key (which notifications must be signed with) and where to connect.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from hub.errors import ConfigError
from hub.paths import read_user_bytes
from hub.secrets import write_private

BUNDLE_FORMAT = "exchange-hub-bundle/1"


@dataclass(frozen=True)
class Bundle:
    """What a participant needs to reach the hub: login, trust anchors and where to connect."""

    participant_id: str
    principal: str
    secret: str
    bootstrap: str
    topic_prefix: str
    ca_certificate: str
    hub_operator_public_key: str
    issued_at: str
    format: str = BUNDLE_FORMAT

    def __repr__(self) -> str:
        return f"Bundle(participant_id={self.participant_id!r}, principal={self.principal!r})"

    def save(self, path: Path) -> None:
        """Write the bundle as JSON, readable by its owner only (it holds the secret)."""
        write_private(path, json.dumps(asdict(self), ensure_ascii=False, indent=2).encode())

    @classmethod
    def load(cls, path: Path) -> Bundle:
        raw = read_user_bytes(path, "bundle")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path} is not a hub bundle: {err}") from err
        if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
            raise ConfigError(f"{path} is not a hub bundle (format {BUNDLE_FORMAT} expected)")
        try:
            return cls(**{name: str(data[name]) for name in cls.__dataclass_fields__})
        except KeyError as err:
            raise ConfigError(f"{path}: the bundle lacks {err.args[0]!r}") from None
