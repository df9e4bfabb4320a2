"""The verify stage over the in-memory store: storing, quarantining, absorbing, re-driving."""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import timedelta
from typing import Any

import pytest

from hub.envelope import decode_envelope
from hub.errors import StoreUnavailable
from hub.keys import generate_keypair
from hub.schema_catalog import SchemaCatalog
from hub.store import InMemoryEventStore, QuarantineStatus
from processors.testing import SignedWorld
from processors.tracking import DecodedRecords, InMessage, received_records
from processors.verify_stage import RETRY_HEADER, VerifyStage
from processors.verify_state import BatchSequences

POLICE = "320000-police"
REGISTRY = "000000-hub-operator"


@functools.cache
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


class Feed:
    """Numbers messages per topic like a one-partition Kafka topic would."""

    def __init__(self) -> None:
        self.offsets: dict[str, int] = {}

    def __call__(
        self, value: bytes, topic: str = "ingest", headers: dict[str, bytes] | None = None
    ) -> InMessage:
        offset = self.offsets.get(topic, -1) + 1
        self.offsets[topic] = offset
        key = decode_envelope(value).publisher_id.encode() if value[:3] == b"EXH" else None
        return InMessage(topic, 0, offset, value, key, headers or {})


def _flip_last(wire: bytes) -> bytes:
    """The wire with one bit of its signature changed: never a valid signature."""
    return wire[:-1] + bytes([wire[-1] ^ 1])


@pytest.fixture
def world() -> SignedWorld:
    return SignedWorld(catalog())


@pytest.fixture
def stage(world: SignedWorld) -> VerifyStage:
    return VerifyStage(InMemoryEventStore(), catalog(), world.operator.verify_key)


@pytest.fixture
def feed() -> Feed:
    return Feed()


def register(stage: VerifyStage, world: SignedWorld, feed: Feed, pid: str = POLICE) -> None:
    stage.process([feed(m, "registry") for m in world.register(pid)])


