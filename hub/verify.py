"""The one verification step every incoming event goes through.

`verify` never raises: it returns `Verified` (the envelope, its decoded payload and any
sequence warnings) or `Rejected` (a machine-readable reason, a detail in plain words, and the
envelope when the bytes could be parsed). Checks run in this order, first failure wins:

1. MALFORMED            the wire bytes are not an envelope (schemas/ENVELOPE.md), or are
                        longer than hub.limits.MAX_WIRE_BYTES
2. UNKNOWN_SCHEMA       event type or schema fingerprint unknown to the catalog
3. INCOMPATIBLE_SCHEMA  the fingerprint belongs to another type/version than the header says
4. UNKNOWN_PUBLISHER    publisher id not registered
5. UNKNOWN_KEY          key id not registered for this publisher
6. BAD_SIGNATURE        signature does not verify under that key
7. KEY_NOT_YET_VALID    published_at is before the key's valid_from
8. KEY_REVOKED          published_at is at/after the revocation's effective time, or at/after
                        valid_until (an expired key is treated as revoked)
9. NOT_PERMITTED        the publisher may not publish this event type at published_at
10. MALFORMED           signed payload does not decode with its schema, holds text the hub
                        cannot store (U+0000), or published_at is more than MAX_CLOCK_SKEW
                        ahead of `now`
11. DUPLICATE           the event id has already been accepted

The signature is checked before anything that blames the publisher (key state, permission,
duplicate): a forger cannot make an honest participant look like it used a revoked key, and
a forged event reusing a known event id is reported as BAD_SIGNATURE, never silently absorbed
as a duplicate. Only on success are the event id and sequence number recorded.

An accepted event also carries `identity_flags`: places where the hub's own check of an
identity number disagrees with the publisher's `id_number_status` (kept, never dropped).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from hub.avro import decode_datum
from hub.envelope import Envelope, decode_envelope, signed_region
from hub.errors import EnvelopeError, RegistryError
from hub.identity import check_resident_id
from hub.keys import SIGNATURE_SIZE, VerifyKey
from hub.limits import MAX_WIRE_BYTES, text_problem
from hub.reasons import RejectReason, SequenceIssue
from hub.registry import REGISTRY_EVENT_TYPES, KeyState, Registry
from hub.schema_catalog import SchemaCatalog

MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class SequenceWarning:
    """What the sequence tracker expected and what it got."""

    kind: SequenceIssue
    publisher_id: str
    expected: int
    got: int

    def __str__(self) -> str:
        return f"{self.kind} from {self.publisher_id}: expected {self.expected}, got {self.got}"


@dataclass(frozen=True)
class Verified:
    """An accepted event."""

    envelope: Envelope
    payload: dict[str, Any]
    warnings: list[SequenceWarning] = field(default_factory=list)
    # The hub's own re-check of identity numbers where it disagrees with the publisher's
    # id_number_status: (dotted field path, what the hub found). The event is still kept.
    identity_flags: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Rejected:
    """A rejected event; keep it with its reason so it can be re-driven."""

    reason: RejectReason
    detail: str
    envelope: Envelope | None = None


class SeenEvents(Protocol):
    """Event ids already accepted (the pipeline backs this with the event store)."""

    def contains(self, event_id: uuid.UUID) -> bool: ...

    def add(self, event_id: uuid.UUID) -> None: ...


class SequenceTracker(Protocol):
    """Last sequence number per publisher; `observe` records and reports breaks."""

    def observe(self, publisher_id: str, sequence: int) -> SequenceWarning | None: ...


class MemorySeenEvents:
    """In-memory SeenEvents, for tests and single-process tools."""

    def __init__(self, event_ids: Iterable[uuid.UUID] = ()) -> None:
        self._ids = set(event_ids)

    def contains(self, event_id: uuid.UUID) -> bool:
        return event_id in self._ids

    def add(self, event_id: uuid.UUID) -> None:
        self._ids.add(event_id)

    def __len__(self) -> int:
        return len(self._ids)


class MemorySequenceTracker:
    """In-memory SequenceTracker: sequences start at 1 and rise by one per event."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def observe(self, publisher_id: str, sequence: int) -> SequenceWarning | None:
        last = self.last.get(publisher_id, 0)
        expected = last + 1
        if sequence <= last:
            return SequenceWarning(SequenceIssue.REPLAY, publisher_id, expected, sequence)
        self.last[publisher_id] = sequence
        if sequence != expected:
            return SequenceWarning(SequenceIssue.GAP, publisher_id, expected, sequence)
        return None


