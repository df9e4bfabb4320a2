"""The participant registry: who may publish what, with which keys, when.

The registry is itself event-sourced. Its events (participant-registered, key-added,
key-revoked, permission-granted, permission-withdrawn, encryption-key-added) are signed by the
hub operator,
whose first key is the trust anchor every hub process is configured with. State is
rebuilt by applying the verified registry events in log order.

Time rules (all judged at the event's `published_at`, the signer's claimed signing time):

- a key is usable from `valid_from` (inclusive) until `valid_until` (exclusive);
- a revoked key is usable only for events published before the revocation's
  `effective_at`; events signed earlier stay valid, so a routine rotation does not
  invalidate history. Clock-trust assumption: the publisher's `published_at` is trusted.
  A thief could back-date, so on compromise the operator sets `effective_at` to the earliest
  moment the key may have been exposed, not to the moment the loss was noticed;
- a permission holds from its grant's `effective_at` until a withdrawal's `effective_at`;
- a participant's X25519 encryption key (hub.sealing) is the one the hub seals personal details
  to; the newest key valid at the time of sealing wins, so adding a new key rotates it.

Default permissions by department are in DEFAULT_PERMISSIONS; registration events name the
permissions explicitly, so replaying old events never depends on the code's current defaults.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.envelope import Envelope, seal
from hub.errors import HubError, RegistryError
from hub.identity import (
    HUB_OPERATOR_ID,
    area_code_problem,
    participant_problem,
    split_participant_id,
)
from hub.keys import SigningKey, VerifyKey, key_id_of
from hub.schema_catalog import SchemaCatalog
from hub.sealing import EncryptionPublicKey

REGISTRY_EVENT_TYPES: tuple[str, ...] = (
    "participant-registered",
    "key-added",
    "key-revoked",
    "permission-granted",
    "permission-withdrawn",
    "encryption-key-added",
)
DEFAULT_PERMISSIONS: Mapping[str, tuple[str, ...]] = {
    "police": (
        "missing-person-alert",
        "alert-update",
        "alert-closed",
        "parents-dna-profile",
        "match-decision",
        "tip-report",
        "details-request",
        "match-ack",
        "case-request",
        "dna-sample",
    ),
    "migrant-registry": ("migrant-record",),
    "civil-affairs": ("rescue-notice", "case-follow-up", "case-request"),
    "womens-federation": ("case-follow-up", "tip-report"),
    "hub-operator": (*REGISTRY_EVENT_TYPES, "match-found", "match-escalated",
                     "dna-sampling-request", "review-promoted", "review-dismissed",
                     "case-shredded"),
}
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


class KeyState(enum.StrEnum):
    """Whether a key may sign at a given time."""

    VALID = "VALID"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


@dataclass(frozen=True)
class Participant:
    """A registered participant."""

    participant_id: str
    jurisdiction: str
    department: str
    display_name: str
    registered_at: datetime


@dataclass
class KeyRecord:
    """A participant's public key and its validity window."""

    participant_id: str
    key: VerifyKey
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: str = ""

    def state_at(self, when: datetime) -> KeyState:
        """The key's state for an event published at `when`."""
        if when < self.valid_from:
            return KeyState.NOT_YET_VALID
        if self.revoked_at is not None and when >= self.revoked_at:
            return KeyState.REVOKED
        if self.valid_until is not None and when >= self.valid_until:
            return KeyState.EXPIRED
        return KeyState.VALID


@dataclass
class _Grant:
    start: datetime
    end: datetime | None = None

    def holds_at(self, when: datetime) -> bool:
        return self.start <= when and (self.end is None or when < self.end)