class TestVerifyStage:
    def test_verified_events_are_stored_and_forwarded(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """Registry events then a participant's events end in the store and the verified out."""
        register(stage, world, feed)
        wires = world.stream(POLICE, ["missing-person-alert", "tip-report"], 4)
        result = stage.process([feed(w) for w in wires])
        assert (result.stored, result.quarantined) == (4, 0)
        assert [o.value for o in result.outgoing] == wires
        assert {o.stream for o in result.outgoing} == {"verified"}
        assert stage.store.count() == 6  # two registry events + four
        [police] = [p for p in stage.store.publishers() if p.publisher_id == POLICE]
        assert (police.last_sequence, police.events, police.gaps) == (4, 4, 0)

    def test_same_bytes_twice_are_absorbed(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """A resent event (same bytes, new offset) has no second effect and is not quarantined."""
        register(stage, world, feed)
        wire = world.event(POLICE, "tip-report")
        stage.process([feed(wire)])
        result = stage.process([feed(wire), feed(wire)])
        assert (result.stored, result.duplicates, result.quarantined) == (0, 2, 0)
        assert stage.store.count() == 3

    def test_reprocessed_offsets_resend_without_effect(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """Messages at or below the recorded position are resent to verified, not re-applied."""
        register(stage, world, feed)
        msgs = [feed(w) for w in world.stream(POLICE, ["tip-report"], 3)]
        stage.process(msgs)
        again = stage.process(msgs)
        assert (again.stored, again.resent, again.duplicates) == (0, 3, 0)
        assert [o.value for o in again.outgoing] == [m.value for m in msgs]

    def test_gap_is_recorded_for_operators(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """A skipped sequence number is accepted and recorded as a gap anomaly."""
        register(stage, world, feed)
        stage.process([feed(world.event(POLICE, "tip-report", 1, sequence=1))])
        stage.process([feed(world.event(POLICE, "tip-report", 2, sequence=5))])
        [gap] = stage.store.anomalies(POLICE)
        assert (gap.kind, gap.expected, gap.got) == ("gap", 2, 5)
        assert stage.store.publishers()[-1].gaps == 1

    def test_keyless_resend_keeps_the_publishers_sequence(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """Sequence state follows the envelope's publisher: a keyless resend keeps it."""
        register(stage, world, feed)
        wires = world.stream(POLICE, ["tip-report"], 4)
        stage.process([feed(w) for w in wires])
        keyless = feed(wires[-1])
        stage.process([InMessage(keyless.topic, 0, keyless.offset, keyless.value, None, {})])
        [police] = [p for p in stage.store.publishers() if p.publisher_id == POLICE]
        assert (police.last_sequence, police.events, police.duplicates) == (4, 4, 1)
        stage.process([feed(world.event(POLICE, "tip-report", 9, sequence=5))])
        assert stage.store.anomalies(POLICE) == []

    @pytest.mark.parametrize(
        "case",
        [
            "MALFORMED",
            "UNKNOWN_PUBLISHER",
            "UNKNOWN_KEY",
            "BAD_SIGNATURE",
            "KEY_REVOKED",
            "NOT_PERMITTED",
            "DUPLICATE",
            "UNKNOWN_SCHEMA",
        ],
    )
    def test_each_rejection_is_quarantined_with_its_reason(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed, case: str
    ) -> None:
        """Every rejection reason lands in quarantine with that reason and the original bytes."""
        register(stage, world, feed)
        if case == "MALFORMED":
            wire = b"not an envelope"
        elif case == "UNKNOWN_PUBLISHER":
            world.keys["510000-police"] = generate_keypair()
            wire = world.event("510000-police", "tip-report")
        elif case == "UNKNOWN_KEY":
            wire = world.event(POLICE, "tip-report", key=generate_keypair())
        elif case == "BAD_SIGNATURE":
            good = world.event(POLICE, "tip-report")
            wire = good[:-1] + bytes([good[-1] ^ 1])
        elif case == "KEY_REVOKED":
            stage.process([feed(world.revoke_key(POLICE, world.epoch - timedelta(hours=1)), "r")])
            wire = world.event(POLICE, "tip-report")
        elif case == "NOT_PERMITTED":
            wire = world.event(POLICE, "migrant-record")
        elif case == "DUPLICATE":
            event_id = uuid.uuid4()
            stage.process([feed(world.event(POLICE, "tip-report", 1, event_id=event_id))])
            wire = world.event(POLICE, "tip-report", 2, event_id=event_id)
        else:
            changed = bytearray(world.event(POLICE, "tip-report"))
            changed[4 + 16 + 1 + len(b"tip-report") + 3] ^= 0xFF  # inside the fingerprint
            wire = bytes(changed)
        result = stage.process([feed(wire)])
        assert result.quarantined == 1
        [entry] = stage.store.quarantined()
        assert (entry.reason, entry.wire, entry.status) == (case, wire, QuarantineStatus.OPEN)
        assert entry.detail
        [out] = result.outgoing
        assert out.stream == "quarantine" and dict(out.headers)["reason"] == case.encode()

    def test_retry_after_late_key_resolves_the_entry(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """An event quarantined for an unknown key is stored when re-driven after key-added."""
        stage.process([feed(m, "registry") for m in world.register(POLICE, with_key=False)])
        wire = world.event(POLICE, "missing-person-alert")
        stage.process([feed(wire)])
        [entry] = stage.store.quarantined()
        assert entry.reason == "UNKNOWN_KEY"
        stage.process([feed(world.add_key(POLICE), "registry")])
        result = stage.process([feed(wire, headers={RETRY_HEADER: str(entry.id).encode()})])
        assert result.stored == 1
        resolved = stage.store.quarantine_entry(entry.id)
        assert resolved is not None and resolved.status is QuarantineStatus.RESOLVED

    def test_a_retry_header_alone_resolves_nothing(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """Finding 6: the header is the client's to set; other bytes under it settle nothing,
        stored or not, and the re-quarantined message does not claim to be a retry."""
        register(stage, world, feed)
        forged = _flip_last(world.event(POLICE, "tip-report", 1))
        stage.process([feed(forged)])
        [entry] = stage.store.quarantined()
        header = {RETRY_HEADER: str(entry.id).encode()}
        honest = world.event(POLICE, "tip-report", 2)
        stage.process([feed(honest, headers=header)])  # stored, but not the entry's bytes
        stage.process([feed(honest, headers=header)])  # and again, as a duplicate
        other_forgery = _flip_last(world.event(POLICE, "tip-report", 3))
        stage.process([feed(other_forgery, headers=header)])
        kept = stage.store.quarantine_entry(entry.id)
        assert kept is not None and kept.status is QuarantineStatus.OPEN
        latest = stage.store.quarantined()[-1]
        assert latest.wire == other_forgery and "retry of" not in latest.detail

    def test_registration_re_drives_what_came_before_it(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """Events quarantined before their publisher's registration go back by themselves."""
        world.keys[POLICE] = generate_keypair()
        early = world.stream(POLICE, ["tip-report"], 2)
        stage.process([feed(w) for w in early])
        assert {e.reason for e in stage.store.quarantined()} == {"UNKNOWN_PUBLISHER"}
        result = stage.process([feed(m, "registry") for m in world.register(POLICE)])
        redriven = [o for o in result.outgoing if o.stream == "ingest"]
        assert result.redriven == 2 and [o.value for o in redriven] == early
        assert {e.status for e in stage.store.quarantined()} == {QuarantineStatus.RETRIED}
        again = stage.process([feed(o.value, headers=dict(o.headers)) for o in redriven])
        assert again.stored == 2
        assert {e.status for e in stage.store.quarantined()} == {QuarantineStatus.RESOLVED}

    def test_bad_signature_is_not_re_driven_by_a_registration(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """Only rejections a registration can cure are re-driven; a forged event stays put."""
        register(stage, world, feed)
        wire = bytearray(world.event(POLICE, "tip-report"))
        wire[-1] ^= 1
        stage.process([feed(bytes(wire))])
        result = stage.process([feed(world.add_key(POLICE), "registry")])
        assert result.redriven == 0
        [forged] = stage.store.quarantined(reason="BAD_SIGNATURE")
        assert forged.status is QuarantineStatus.OPEN

    def test_registry_survives_a_new_stage(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        """A fresh stage on the same store knows the registered keys (state is in the store)."""
        register(stage, world, feed)
        fresh = VerifyStage(stage.store, catalog(), world.operator.verify_key)
        result = fresh.process([feed(world.event(POLICE, "tip-report"))])
        assert result.stored == 1

    def test_failed_batch_leaves_no_trace(
        self, stage: VerifyStage, world: SignedWorld, feed: Feed, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the store fails mid-batch, after the batch has written a quarantine row, a
        publisher's sequence and its input position, nothing of it is kept; it runs again."""
        register(stage, world, feed)
        msgs = [feed(w) for w in world.stream(POLICE, ["tip-report"], 2)]
        msgs.insert(1, feed(b"not an envelope"))
        before = (stage.store.count(), stage.store.publishers(), stage.store.quarantined())
        written: list[str] = []
        real_flush = BatchSequences.flush

        def flush_then_fail(self: BatchSequences, txn: Any) -> None:
            real_flush(self, txn)  # the quarantine row and the sequences are in the draft now
            written.append("sequences")
            raise StoreUnavailable("database went away mid-batch")

        monkeypatch.setattr(BatchSequences, "flush", flush_then_fail)
        with pytest.raises(StoreUnavailable):
            stage.process(msgs)
        assert written == ["sequences"]
        assert (stage.store.count(), stage.store.publishers(), stage.store.quarantined()) == before
        with stage.store.transaction() as txn:
            assert txn.claim("verify", "ingest", 0) == -1
        monkeypatch.undo()
        again = stage.process(msgs)
        assert (again.stored, again.quarantined) == (2, 1)


class TestReceivedRecords:
    """What the projection and match stages project: decoded from the message only when its
    bytes are the stored ones, otherwise the store's own record."""

    @pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.services)])
    def stored_stage(self, request: pytest.FixtureRequest, world: SignedWorld) -> VerifyStage:
        if request.param == "memory":
            return VerifyStage(InMemoryEventStore(), catalog(), world.operator.verify_key)
        from processors.pg_store import PgEventStore

        settings = request.getfixturevalue("fresh_db_settings")
        return VerifyStage(PgEventStore(settings.pg_dsn), catalog(), world.operator.verify_key)

    def test_stored_bytes_decode_and_other_bytes_read_the_store(
        self, stored_stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        register(stored_stage, world, feed)
        wire = world.event(POLICE, "tip-report", 1)
        assert stored_stage.process([feed(wire)]).stored == 1
        event_id = str(decode_envelope(wire).event_id)
        found = stored_stage.store.get(event_id)
        assert found is not None
        other = world.event(POLICE, "tip-report", 2)  # signed, never stored
        same = InMessage("verified", 0, 0, wire)
        # A stored id in the header over other bytes: the store's record, not the message's.
        posing = InMessage("verified", 0, 1, other, None, {"event-id": event_id.encode()})
        unknown = InMessage("verified", 0, 2, other)
        # An empty cache: the record is decoded from the message, not handed on by the stage.
        got = received_records(stored_stage.store, catalog(), [same, posing, unknown],
                               DecodedRecords())
        # Decoded from the message, equal to what the store reads back (JSON body included).
        assert got == [found.record, found.record, None]
        assert received_records(stored_stage.store, None, [same, unknown]) == [found.record, None]

    def test_the_record_the_stage_stored_is_handed_on_to_the_next_stage(
        self, stored_stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        stored_stage.decoded = decoded = DecodedRecords()
        register(stored_stage, world, feed)
        wire = world.event(POLICE, "tip-report", 1)
        assert stored_stage.process([feed(wire)]).stored == 1
        found = stored_stage.store.get(str(decode_envelope(wire).event_id))
        assert found is not None
        got = received_records(stored_stage.store, catalog(), [InMessage("verified", 0, 0, wire)],
                               decoded)
        assert got == [found.record]
        assert got[0] is decoded.get(hashlib.sha256(wire).digest())  # not decoded again

    def test_a_cached_record_never_stands_in_for_an_event_the_store_lacks(
        self, stored_stage: VerifyStage, world: SignedWorld, feed: Feed
    ) -> None:
        register(stored_stage, world, feed)
        stored = world.event(POLICE, "tip-report", 1)
        assert stored_stage.process([feed(stored)]).stored == 1
        never = world.event(POLICE, "tip-report", 2)
        decoded = DecodedRecords()
        record = stored_stage.store.get(str(decode_envelope(stored).event_id))
        assert record is not None
        # A record cached under bytes the store does not hold: the message names no stored event.
        decoded.put(hashlib.sha256(never).digest(), record.record)
        got = received_records(stored_stage.store, catalog(), [InMessage("verified", 0, 0, never)],
                               decoded)
        assert got == [None]


class TestDecodedRecords:
    """The per-process cache of decoded records stays within its size."""

    def test_the_oldest_record_leaves_first(self, world: SignedWorld) -> None:
        stage = VerifyStage(InMemoryEventStore(), catalog(), world.operator.verify_key)
        feed = Feed()
        register(stage, world, feed)
        assert stage.process([feed(world.event(POLICE, "tip-report", 1))]).stored == 1
        record = stage.store.read(after=0, limit=100)[-1].record
        cache = DecodedRecords(size=2)
        for digest in (b"a", b"b", b"c"):
            cache.put(digest, record)
        assert [cache.get(d) for d in (b"a", b"b", b"c")] == [None, record, record]
