"""Personal data of rescued persons at rest: per-case data keys, wrapped by the hub key.

Each rescue case (its `rescue_id`) gets a random 256-bit data key. Every stored copy of the
case's personal fields (the event's payload and decoded body, a quarantined copy, the matcher's
facts) is encrypted under it with AES-256-GCM, bound to the event id and to what the bytes are,
so a ciphertext cannot be moved to another event or column. The data key is kept only wrapped
by the hub key (KEK), which lives in a 0600 file outside the database. Destroying a case's
wrapped data key makes every copy unreadable at once (crypto-shredding); a version 2 envelope
still verifies against the payload digest kept in clear (hub.envelope.digest_signing_bytes).

What stays in clear is what the projections and reports count by: ids, dates, sex and age,
area codes, placement kind, assistance and reunion status (`clear_view`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.envelope import Envelope, decode_payload
from hub.errors import ConfigError, HubError, SealError
from hub.schema_catalog import SchemaCatalog
from hub.secrets import write_private

__all__ = [
    "SEALED_EVENT_TYPES",
    "DataKey",
    "HubKey",
    "blind_key",
    "case_of",
    "clear_view",
    "new_data_key",
    "new_hub_key",
    "open_bytes",
    "quarantine_case",
    "redacted_explanation",
    "seal_bytes",
    "unwrap",
    "wrap",
]

# Event types whose payload holds a rescued person's personal data, and the field naming the case.
SEALED_EVENT_TYPES = {"rescue-notice": "rescue_id", "case-follow-up": "rescue_id"}

# Case ids of keys sealing quarantined bytes that name no readable case.
QUARANTINE_CASE_PREFIX = "quarantined/"
KEY_SIZE = 32
_NONCE = 12
_HUB_KEY_ID_CHARS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class HubKey:
    """The key-encryption key; only its id is ever shown."""

    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_SIZE or not set(self.key_id) <= _HUB_KEY_ID_CHARS:
            raise SealError("a hub key is 32 bytes with an id of lowercase hex")


@dataclass(frozen=True)
class DataKey:
    """One case's data key in clear (held in memory only while sealing or opening)."""

    case_id: str
    secret: bytes = field(repr=False)


def new_hub_key() -> HubKey:
    """A fresh random hub key with a random 16-hex-character id."""
    return HubKey(os.urandom(8).hex(), os.urandom(KEY_SIZE))


def new_data_key(case_id: str) -> DataKey:
    """A fresh random data key for one case."""
    return DataKey(case_id, os.urandom(KEY_SIZE))


def _wrap_aad(case_id: str, hub_key_id: str) -> bytes:
    return b"exh.case-key\x00" + hub_key_id.encode() + b"\x00" + case_id.encode("utf-8")


def wrap(hub_key: HubKey, key: DataKey) -> bytes:
    """The data key encrypted under the hub key, bound to its case and the hub key's id."""
    nonce = os.urandom(_NONCE)
    aad = _wrap_aad(key.case_id, hub_key.key_id)
    return nonce + AESGCM(hub_key.secret).encrypt(nonce, key.secret, aad)


def unwrap(hub_key: HubKey, case_id: str, wrapped: bytes) -> DataKey:
    """The data key of `case_id` from its wrapped form; SealError if it does not open."""
    try:
        secret = AESGCM(hub_key.secret).decrypt(
            wrapped[:_NONCE], wrapped[_NONCE:], _wrap_aad(case_id, hub_key.key_id)
        )
    except (InvalidTag, ValueError) as err:
        raise SealError(
            f"the data key of case {case_id} does not open under hub key {hub_key.key_id}"
        ) from err
    return DataKey(case_id, secret)


def _aad(event_id: str, label: str) -> bytes:
    return b"exh.sealed\x00" + event_id.encode() + b"\x00" + label.encode()


def seal_bytes(key: DataKey, event_id: str, label: str, plain: bytes) -> bytes:
    """`plain` encrypted under the case key, bound to the event and what it is (`label`)."""
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key.secret).encrypt(nonce, plain, _aad(event_id, label))


def open_bytes(key: DataKey, event_id: str, label: str, sealed: bytes) -> bytes:
    """The inverse of :func:`seal_bytes`; SealError when the bytes or their place changed."""
    try:
        return AESGCM(key.secret).decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(event_id, label))
    except (InvalidTag, ValueError) as err:
        raise SealError(f"sealed {label} of event {event_id} does not open") from err


def case_of(event_type: str, body: Mapping[str, Any]) -> str | None:
    """The case whose key seals this event, or None when the type holds no personal data.
    A hit on a rescued person is sealed under that person's case: its explanation quotes the
    compared values (names, dates, places)."""
    if event_type == "match-found":
        if body.get("counterpart_kind") != "RESCUE_NOTICE":
            return None
        value = body.get("counterpart_id")
        return str(value) if value not in (None, "") else None
    name = SEALED_EVENT_TYPES.get(event_type)
    if name is None:
        return None
    value = body.get(name)
    return str(value) if value not in (None, "") else None


def quarantine_case(catalog: SchemaCatalog, env: Envelope | None) -> str | None:
    """The case whose key seals a rejected message kept in quarantine: the case it names, or
    one of its own when it may hold personal data but names no readable case (bytes that are
    no envelope at all, or a sealed type whose payload does not decode); None otherwise."""
    if env is not None and env.event_type not in SEALED_EVENT_TYPES:
        return None
    if env is not None:
        try:
            case = case_of(env.event_type, decode_payload(catalog, env))
        except HubError:
            case = None
        if case is not None:
            return case
    return f"{QUARANTINE_CASE_PREFIX}{uuid.uuid4()}"