@dataclass
class Registry:
    """Registry state. Build with `Registry.bootstrap(operator_key)`, then `apply` events."""

    operator_key_id: str
    participants: dict[str, Participant] = field(default_factory=dict)
    keys: dict[str, KeyRecord] = field(default_factory=dict)  # key id -> record
    grants: dict[tuple[str, str], list[_Grant]] = field(default_factory=dict)
    # participant id -> (valid from, key), in the order added
    encryption_keys: dict[str, list[tuple[datetime, EncryptionPublicKey]]] = field(
        default_factory=dict
    )
    applied: set[Any] = field(default_factory=set)  # event ids already applied

    @classmethod
    def bootstrap(cls, operator_key: VerifyKey) -> Registry:
        """A registry that knows only the hub operator and its anchor key."""
        reg = cls(operator_key_id=operator_key.key_id)
        reg.participants[HUB_OPERATOR_ID] = Participant(
            HUB_OPERATOR_ID, "000000", "hub-operator", "Hub operator", BEGINNING
        )
        reg.keys[operator_key.key_id] = KeyRecord(HUB_OPERATOR_ID, operator_key, BEGINNING)
        for event_type in DEFAULT_PERMISSIONS["hub-operator"]:
            reg.grants[(HUB_OPERATOR_ID, event_type)] = [_Grant(BEGINNING)]
        return reg

    # -- queries -----------------------------------------------------------------------

    def participant(self, participant_id: str) -> Participant | None:
        """The participant, or None if never registered."""
        return self.participants.get(participant_id)

    def key(self, participant_id: str, key_id: str) -> KeyRecord | None:
        """The key if it is registered for this participant, else None."""
        record = self.keys.get(key_id)
        return record if record is not None and record.participant_id == participant_id else None

    def keys_of(self, participant_id: str) -> list[KeyRecord]:
        """Every key ever added for a participant."""
        return [k for k in self.keys.values() if k.participant_id == participant_id]

    def permitted(self, participant_id: str, event_type: str, when: datetime) -> bool:
        """May the participant publish this event type at `when`?"""
        return any(g.holds_at(when) for g in self.grants.get((participant_id, event_type), ()))

    def permissions_at(self, participant_id: str, when: datetime) -> list[str]:
        """Event types the participant may publish at `when`, sorted."""
        return sorted(
            t for (pid, t), grants in self.grants.items()
            if pid == participant_id and any(g.holds_at(when) for g in grants)
        )

    def encryption_key(self, participant_id: str, when: datetime) -> EncryptionPublicKey | None:
        """The key details for this participant are sealed to at `when` (newest valid wins)."""
        valid = [(since, k) for since, k in self.encryption_keys.get(participant_id, ())
                 if since <= when]
        return max(valid, key=lambda pair: pair[0])[1] if valid else None

    # -- applying events ---------------------------------------------------------------

    def apply(self, event_id: Any, publisher_id: str, event_type: str,
              payload: Mapping[str, Any]) -> None:
        """Apply one verified registry event; raises RegistryError if it makes no sense.

        Re-applying an event id already applied does nothing (replays are harmless).
        """
        if event_id in self.applied:
            return
        if publisher_id != HUB_OPERATOR_ID:
            raise RegistryError(f"registry events come from {HUB_OPERATOR_ID}, not {publisher_id}")
        handler = _HANDLERS.get(event_type)
        if handler is None:
            raise RegistryError(f"{event_type} is not a registry event type")
        handler(self, payload)
        self.applied.add(event_id)

    def _register(self, p: Mapping[str, Any]) -> None:
        pid = p["participant_id"]
        problem = participant_problem(pid)
        if problem:
            raise RegistryError(problem)
        if pid in self.participants:
            raise RegistryError(f"{pid} is already registered")
        _area, dept = split_participant_id(pid)
        if p["department"].lower().replace("_", "-") != dept:
            raise RegistryError(f"{pid}: department {p['department']} does not match the id")
        when = p["effective_at"]
        self.participants[pid] = Participant(pid, p["jurisdiction"], dept, p["display_name"], when)
        for event_type in p.get("initial_permissions", ()):
            self._grant(pid, event_type, when)

    def _add_key(self, p: Mapping[str, Any]) -> None:
        pid, key_id = p["participant_id"], p["key_id"]
        self._need_participant(pid)
        raw = bytes(p["public_key"])
        if key_id_of(raw) != key_id:
            raise RegistryError(f"key id {key_id} is not the fingerprint of the public key")
        if key_id in self.keys:
            raise RegistryError(f"key {key_id} is already registered")
        until = p.get("valid_until")
        if until is not None and until <= p["valid_from"]:
            raise RegistryError(f"key {key_id}: valid_until is not after valid_from")
        self.keys[key_id] = KeyRecord(pid, VerifyKey(raw), p["valid_from"], until)

    def _add_encryption_key(self, p: Mapping[str, Any]) -> None:
        pid = p["participant_id"]
        self._need_participant(pid)
        try:
            key = EncryptionPublicKey(bytes(p["public_key"]))
        except HubError as err:
            raise RegistryError(f"encryption key of {pid}: {err}") from err
        if key.key_id != p["key_id"]:
            raise RegistryError(f"key id {p['key_id']} is not the fingerprint of the X25519 key")
        held = self.encryption_keys.setdefault(pid, [])
        if any(k == key for _, k in held):
            raise RegistryError(f"encryption key {key.key_id} is already registered")
        held.append((p["valid_from"], key))

    def _revoke_key(self, p: Mapping[str, Any]) -> None:
        record = self.key(p["participant_id"], p["key_id"])
        if record is None:
            raise RegistryError(f"{p['participant_id']} has no key {p['key_id']}")
        when = p["effective_at"]
        # A later revocation never un-revokes: the earliest effective time wins.
        if record.revoked_at is None or when < record.revoked_at:
            record.revoked_at = when
            record.revocation_reason = p.get("reason", "")

    def _grant_event(self, p: Mapping[str, Any]) -> None:
        self._need_participant(p["participant_id"])
        self._grant(p["participant_id"], p["event_type"], p["effective_at"])

    def _withdraw_event(self, p: Mapping[str, Any]) -> None:
        pid, event_type, when = p["participant_id"], p["event_type"], p["effective_at"]
        self._need_participant(pid)
        for grant in self.grants.get((pid, event_type), ()):
            if grant.end is None or grant.end > when:
                grant.end = max(when, grant.start)

    def _grant(self, pid: str, event_type: str, when: datetime) -> None:
        grants = self.grants.setdefault((pid, event_type), [])
        if not any(g.end is None and g.start <= when for g in grants):
            grants.append(_Grant(when))

    def _need_participant(self, pid: str) -> None:
        if pid not in self.participants:
            raise RegistryError(f"{pid} is not registered")


