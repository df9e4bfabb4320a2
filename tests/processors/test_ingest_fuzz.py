"""Fuzzing the verify stage against PostgreSQL: whatever keys, headers and values arrive at
ingest, every message ends stored or quarantined, and the stage's position moves past it."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.config import Settings
from hub.envelope import decode_envelope
from hub.errors import EnvelopeError
from hub.schema_catalog import SchemaCatalog
from processors.pg_store import PgEventStore
from processors.testing import SignedWorld, payload_for
from processors.tracking import InMessage
from processors.verify_stage import RETRY_HEADER, VerifyStage

pytestmark = pytest.mark.services

POLICE = "320000-police"
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@functools.cache
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


@dataclass
class Ingest:
    stage: VerifyStage
    world: SignedWorld
    offset: int = -1
    n: int = 0

    def honest(self, text: str) -> bytes:
        self.n += 1
        payload = payload_for("tip-report", self.n, self.world.epoch, POLICE, text=text)
        return self.world.event(POLICE, "tip-report", self.n, payload=payload)


@pytest.fixture(scope="module")
def ingest(request: pytest.FixtureRequest) -> Iterator[Ingest]:
    hub_settings: Settings = request.getfixturevalue("hub_settings")
    template: str = request.getfixturevalue("_migrated_template")
    from ops import db

    name = f"{hub_settings.pg_database}_fuzz"
    settings = db.create_database(hub_settings, name, exist_ok=False, template=template)
    world = SignedWorld(catalog())
    store = PgEventStore(settings.pg_dsn)
    stage = VerifyStage(store, catalog(), world.operator.verify_key)
    stage.process([InMessage("registry", 0, i, w) for i, w in enumerate(world.register(POLICE))])
    try:
        yield Ingest(stage, world)
    finally:
        store.close()
        db.drop_database(hub_settings, name)


@st.composite
def values(draw: Any, ingest: Ingest) -> bytes:
    kind = draw(st.sampled_from(["honest", "bytes", "flipped", "cut", "padded", "huge"]))
    if kind == "bytes":
        return bytes(draw(st.binary(max_size=300)))
    wire = ingest.honest(draw(TEXT))
    if kind == "flipped":
        # A position drawn independently of the wire's length keeps the draws reproducible.
        at = draw(st.integers(0, 1 << 20)) % len(wire)
        return wire[:at] + bytes([wire[at] ^ draw(st.integers(1, 255))]) + wire[at + 1 :]
    if kind == "cut":
        return wire[: draw(st.integers(0, 1 << 20)) % len(wire)]
    if kind == "padded":
        return wire + bytes(draw(st.binary(min_size=1, max_size=20)))
    if kind == "huge":
        return wire + b"\x00" * draw(st.sampled_from([300_000, 1_000_000]))
    return wire


HEADERS = st.dictionaries(
    st.sampled_from([RETRY_HEADER, "event-id", "x-other", "\x00"]),
    st.binary(max_size=24) | st.just(b"1"),
    max_size=3,
)
KEYS = st.none() | st.binary(max_size=40)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_message_is_stored_or_quarantined(ingest: Ingest, data: st.DataObject) -> None:
    count = data.draw(st.integers(1, 6))
    batch = []
    for _ in range(count):
        ingest.offset += 1
        value = data.draw(values(ingest))
        batch.append(
            InMessage("ingest", 0, ingest.offset, value, data.draw(KEYS), data.draw(HEADERS))
        )
    before = {e.source_offset for e in ingest.stage.store.quarantined()}
    result = ingest.stage.process(batch)
    assert result.stored + result.quarantined + result.duplicates == len(batch)
    with ingest.stage.store.transaction() as txn:
        assert txn.claim("verify", "ingest", 0) == ingest.offset
    quarantined = {e.source_offset for e in ingest.stage.store.quarantined()} - before
    for msg in batch:
        if msg.offset in quarantined:
            continue
        try:
            event_id = str(decode_envelope(msg.value).event_id)
        except EnvelopeError:
            pytest.fail(f"offset {msg.offset}: not an envelope, yet not quarantined")
        stored = ingest.stage.store.get(event_id)
        assert stored is not None and stored.record.wire == msg.value