def verify(data: bytes, *, catalog: SchemaCatalog, registry: Registry, seen: SeenEvents,
           sequences: SequenceTracker, now: datetime,
           envelope: Envelope | None = None) -> Verified | Rejected:
    """Check wire bytes completely; never raises on any input (order: module docstring).

    `envelope` is `data` already decoded by the caller (decoding is not repeated); the
    signature and everything else are still checked against `data` itself.

    Errors raised by the `seen` or `sequences` implementations themselves (a database that
    is down) do propagate: they say nothing about the event, which must be retried, not
    quarantined.
    """
    try:
        checked = _check(data, catalog, registry, now, envelope)
    except Exception as err:  # a bug must not kill the pipeline; the event is kept
        return Rejected(RejectReason.MALFORMED, f"verifier error: {type(err).__name__}: {err}")
    if isinstance(checked, Rejected):
        return checked
    env, payload, flags = checked
    if seen.contains(env.event_id):
        return Rejected(RejectReason.DUPLICATE, f"event {env.event_id} was already accepted",
                        env)
    seen.add(env.event_id)
    warning = sequences.observe(env.publisher_id, env.sequence)
    return Verified(env, payload, [warning] if warning else [], flags)


def identity_flags(value: Any) -> list[tuple[str, str]]:
    """Where a payload's id_number_status disagrees with the hub's own check of id_number."""
    # A cheap pass without paths first: nearly every event agrees, and this runs per event.
    if not _disagrees(value):
        return []
    found: list[tuple[str, str]] = []
    _collect(value, "", found)
    return found


def _disagrees(value: Any) -> bool:
    stack = [value]
    children: Iterable[Any]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            if "id_number" in item and (
                check_resident_id(item["id_number"]).status.value
                != item.get("id_number_status")
            ):
                return True
            children = item.values()
        elif type(item) is list:
            children = item
        else:
            continue
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append(child)
    return False