_HANDLERS = {
    "participant-registered": Registry._register,
    "key-added": Registry._add_key,
    "key-revoked": Registry._revoke_key,
    "permission-granted": Registry._grant_event,
    "permission-withdrawn": Registry._withdraw_event,
    "encryption-key-added": Registry._add_encryption_key,
}


def default_permissions(participant_id: str) -> list[str]:
    """The documented default event types for a participant's department."""
    _, dept = split_participant_id(participant_id)
    return list(DEFAULT_PERMISSIONS[dept])


def unknown_types(event_types: Iterable[str], known: Iterable[str]) -> list[str]:
    """Those of `event_types` not in `known`, in order."""
    known_set = set(known)
    return [t for t in event_types if t not in known_set]


# -- building signed registry events (the operator's side) ------------------------------


def _operator_event(catalog: SchemaCatalog, operator: SigningKey, event_type: str,
                    payload: Mapping[str, Any], sequence: int, at: datetime | None) -> Envelope:
    when = at or datetime.now(UTC)
    return seal(catalog, event_type, payload, publisher_id=HUB_OPERATOR_ID, key=operator,
                sequence=sequence, occurred_at=when, published_at=when)


def register_participant_event(
    catalog: SchemaCatalog, operator: SigningKey, *, sequence: int, participant_id: str,
    display_name: str, jurisdiction: str | None = None,
    permissions: Iterable[str] | None = None, effective_at: datetime | None = None,
) -> Envelope:
    """participant-registered, with the department's default permissions unless given."""
    area, dept = split_participant_id(participant_id)
    when = effective_at or datetime.now(UTC)
    payload = {
        "participant_id": participant_id,
        "jurisdiction": jurisdiction or area,
        "department": dept.upper().replace("-", "_"),
        "display_name": display_name,
        "initial_permissions": list(
            default_permissions(participant_id) if permissions is None else permissions
        ),
        "effective_at": when,
    }
    return _operator_event(catalog, operator, "participant-registered", payload, sequence, when)


