"""Property-based tests: every schema round-trips; no input makes the verifier raise."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from contract_samples import World, catalog, make_world
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.avro import decode_datum, encode_datum
from hub.envelope import Envelope, decode_envelope, decode_payload, encode_envelope, sign
from hub.keys import generate_keypair
from hub.reasons import RejectReason
from hub.schema_catalog import SchemaVersion
from hub.verify import Rejected, Verified

_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=40),
    "string": st.text(max_size=12),
}
_TIMES = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda t: t.replace(tzinfo=UTC)
)
_LOGICAL: dict[str, st.SearchStrategy[Any]] = {
    "date": st.dates(),
    "timestamp-micros": _TIMES,
    "uuid": st.uuids(),
}


def from_schema(schema: Any, named: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """A strategy for data of a parsed Avro schema (no recursive types are used here)."""
    if isinstance(schema, str):
        return _PRIMITIVES[schema] if schema in _PRIMITIVES else from_schema(named[schema], named)
    if isinstance(schema, list):
        return st.one_of([from_schema(branch, named) for branch in schema])
    if schema.get("logicalType") in _LOGICAL:
        return _LOGICAL[schema["logicalType"]]
    kind = schema["type"]
    if kind == "record":
        return st.fixed_dictionaries(
            {f["name"]: from_schema(f["type"], named) for f in schema["fields"]})
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(from_schema(schema["items"], named), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=5), from_schema(schema["values"], named),
                               max_size=3)
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    return from_schema(kind, named)


_KEY = generate_keypair()
_T = datetime(2026, 3, 1, tzinfo=UTC)
ALL_VERSIONS = [sv for t in catalog().event_types() for sv in catalog().versions(t)]


@pytest.mark.parametrize("sv", ALL_VERSIONS, ids=lambda sv: sv.label.replace(" ", "-"))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_schema_round_trips(sv: SchemaVersion, data: st.DataObject) -> None:
    """Any datum of any schema version survives Avro and a signed envelope unchanged."""
    datum = data.draw(from_schema(sv.parsed, sv.named))
    body = encode_datum(sv.parsed, datum)
    assert decode_datum(sv.parsed, None, body) == datum
    unsigned = Envelope(uuid.uuid4(), sv.event_type, sv.version, sv.fingerprint,
                        "510000-police", _KEY.key_id, 1, _T, _T, body)
    back = decode_envelope(encode_envelope(sign(unsigned, _KEY)))
    latest = catalog().latest(sv.event_type)
    expected = datum if latest is sv else decode_datum(sv.parsed, latest.parsed, body)
    assert decode_payload(catalog(), back) == expected


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_v1_tips_read_as_v2(data: st.DataObject) -> None:
    """Any tip written with v1 reads with v2 unchanged, plus the new field's default."""
    v1, v2 = catalog().version("tip-report", 1), catalog().version("tip-report", 2)
    datum = data.draw(from_schema(v1.parsed, v1.named))
    read = decode_datum(v1.parsed, v2.parsed, encode_datum(v1.parsed, datum))
    assert read == {**datum, "language": None}


_WORLD: list[World] = []


def _world() -> World:
    # Key generation and registration are slow next to one example; share one world.
    if not _WORLD:
        _WORLD.append(make_world())
    return _WORLD[0]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    """Any bytes given to verify come back as a Rejected with a reason, never an exception."""
    outcome = _world().check(data)
    assert isinstance(outcome, Rejected)
    assert isinstance(outcome.reason, RejectReason)
    assert outcome.detail


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_envelopes_never_pass(data: st.DataObject) -> None:
    """Random edits (overwrite, insert, delete) of signed bytes are rejected, never raised."""
    world = _world()
    event_type = data.draw(st.sampled_from(["missing-person-alert", "rescue-notice",
                                            "migrant-record", "tip-report"]))
    wire = bytearray(encode_envelope(world.seal(event_type)))
    position = data.draw(st.integers(0, len(wire) - 1))
    edit = data.draw(st.sampled_from(["overwrite", "insert", "delete"]))
    if edit == "overwrite":
        value = data.draw(st.integers(0, 255).filter(lambda v: v != wire[position]))
        wire[position] = value
    elif edit == "insert":
        wire.insert(position, data.draw(st.integers(0, 255)))
    else:
        del wire[position]
    outcome = world.check(bytes(wire))
    assert not isinstance(outcome, Verified)
    assert outcome.reason is not RejectReason.DUPLICATE