def _collect(value: Any, path: str, found: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        if "id_number" in value:
            verdict = check_resident_id(value["id_number"])
            claimed = value.get("id_number_status")
            if claimed != verdict.status.value:
                found.append((f"{path}id_number",
                              f"publisher says {claimed}, hub finds {verdict.status.value}: "
                              f"{verdict.reason}"))
        for key, item in value.items():
            _collect(item, f"{path}{key}.", found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _collect(item, f"{path[:-1]}[{i}].", found)


def _check(data: bytes, catalog: SchemaCatalog, registry: Registry, now: datetime,
           decoded: Envelope | None) -> tuple[Envelope, dict[str, Any],
                                              list[tuple[str, str]]] | Rejected:
    if len(data) > MAX_WIRE_BYTES:
        return Rejected(RejectReason.MALFORMED, f"message is {len(data)} bytes; an event is at "
                                                f"most {MAX_WIRE_BYTES} bytes")
    try:
        env = decoded or decode_envelope(data)
    except EnvelopeError as err:
        return Rejected(RejectReason.MALFORMED, str(err))
    if env.event_type not in catalog:
        return Rejected(RejectReason.UNKNOWN_SCHEMA, f"unknown event type {env.event_type}", env)
    writer = catalog.by_fingerprint(env.schema_fingerprint)
    if writer is None:
        return Rejected(RejectReason.UNKNOWN_SCHEMA,
                        f"no schema has fingerprint {env.schema_fingerprint.hex()}", env)
    if writer.event_type != env.event_type or writer.version != env.schema_version:
        return Rejected(RejectReason.INCOMPATIBLE_SCHEMA,
                        f"fingerprint is {writer.label}, header says {env.event_type} "
                        f"v{env.schema_version}", env)
    if registry.participant(env.publisher_id) is None:
        return Rejected(RejectReason.UNKNOWN_PUBLISHER, f"{env.publisher_id} is not registered",
                        env)
    key = registry.key(env.publisher_id, env.key_id)
    if key is None:
        return Rejected(RejectReason.UNKNOWN_KEY,
                        f"{env.publisher_id} has no key {env.key_id}", env)
    if not key.key.verify(bytes(data[-SIGNATURE_SIZE:]), signed_region(bytes(data))):
        return Rejected(RejectReason.BAD_SIGNATURE, f"signature fails under key {env.key_id}",
                        env)
    state = key.state_at(env.published_at)
    if state is KeyState.NOT_YET_VALID:
        return Rejected(RejectReason.KEY_NOT_YET_VALID,
                        f"published {env.published_at.isoformat()}, key valid from "
                        f"{key.valid_from.isoformat()}", env)
    if state is KeyState.REVOKED:
        assert key.revoked_at is not None
        return Rejected(RejectReason.KEY_REVOKED,
                        f"published {env.published_at.isoformat()}, key revoked from "
                        f"{key.revoked_at.isoformat()}: {key.revocation_reason}", env)
    if state is KeyState.EXPIRED:
        assert key.valid_until is not None
        return Rejected(RejectReason.KEY_REVOKED,
                        f"published {env.published_at.isoformat()}, key expired at "
                        f"{key.valid_until.isoformat()}", env)
    if not registry.permitted(env.publisher_id, env.event_type, env.published_at):
        return Rejected(RejectReason.NOT_PERMITTED,
                        f"{env.publisher_id} may not publish {env.event_type} at "
                        f"{env.published_at.isoformat()}", env)
    if env.published_at > now + MAX_CLOCK_SKEW:
        return Rejected(RejectReason.MALFORMED,
                        f"published_at {env.published_at.isoformat()} is ahead of the hub "
                        f"clock ({now.isoformat()}) by more than {MAX_CLOCK_SKEW}", env)
    latest = catalog.latest(env.event_type)
    try:
        payload = decode_datum(writer.parsed, None if latest is writer else latest.parsed,
                               env.payload)
    except ValueError as err:
        return Rejected(RejectReason.MALFORMED, f"{writer.label}: {err}", env)
    unstorable = text_problem(payload)
    if unstorable is not None:
        return Rejected(RejectReason.MALFORMED,
                        f"{writer.label}: {unstorable}, which the hub cannot store", env)
    return env, payload, identity_flags(payload)


def replay_registry(catalog: SchemaCatalog, operator_key: VerifyKey, events: Iterable[bytes],
                    *, now: datetime) -> tuple[Registry, list[Rejected]]:
    """Rebuild the registry from the registry topic's wire bytes, in order.

    Each event is verified against the registry as built so far, so only the anchor key
    (or keys it added for the operator) can change it. Rejections are returned, not raised.
    """
    registry = Registry.bootstrap(operator_key)
    seen, sequences = MemorySeenEvents(), MemorySequenceTracker()
    rejected: list[Rejected] = []
    for data in events:
        outcome = verify(data, catalog=catalog, registry=registry, seen=seen,
                         sequences=sequences, now=now)
        if isinstance(outcome, Rejected):
            rejected.append(outcome)
            continue
        problem = apply_registry_event(registry, outcome)
        if problem is not None:
            rejected.append(problem)
    return registry, rejected


def apply_registry_event(registry: Registry, verified: Verified) -> Rejected | None:
    """Apply a verified registry event; a senseless one comes back as NOT_PERMITTED.

    Events of other types are ignored (None), so a pipeline can call this on everything.
    """
    env = verified.envelope
    if env.event_type not in REGISTRY_EVENT_TYPES:
        return None
    try:
        registry.apply(env.event_id, env.publisher_id, env.event_type, verified.payload)
    except RegistryError as err:
        return Rejected(RejectReason.NOT_PERMITTED, f"registry event not applied: {err}", env)
    return None