def add_key_event(
    catalog: SchemaCatalog, operator: SigningKey, *, sequence: int, participant_id: str,
    public_key: VerifyKey, valid_from: datetime | None = None,
    valid_until: datetime | None = None, at: datetime | None = None,
) -> Envelope:
    """key-added for a participant's public key."""
    when = at or datetime.now(UTC)
    payload = {
        "participant_id": participant_id,
        "key_id": public_key.key_id,
        "public_key": public_key.public_key_bytes,
        "valid_from": valid_from or when,
        "valid_until": valid_until,
    }
    return _operator_event(catalog, operator, "key-added", payload, sequence, when)


def encryption_key_event(
    catalog: SchemaCatalog, operator: SigningKey, *, sequence: int, participant_id: str,
    public_key: EncryptionPublicKey, valid_from: datetime | None = None,
    at: datetime | None = None,
) -> Envelope:
    """encryption-key-added for a participant's X25519 public key."""
    when = at or datetime.now(UTC)
    payload = {
        "participant_id": participant_id,
        "key_id": public_key.key_id,
        "public_key": public_key.raw,
        "valid_from": valid_from or when,
    }
    return _operator_event(catalog, operator, "encryption-key-added", payload, sequence, when)


def revoke_key_event(
    catalog: SchemaCatalog, operator: SigningKey, *, sequence: int, participant_id: str,
    key_id: str, effective_at: datetime | None = None, reason: str = "",
    at: datetime | None = None,
) -> Envelope:
    """key-revoked; `effective_at` should be the earliest moment of possible compromise."""
    when = at or datetime.now(UTC)
    payload = {"participant_id": participant_id, "key_id": key_id,
               "effective_at": effective_at or when, "reason": reason}
    return _operator_event(catalog, operator, "key-revoked", payload, sequence, when)


def permission_event(
    catalog: SchemaCatalog, operator: SigningKey, *, sequence: int, participant_id: str,
    event_type: str, granted: bool, effective_at: datetime | None = None,
    at: datetime | None = None,
) -> Envelope:
    """permission-granted (granted=True) or permission-withdrawn (granted=False)."""
    when = at or datetime.now(UTC)
    kind = "permission-granted" if granted else "permission-withdrawn"
    payload = {"participant_id": participant_id, "event_type": event_type,
               "effective_at": effective_at or when}
    return _operator_event(catalog, operator, kind, payload, sequence, when)


# -- registration requests (written by a connector's `init`) ---------------------------

REQUEST_FORMAT = "exchange-hub.registration-request.v1"


