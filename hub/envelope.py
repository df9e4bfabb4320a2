"""The signed envelope every event travels in, and its wire bytes (see schemas/ENVELOPE.md).

Encoding the payload, signing and encoding the envelope are separate steps so that each
side can do only what it needs: `encode_payload` -> `sign` -> `encode_envelope`, or `seal`
(= `encode_payload` + `seal_encoded`).
"""

from __future__ import annotations

import copy
import hashlib
import re
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.avro import decode_datum, encode_datum, validate_against
from hub.errors import EnvelopeError, PayloadError, SchemaError, UnknownSchemaError
from hub.identity import annotate_identity_numbers
from hub.keys import SIGNATURE_SIZE, SigningKey
from hub.limits import MAX_PAYLOAD_BYTES
from hub.schema_catalog import SchemaCatalog, SchemaVersion

MAGIC = b"EXH\x01"
SIGNING_DOMAIN = b"org.exchangehub.envelope.v1\x00"
# Version 2 signs the header and the SHA-256 of the payload, so that a stored event whose
# payload was encrypted and its key destroyed still verifies against the kept digest.
MAGIC_V2 = b"EXH\x02"
SIGNING_DOMAIN_V2 = b"org.exchangehub.envelope.v2\x00"
_MAGICS = {MAGIC: 1, MAGIC_V2: 2}
MAX_PAYLOAD = MAX_PAYLOAD_BYTES
FINGERPRINT_SIZE = 32
_NAME = re.compile(rb"^[a-z0-9][a-z0-9-]{0,63}$")
_NAME_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789-"
_KEY_ID = re.compile(r"^[0-9a-f]{32}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_FIXED = struct.Struct(">HQqqI")  # schema_version, sequence, occurred, published, payload len


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event: header, Avro payload bytes, and the Ed25519 signature (b"" until signed)."""

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    schema_fingerprint: bytes
    publisher_id: str
    key_id: str
    sequence: int
    occurred_at: datetime
    published_at: datetime
    payload: bytes = field(repr=False)
    signature: bytes = field(default=b"", repr=False)
    version: int = 2  # envelope (wire) version: 1 signs the payload, 2 its SHA-256 digest


def _micros(value: datetime, name: str) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise EnvelopeError(f"{name} must carry a time zone")
    return (value - _EPOCH) // _ONE_US


def _name_bytes(value: str, name: str) -> bytes:
    raw = value.encode("ascii", "replace")
    if not _NAME.match(raw):
        raise EnvelopeError(f"{name} {value!r} must be 1-64 characters of a-z, 0-9 and '-'")
    return bytes((len(raw),)) + raw


def _head(env: Envelope) -> bytes:
    """The canonical header: fields 1-10 of the body, everything but the payload bytes."""
    if not isinstance(env.event_id, uuid.UUID):
        raise EnvelopeError("event_id must be a UUID")
    if len(env.schema_fingerprint) != FINGERPRINT_SIZE:
        raise EnvelopeError(f"schema_fingerprint must be {FINGERPRINT_SIZE} bytes")
    if not _KEY_ID.match(env.key_id):
        raise EnvelopeError("key_id must be 32 lowercase hex characters")
    if not 1 <= env.schema_version <= 0xFFFF:
        raise EnvelopeError("schema_version must be between 1 and 65535")
    _check_sizes(env.sequence, env.payload)
    return b"".join((
        env.event_id.bytes,
        _name_bytes(env.event_type, "event_type"),
        bytes(env.schema_fingerprint),
        _name_bytes(env.publisher_id, "publisher_id"),
        bytes.fromhex(env.key_id),
        _FIXED.pack(env.schema_version, env.sequence, _micros(env.occurred_at, "occurred_at"),
                    _micros(env.published_at, "published_at"), len(env.payload)),
    ))


def _check_sizes(sequence: int, payload: bytes) -> None:
    if not 0 <= sequence < 2**63:
        raise EnvelopeError("sequence must be between 0 and 2**63 - 1")
    if len(payload) > MAX_PAYLOAD:
        raise EnvelopeError(
            f"payload is {len(payload)} bytes; an event holds at most {MAX_PAYLOAD} bytes"
        )


def _body(env: Envelope) -> bytes:
    """The canonical header-and-payload bytes of the wire format (and of a v1 signature)."""
    return _head(env) + bytes(env.payload)


def _version(env: Envelope) -> int:
    if env.version not in (1, 2):
        raise EnvelopeError(f"envelope version {env.version} is not 1 or 2")
    return env.version


def payload_digest(payload: bytes) -> bytes:
    """The SHA-256 of a payload, as a version 2 signature covers it."""
    return hashlib.sha256(payload).digest()


def signing_bytes(env: Envelope) -> bytes:
    """What the Ed25519 signature covers: v1 the prefix and the body; v2 the prefix, the
    header and the payload's SHA-256."""
    if _version(env) == 1:
        return SIGNING_DOMAIN + _body(env)
    return SIGNING_DOMAIN_V2 + _head(env) + payload_digest(env.payload)


def digest_signing_bytes(env: Envelope, digest: bytes) -> bytes:
    """Signing bytes of a v2 envelope from its header and a kept payload digest alone (the
    payload itself may be gone: crypto-shredded). `env.payload` only gives the length."""
    if _version(env) != 2 or len(digest) != 32:
        raise EnvelopeError("only a version 2 envelope verifies from its payload digest")
    return SIGNING_DOMAIN_V2 + _head(env) + digest


def encode_envelope(env: Envelope) -> bytes:
    """Wire bytes for Kafka: magic, canonical body, 64-byte signature."""
    if len(env.signature) != SIGNATURE_SIZE:
        raise EnvelopeError("envelope is not signed (signature must be 64 bytes)")
    return (MAGIC if _version(env) == 1 else MAGIC_V2) + _body(env) + env.signature


def _take_name(data: bytes, pos: int, name: str) -> tuple[str, int]:
    # bytes.translate with a delete table checks the character set without a regex;
    # this runs for every incoming event, so it is kept lean.
    size = data[pos] if pos < len(data) else 0
    end = pos + 1 + size
    raw = data[pos + 1 : end]
    if not 0 < size == len(raw) <= 64 or raw.translate(None, _NAME_CHARS) or raw[0] == 45:
        raise EnvelopeError(f"{name} is not 1-64 characters of a-z, 0-9 and '-'")
    return raw.decode("ascii"), end


def _time(micros: int, name: str) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise EnvelopeError(f"{name} is outside the years 1-9999") from None


def decode_envelope(data: bytes) -> Envelope:
    """Parse wire bytes; raises EnvelopeError naming what is wrong. Does not check the signature."""
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise EnvelopeError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    wire_version = _MAGICS.get(data[:4])
    if wire_version is None:
        raise EnvelopeError("does not start with an envelope magic (EXH\\x01 or EXH\\x02)")
    pos = 4 + 16
    if len(data) < pos:
        raise EnvelopeError("truncated before event_id ends")
    event_id = uuid.UUID(bytes=data[4:pos])
    event_type, pos = _take_name(data, pos, "event_type")
    fingerprint = data[pos : pos + FINGERPRINT_SIZE]
    pos += FINGERPRINT_SIZE
    publisher_id, pos = _take_name(data, pos, "publisher_id")
    key_id = data[pos : pos + 16].hex()
    pos += 16
    if len(data) < pos + _FIXED.size:
        raise EnvelopeError("truncated inside the header")
    version, sequence, occurred, published, size = _FIXED.unpack_from(data, pos)
    pos += _FIXED.size
    if version == 0 or sequence >= 2**63:
        raise EnvelopeError("schema_version must be >= 1 and sequence < 2**63")
    if size > MAX_PAYLOAD:
        raise EnvelopeError(f"payload length {size} exceeds {MAX_PAYLOAD}")
    if len(data) != pos + size + SIGNATURE_SIZE:
        raise EnvelopeError(
            f"length mismatch: header says {size} payload bytes + 64 signature bytes, "
            f"{len(data) - pos} bytes follow"
        )
    return Envelope(
        event_id, event_type, version, fingerprint, publisher_id, key_id, sequence,
        _time(occurred, "occurred_at"), _time(published, "published_at"),
        data[pos : pos + size], data[pos + size :], wire_version,
    )


def signed_region(data: bytes) -> bytes:
    """Signing bytes of well-formed wire bytes, without re-encoding (they share the body)."""
    if data[:4] == MAGIC:
        return SIGNING_DOMAIN + data[4:-SIGNATURE_SIZE]
    # v2: walk the two names to the end of the header; the payload follows it.
    pos = 4 + 16
    pos += 1 + data[pos] + FINGERPRINT_SIZE
    pos += 1 + data[pos] + 16 + _FIXED.size
    return SIGNING_DOMAIN_V2 + data[4:pos] + payload_digest(data[pos:-SIGNATURE_SIZE])


def encode_payload(catalog: SchemaCatalog, event_type: str,
                   payload: Mapping[str, Any]) -> tuple[SchemaVersion, bytes]:
    """Validate and Avro-encode a payload with the latest schema of its type.

    Identity numbers are checked and `id_number_status` set, so the flag is signed.
    Raises PayloadError listing every blocking problem.
    """
    sv = catalog.latest(event_type)
    datum = copy.deepcopy(dict(payload))
    annotate_identity_numbers(datum)
    problems = [p for p in validate_against(sv, datum, catalog.event_types()) if p.blocking]
    if problems:
        listed = "; ".join(str(p) for p in problems)
        raise PayloadError(f"{event_type} payload is invalid: {listed}", list(problems))
    try:
        return sv, encode_datum(sv.parsed, datum)
    except Exception as err:  # validation should have caught it; name the cause anyway
        raise PayloadError(f"{event_type} payload cannot be Avro-encoded: {err}") from err


def decode_payload(catalog: SchemaCatalog, env: Envelope) -> dict[str, Any]:
    """The payload as a dict, read with the writer schema and resolved to the latest one."""
    writer = catalog.by_fingerprint(env.schema_fingerprint)
    if writer is None:
        raise UnknownSchemaError(f"no schema with fingerprint {env.schema_fingerprint.hex()}")
    if (writer.event_type, writer.version) != (env.event_type, env.schema_version):
        raise SchemaError(
            f"fingerprint is {writer.label}, but the envelope says "
            f"{env.event_type} v{env.schema_version}"
        )
    latest = catalog.latest(env.event_type)
    try:
        return decode_datum(writer.parsed, None if latest is writer else latest.parsed,
                            env.payload)
    except ValueError as err:
        raise PayloadError(f"{writer.label}: {err}") from err


def sign(unsigned: Envelope, key: SigningKey) -> Envelope:
    """The envelope with its signature; the key must be the one named by key_id."""
    if unsigned.key_id != key.key_id:
        raise EnvelopeError(f"envelope names key {unsigned.key_id}, signing key is {key.key_id}")
    return replace(unsigned, signature=key.sign(signing_bytes(unsigned)))


def seal_encoded(sv: SchemaVersion, body: bytes, *, publisher_id: str, key: SigningKey,
                 sequence: int, occurred_at: datetime, event_id: uuid.UUID | None = None,
                 published_at: datetime | None = None, version: int = 2) -> Envelope:
    """Wrap and sign a payload already Avro-encoded with `sv` (no validation here); `version`
    1 only to reproduce envelopes of publishers that have not moved to version 2."""
    unsigned = Envelope(
        event_id=event_id or uuid.uuid4(),
        event_type=sv.event_type,
        schema_version=sv.version,
        schema_fingerprint=sv.fingerprint,
        publisher_id=publisher_id,
        key_id=key.key_id,
        sequence=sequence,
        occurred_at=occurred_at,
        published_at=published_at or datetime.now(UTC),
        payload=body,
        version=version,
    )
    return sign(unsigned, key)


def seal_encoded_wire(sv: SchemaVersion, body: bytes, *, publisher_id: str, key: SigningKey,
                      sequence: int, occurred_at: datetime, event_id: uuid.UUID,
                      published_at: datetime | None = None) -> bytes:
    """The wire bytes of `encode_envelope(seal_encoded(...))` (version 2), with the header
    encoded once and no intermediate envelopes."""
    return WireSealer(sv, publisher_id, key).seal(
        body, sequence=sequence, occurred_at=occurred_at, event_id=event_id,
        published_at=published_at)


class WireSealer:
    """Seals payloads encoded with one schema version, for one publisher and key, into version
    2 wire bytes. The names in the header are checked and encoded once: a connector seals
    every row of a file with the same ones."""

    def __init__(self, sv: SchemaVersion, publisher_id: str, key: SigningKey) -> None:
        probe = Envelope(
            event_id=uuid.UUID(int=0), event_type=sv.event_type, schema_version=sv.version,
            schema_fingerprint=sv.fingerprint, publisher_id=publisher_id, key_id=key.key_id,
            sequence=0, occurred_at=_EPOCH, published_at=_EPOCH, payload=b"",
        )
        # The header between the event id and the fixed-size numbers never changes.
        self._names = _head(probe)[16 : -_FIXED.size]
        self._schema_version = sv.version
        self._key = key

    def seal(self, body: bytes, *, sequence: int, occurred_at: datetime, event_id: uuid.UUID,
             published_at: datetime | None = None) -> bytes:
        """The signed wire bytes of one event."""
        if not isinstance(event_id, uuid.UUID):
            raise EnvelopeError("event_id must be a UUID")
        _check_sizes(sequence, body)
        head = b"".join((
            event_id.bytes, self._names,
            _FIXED.pack(self._schema_version, sequence, _micros(occurred_at, "occurred_at"),
                        _micros(published_at or datetime.now(UTC), "published_at"), len(body)),
        ))
        signature = self._key.sign(SIGNING_DOMAIN_V2 + head + payload_digest(body))
        return MAGIC_V2 + head + body + signature


def seal(catalog: SchemaCatalog, event_type: str, payload: Mapping[str, Any], *,
         publisher_id: str, key: SigningKey, sequence: int, occurred_at: datetime,
         event_id: uuid.UUID | None = None, published_at: datetime | None = None,
         version: int = 2) -> Envelope:
    """Validate, encode, wrap and sign a payload in one step."""
    sv, body = encode_payload(catalog, event_type, payload)
    return seal_encoded(sv, body, publisher_id=publisher_id, key=key, sequence=sequence,
                        occurred_at=occurred_at, event_id=event_id, published_at=published_at,
                        version=version)