# What of a rescued person stays readable without the key: enough to count and report by.
_PERSON_CLEAR = ("sex", "birth", "name_kind", "id_number_status")
_PLACE_CLEAR = ("area_code",)
_PLACEMENT_CLEAR = ("kind", "area_code", "since")
_NOTICE_CLEAR = ("rescue_id", "rescued_at", "issuing_unit")
_FOLLOW_UP_CLEAR = (
    "rescue_id", "follow_up_id", "followed_up_on", "assistance", "family_reunion", "status",
    "issuing_unit",
)


def _pick(value: Any, names: tuple[str, ...]) -> Any:
    if not isinstance(value, Mapping):
        return None
    return {n: copy.deepcopy(value[n]) for n in names if n in value}


def clear_view(event_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a sealed event's body kept in clear; every other field is left out (names,
    identity numbers, addresses and place texts, the child's own account, health, contacts,
    DNA profile, notes). Bodies of other types are returned whole."""
    if event_type == "rescue-notice":
        out: dict[str, Any] = _pick(body, _NOTICE_CLEAR)
        out["person"] = _pick(body.get("person"), _PERSON_CLEAR)
        out["rescue_place"] = _pick(body.get("rescue_place"), _PLACE_CLEAR)
        out["trafficked_from"] = _pick(body.get("trafficked_from"), _PLACE_CLEAR)
        out["placement"] = _pick(body.get("placement"), _PLACEMENT_CLEAR)
        out["has_str_profile"] = body.get("str_profile") is not None
        return out
    if event_type == "case-follow-up":
        out = _pick(body, _FOLLOW_UP_CLEAR)
        out["placement"] = _pick(body.get("placement"), _PLACEMENT_CLEAR)
        return out
    if case_of(event_type, body) is not None:  # a hit on a rescued person
        return {k: copy.deepcopy(v) for k, v in body.items() if k != "explanation"}
    return dict(body)


# The hub keys live in files of mode 0600, one per key, never in PostgreSQL: a dump of the
# database holds data keys only wrapped, and the wrapping keys are elsewhere.
HUB_KEYS_FOLDER = "hub-keys"


def hub_keys_dir(secrets_dir: Path) -> Path:
    """The folder (0700) holding the hub key files inside the hub's secrets folder."""
    return secrets_dir / HUB_KEYS_FOLDER


def write_hub_key(folder: Path, key: HubKey) -> Path:
    """Keep a hub key as `<id>.key` (base64, mode 0600); returns the file."""
    path = folder / f"{key.key_id}.key"
    write_private(path, base64.b64encode(key.secret) + b"\n")
    return path


def load_hub_keys(folder: Path) -> dict[str, HubKey]:
    """Every hub key kept in the folder, by id (none when the folder does not exist)."""
    keys: dict[str, HubKey] = {}
    for path in sorted(folder.glob("*.key")) if folder.is_dir() else []:
        try:
            secret = base64.b64decode(path.read_bytes().strip(), validate=True)
            keys[path.stem] = HubKey(path.stem, secret)
        except (ValueError, SealError) as err:
            raise ConfigError(f"the hub key file {path} is damaged: {err}") from err
    return keys


def ensure_hub_key(folder: Path) -> HubKey:
    """The newest hub key kept in the folder, one made first when there is none."""
    keys = load_hub_keys(folder)
    if keys:
        return max(keys.values(), key=lambda k: (folder / f"{k.key_id}.key").stat().st_mtime)
    key = new_hub_key()
    write_hub_key(folder, key)
    return key


def destroy_hub_key(folder: Path, key_id: str) -> None:
    """Overwrite, then delete, a retired hub key's file."""
    path = folder / f"{key_id}.key"
    if path.exists():
        write_private(path, os.urandom(64))
        path.unlink()


def blind_key(secret: bytes, key: str) -> str:
    """A matcher's blocking key as stored and looked up: an HMAC-SHA256 (keyed by a secret kept
    beside the hub keys) instead of name, address or profile text. Equal keys stay equal, so
    candidate search works as before; DNA keys keep their locus group (`dna:GROUP:`), which the
    DNA search counts by."""
    if key.startswith("dnag:"):
        return key  # a locus group name alone: nothing personal
    prefix = ""
    if key.startswith("dna:"):
        group, _, _ = key[4:].partition(":")
        prefix = f"dna:{group}:"
    return prefix + hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def shred_payload(case_id: str, kind: str, reason: str, requested_by: str) -> dict[str, Any]:
    """The payload of a `case-shredded` event (kind OPERATOR or RETENTION)."""
    if not case_id or not reason.strip():
        raise ConfigError("shredding needs a case id and a reason")
    return {"case_id": case_id, "kind": kind, "reason": reason.strip(),
            "requested_by": requested_by}


def retention_event_id(case_id: str) -> uuid.UUID:
    """The one event id of a case's retention expiry, whichever sweep publishes it."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"exchangehub:case-retention:{case_id}")


_FIELD_LINE = re.compile(r"^([a-z_]+): ([A-Za-z_]+)\b.*?([+-]\d+(?:\.\d+)?)$")


def redacted_explanation(lines: Sequence[str]) -> list[str]:
    """A hit's explanation without the compared values: for a hit on a rescued person, kept
    beside the pair in the matcher's tables (the whole one is sealed in its match-found event).
    Each field keeps its agreement level and weight; the verdict line stays."""
    out: list[str] = []
    dropped = 0
    for line in lines:
        field_line = _FIELD_LINE.match(line)
        if field_line:
            out.append(f"{field_line[1]}: {field_line[2]} {field_line[3]}")
        elif line.startswith("score ") and "->" in line:
            out.append(line)
        else:
            dropped += 1
    if dropped:
        out.append(f"{dropped} more lines sealed with the case (its match-found event)")
    return out