@dataclass(frozen=True)
class RegistrationRequest:
    """What a participant sends the operator to join (a JSON file, UTF-8).

    {"format": "exchange-hub.registration-request.v1", "participant_id": "320000-police",
     "display_name": "...", "jurisdiction": "320000", "public_key": "<base64, 32 bytes>",
     "key_id": "<32 hex, optional, checked>", "requested_event_types": ["..."],
     "encryption_public_key": "<base64, 32 bytes X25519, optional>"}

    "format", "key_id", "department" and "encryption_public_key" are optional but checked when
    present; other fields (such as "requested_at") are ignored. An empty type list means the
    department defaults. Without an encryption key the hub cannot send the participant details.
    """

    participant_id: str
    display_name: str
    jurisdiction: str
    public_key: VerifyKey
    requested_event_types: tuple[str, ...]
    encryption_key: EncryptionPublicKey | None = None

    def to_json(self) -> str:
        """The request as pretty-printed JSON."""
        extra = {} if self.encryption_key is None else {
            "encryption_public_key": self.encryption_key.base64}
        return json.dumps({
            "format": REQUEST_FORMAT,
            "participant_id": self.participant_id,
            "display_name": self.display_name,
            "jurisdiction": self.jurisdiction,
            "public_key": self.public_key.base64,
            "key_id": self.public_key.key_id,
            "requested_event_types": list(self.requested_event_types),
            **extra,
        }, ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RegistrationRequest:
        """Parse a request; RegistryError names the field and what is wrong."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise RegistryError(f"registration request is not JSON: {err}") from err
        if not isinstance(data, dict):
            raise RegistryError("registration request must be a JSON object")
        # Older connectors wrote no "format"; when present it must be this one.
        if data.get("format", REQUEST_FORMAT) != REQUEST_FORMAT:
            raise RegistryError(f"field 'format' must be {REQUEST_FORMAT!r}")
        for name in ("participant_id", "display_name", "jurisdiction", "public_key"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise RegistryError(f"field {name!r} is missing or not text")
        problem = participant_problem(data["participant_id"]) or area_code_problem(
            data["jurisdiction"]
        )
        if problem:
            raise RegistryError(f"registration request: {problem}")
        try:
            key = VerifyKey.from_base64(data["public_key"])
        except HubError as err:
            raise RegistryError(f"field 'public_key': {err}") from err
        dept = data.get("department")
        if dept is not None and dept != split_participant_id(data["participant_id"])[1]:
            raise RegistryError(f"field 'department' {dept!r} does not match participant_id")
        if "key_id" in data and data["key_id"] != key.key_id:
            raise RegistryError(f"field 'key_id' {data['key_id']} does not match the public key")
        types = data.get("requested_event_types", [])
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise RegistryError("field 'requested_event_types' must be a list of names")
        encryption = data.get("encryption_public_key")
        sealing_key = None
        if encryption is not None:
            if not isinstance(encryption, str):
                raise RegistryError("field 'encryption_public_key' must be base64 text")
            try:
                sealing_key = EncryptionPublicKey.from_base64(encryption)
            except HubError as err:
                raise RegistryError(f"field 'encryption_public_key': {err}") from err
        return cls(data["participant_id"], data["display_name"], data["jurisdiction"], key,
                   tuple(types), sealing_key)


def registration_events(
    catalog: SchemaCatalog, operator: SigningKey, request: RegistrationRequest, *,
    first_sequence: int, at: datetime | None = None, allow_extra: bool = False,
) -> list[Envelope]:
    """participant-registered + key-added (+ encryption-key-added) for a request.

    Requested types outside the department's defaults are refused unless `allow_extra`.
    """
    types = list(request.requested_event_types) or default_permissions(request.participant_id)
    unknown = unknown_types(types, catalog.event_types())
    if unknown:
        raise RegistryError(f"requested_event_types: unknown event types {unknown}")
    extra = unknown_types(types, default_permissions(request.participant_id))
    if extra and not allow_extra:
        raise RegistryError(
            f"requested_event_types: {extra} are not defaults for this department; "
            "grant them explicitly if intended"
        )
    when = at or datetime.now(UTC)
    events = [
        register_participant_event(
            catalog, operator, sequence=first_sequence, participant_id=request.participant_id,
            display_name=request.display_name, jurisdiction=request.jurisdiction,
            permissions=types, effective_at=when,
        ),
        add_key_event(catalog, operator, sequence=first_sequence + 1,
                      participant_id=request.participant_id, public_key=request.public_key,
                      valid_from=when, at=when),
    ]
    if request.encryption_key is not None:
        events.append(encryption_key_event(
            catalog, operator, sequence=first_sequence + 2,
            participant_id=request.participant_id, public_key=request.encryption_key,
            valid_from=when, at=when))
    return events


# -- the operator's key files -------------------------------------------------------------


def operator_key_paths(data_dir: Path) -> tuple[Path, Path]:
    """(private key PEM, public key base64) of the hub operator under the data directory."""
    base = Path(data_dir) / "registry"
    return base / "hub-operator.pem", base / "hub-operator.pub"


def load_operator_key(data_dir: Path) -> VerifyKey:
    """The operator's public key (trust anchor), as `hubctl registry init` wrote it."""
    _, public = operator_key_paths(data_dir)
    try:
        text = public.read_text(encoding="ascii")
    except OSError as err:
        raise RegistryError(
            f"no operator public key at {public}; run `hubctl registry init` first"
        ) from err
    return VerifyKey.from_base64(text)
