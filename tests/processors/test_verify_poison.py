"""One bad message never stops the verify stage (issue 11 findings 1-3), against PostgreSQL.

Each test sends a poison message between honest ones: the poison is quarantined with a reason,
the honest ones are stored, and the stage's input position moves past all of them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import pytest

from hub.config import Settings
from hub.envelope import decode_envelope
from hub.errors import StoreError
from hub.limits import MAX_WIRE_BYTES
from hub.schema_catalog import SchemaCatalog
from hub.store import EventRecord, InMemoryEventStore, QuarantineStatus
from processors import pg_store
from processors.pg_store import PgEventStore
from processors.testing import SignedWorld, payload_for
from processors.tracking import InMessage
from processors.verify_stage import RETRY_HEADER, VerifyStage

pytestmark = pytest.mark.services

POLICE = "320000-police"


@functools.cache
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


class Feed:
    def __init__(self) -> None:
        self.offset = -1

    def __call__(
        self, value: bytes, key: bytes | None = None, headers: dict[str, bytes] | None = None
    ) -> InMessage:
        self.offset += 1
        return InMessage("ingest", 0, self.offset, value, key, headers or {})


@pytest.fixture
def world() -> SignedWorld:
    return SignedWorld(catalog())


@pytest.fixture
def stage(fresh_db_settings: Settings, world: SignedWorld) -> VerifyStage:
    store = PgEventStore(fresh_db_settings.pg_dsn)
    stage = VerifyStage(store, catalog(), world.operator.verify_key)
    stage.process([InMessage("registry", 0, i, w) for i, w in enumerate(world.register(POLICE))])
    return stage


def _position(stage: VerifyStage) -> int:
    with stage.store.transaction() as txn:
        return txn.claim("verify", "ingest", 0)


def _between_honest(stage: VerifyStage, world: SignedWorld, poison: InMessage, feed: Feed) -> None:
    """Honest, poison, honest in one batch: two stored, one quarantined, position past all."""
    before = feed(world.event(POLICE, "tip-report", 1))
    after_wire = world.event(POLICE, "tip-report", 2)
    after = InMessage("ingest", 0, poison.offset + 1, after_wire)
    feed.offset = after.offset
    result = stage.process([before, poison, after])
    assert (result.stored, result.quarantined) == (2, 1)
    assert _position(stage) == after.offset
    [entry] = stage.store.quarantined()
    assert entry.wire == poison.value
    assert entry.source_offset == poison.offset


def test_nul_in_the_kafka_key_is_harmless(
    stage: VerifyStage, world: SignedWorld
) -> None:
    """Finding 1: a key holding NUL next to an envelope that is not one."""
    feed = Feed()
    feed.offset = 0
    poison = InMessage("ingest", 0, 1, b"EXH\x01" + b"\x05ab\x00cd" + b"\x00" * 40, b"a\x00b")
    _between_honest(stage, world, poison, feed)
    [entry] = stage.store.quarantined()
    assert entry.reason == "MALFORMED"


def test_nul_inside_a_signed_text_field_is_quarantined(
    stage: VerifyStage, world: SignedWorld
) -> None:
    """Finding 2: a correctly signed event whose text holds U+0000."""
    feed = Feed()
    feed.offset = 0
    payload = payload_for("tip-report", 7, world.epoch, POLICE, text="车站\x00附近")
    poison = InMessage("ingest", 0, 1, world.event(POLICE, "tip-report", 7, payload=payload))
    _between_honest(stage, world, poison, feed)
    [entry] = stage.store.quarantined()
    assert entry.reason == "MALFORMED"
    assert "text holds U+0000" in entry.detail


def test_nul_in_a_retry_header_is_harmless(stage: VerifyStage, world: SignedWorld) -> None:
    """Header bytes are the client's to set: they never reach the store as text."""
    feed = Feed()
    feed.offset = 0
    poison = InMessage("ingest", 0, 1, b"\x00garbage\x00", None, {RETRY_HEADER: b"1\x00"})
    _between_honest(stage, world, poison, feed)


def test_message_above_the_limit_is_quarantined_and_copied_short(
    stage: VerifyStage, world: SignedWorld
) -> None:
    """Finding 3: a near-1 MB message is quarantined whole in PostgreSQL; its copy on the
    quarantine topic stays under the limit, saying how long the original was."""
    feed = Feed()
    feed.offset = 0
    big = world.event(POLICE, "tip-report", 3)
    poison = InMessage("ingest", 0, 1, big + b"\x00" * (1_000_000 - len(big)))
    _between_honest(stage, world, poison, feed)
    [entry] = stage.store.quarantined()
    assert "1000000 bytes" in entry.detail
    result = stage.process([poison])  # already past: nothing new
    assert result.quarantined == 0


def test_quarantine_copy_of_an_oversized_message_is_short(world: SignedWorld) -> None:
    stage = VerifyStage(InMemoryEventStore(), catalog(), world.operator.verify_key)
    result = stage.process([InMessage("ingest", 0, 0, b"x" * 1_000_000)])
    [copy] = result.outgoing
    assert copy.stream == "quarantine"
    assert len(copy.value) <= MAX_WIRE_BYTES
    assert dict(copy.headers)["original-size"] == b"1000000"


def test_a_failing_batch_is_split_until_the_message_is_found(
    stage: VerifyStage, world: SignedWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a message makes the store refuse, it alone is quarantined and the rest go on."""
    feed = Feed()
    wires = [world.event(POLICE, "tip-report", n) for n in range(1, 9)]
    bad_id = str(decode_envelope(wires[5]).event_id)
    real_append_many = pg_store._PgEventTxn.append_many

    def refuse_one(txn: Any, records: Sequence[EventRecord]) -> None:
        if any(r.event_id == bad_id for r in records):
            raise StoreError("PostgreSQL refused: invalid byte sequence (simulated)")
        real_append_many(txn, records)

    monkeypatch.setattr(pg_store._PgEventTxn, "append_many", refuse_one)
    result = stage.process([feed(w) for w in wires])
    assert (result.stored, result.quarantined) == (7, 1)
    [entry] = stage.store.quarantined()
    assert entry.reason == "UNSTORABLE"
    assert entry.event_id == bad_id
    assert "invalid byte sequence" in entry.detail
    assert entry.status is QuarantineStatus.OPEN
    assert _position(stage) == 7
    assert [o.stream for o in result.outgoing].count("verified") == 7
