"""One contract for every event-store and projection-store backend: in memory and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.errors import ProjectionError, StoreError
from hub.projection_store import InMemoryProjectionStore, checksum_rows
from hub.projections.apply import apply_events, rebuild
from hub.reasons import RejectReason, SequenceIssue
from hub.store import (
    EventRecord,
    InMemoryEventStore,
    PublisherSequence,
    QuarantineEntry,
    QuarantineStatus,
    SequenceAnomaly,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.services)]


def make_record(
    event_type: str = "tip-report",
    body: dict[str, Any] | None = None,
    *,
    sequence: int = 1,
    publisher: str = "320000-police",
) -> EventRecord:
    event_id = str(uuid.uuid4())
    return EventRecord(
        event_id=event_id,
        event_type=event_type,
        schema_version=1,
        schema_fingerprint="ab" * 32,
        publisher_id=publisher,
        key_id="0f" * 16,
        sequence=sequence,
        occurred_at=T0 + timedelta(minutes=sequence),
        published_at=T0 + timedelta(minutes=sequence, seconds=1),
        payload=b"\x02avro" + event_id.encode(),
        signature=bytes(range(64)),
        wire=b"EXH\x01" + event_id.encode(),
        body=body if body is not None else {"tip_id": f"T-{sequence}", "text": "seen at station"},
    )


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    if request.param == "memory":
        yield InMemoryEventStore(), InMemoryProjectionStore()
        return
    from processors.pg_projections import PgProjectionStore
    from processors.pg_store import PgEventStore

    # A brand-new migrated database per test, from the run's shared template (tests/conftest.py).
    settings = request.getfixturevalue("fresh_db_settings")
    events, projections = PgEventStore(settings.pg_dsn), PgProjectionStore(settings.pg_dsn)
    yield events, projections
    events.close()
    projections.close()


class TestEventStore:
    def test_append_keeps_every_field(self, stores: tuple[Any, Any]) -> None:
        """A stored event reads back with every envelope field, signature, wire bytes, body."""
        events, _ = stores
        record = make_record(body={"tip_id": "T-1", "nested": {"a": [1, "二"]}})
        with events.transaction() as txn:
            assert txn.append(record) is True
        stored = events.get(record.event_id)
        assert stored is not None
        assert stored.record == record
        assert stored.position >= 1

    def test_duplicate_id_has_no_second_effect(self, stores: tuple[Any, Any]) -> None:
        """Appending the same event id twice stores one row and reports the second as old."""
        events, _ = stores
        record = make_record()
        with events.transaction() as txn:
            assert txn.append(record)
        with events.transaction() as txn:
            assert txn.append(record) is False
            assert txn.known([record.event_id, "absent"]) == {record.event_id: record.wire}
        assert events.count() == 1

    def test_batch_append_absorbs_an_id_stored_meanwhile(self, stores: tuple[Any, Any]) -> None:
        """A batch holding an id another transaction stored since is stored all the same, the
        old row untouched and the new rows kept (PostgreSQL: the bulk copy gives way)."""
        events, _ = stores
        first, second, third = make_record(), make_record(sequence=2), make_record(sequence=3)
        with events.transaction() as txn:
            txn.append(second)
        changed = replace(second, body={"tip_id": "other"})
        with events.transaction() as txn:
            txn.append_many([first, changed, third])
        assert events.count() == 3
        stored = events.get_many([first.event_id, second.event_id, third.event_id])
        assert stored[second.event_id].record == second
        assert stored[first.event_id].record == first
        assert stored[third.event_id].record == third
        assert stored[first.event_id].position < stored[third.event_id].position

    def test_wire_digests_are_sha256_of_stored_bytes(self, stores: tuple[Any, Any]) -> None:
        """The digest of each stored event's wire bytes; ids not stored are left out."""
        events, _ = stores
        records = [make_record(sequence=n) for n in (1, 2)]
        with events.transaction() as txn:
            txn.append_many(records)
        digests = events.wire_digests([r.event_id for r in records] + [str(uuid.uuid4())])
        assert digests == {r.event_id: hashlib.sha256(r.wire).digest() for r in records}

    def test_failed_unit_of_work_leaves_nothing(self, stores: tuple[Any, Any]) -> None:
        """An exception inside a transaction rolls back the event and its input position."""
        events, _ = stores
        with pytest.raises(RuntimeError), events.transaction() as txn:
            txn.claim("verify", "ingest", 0)
            txn.append(make_record())
            txn.advance("verify", "ingest", 0, 41)
            raise RuntimeError("crash before commit")
        assert events.count() == 0
        with events.transaction() as txn:
            assert txn.claim("verify", "ingest", 0) == -1

    def test_tracking_advances_and_never_goes_back(self, stores: tuple[Any, Any]) -> None:
        """The processed offset per consumer and partition only grows."""
        events, _ = stores
        with events.transaction() as txn:
            assert txn.claim("verify", "ingest", 3) == -1
            txn.advance("verify", "ingest", 3, 10)
        with events.transaction() as txn:
            assert txn.claim("verify", "ingest", 3) == 10
            txn.advance("verify", "ingest", 3, 7)
            assert txn.claim("other", "ingest", 3) == -1
        with events.transaction() as txn:
            assert txn.claim("verify", "ingest", 3) == 10

    def test_read_pages_in_order_and_filters_types(self, stores: tuple[Any, Any]) -> None:
        """Reading after a position pages ascending and can keep only some event types."""
        events, _ = stores
        recs = [make_record(sequence=i) for i in range(1, 6)]
        recs.append(make_record("key-added", {"participant_id": "p"}, sequence=6))
        with events.transaction() as txn:
            for r in recs:
                txn.append(r)
        first = events.read(limit=2)
        assert [s.record.event_id for s in first] == [recs[0].event_id, recs[1].event_id]
        rest = events.read(after=first[-1].position)
        assert [s.record.event_id for s in rest] == [r.event_id for r in recs[2:]]
        keys = events.read(event_types=["key-added"])
        assert [s.record.event_id for s in keys] == [recs[5].event_id]

    def test_sequences_and_anomalies(self, stores: tuple[Any, Any]) -> None:
        """Publisher sequence state and recorded gaps read back as written."""
        events, _ = stores
        state = PublisherSequence("320000-police", 7, T0, events=7, gaps=1)
        gap = SequenceAnomaly("320000-police", SequenceIssue.GAP, 5, 7, "e-7", T0)
        with events.transaction() as txn:
            txn.save_sequence(state)
            txn.record_anomaly(gap)
        with events.transaction() as txn:
            assert txn.sequences(["320000-police", "x"]) == {"320000-police": state}
        assert events.publishers() == [state]
        assert events.anomalies("320000-police") == [gap]
        assert events.anomalies("510100-migrant-registry") == []

    def test_quarantine_lifecycle(self, stores: tuple[Any, Any]) -> None:
        """Rejected bytes are kept with their reason; a retry is stamped and counted."""
        events, _ = stores
        entry = QuarantineEntry(
            RejectReason.UNKNOWN_KEY,
            "key 0f.. not registered",
            b"\x00raw",
            T0,
            source_topic="ingest",
            source_partition=2,
            source_offset=9,
        )
        with events.transaction() as txn:
            first = txn.quarantine(entry)
            txn.quarantine(QuarantineEntry(RejectReason.BAD_SIGNATURE, "x", b"y", T0))
            txn.mark_quarantine(first, QuarantineStatus.RETRIED, T0 + timedelta(hours=1))
        kept = events.quarantine_entry(first)
        assert kept is not None
        assert (kept.reason, kept.wire, kept.source_offset) == (
            RejectReason.UNKNOWN_KEY, b"\x00raw", 9
        )
        assert kept.reason is RejectReason.UNKNOWN_KEY  # read back as the enum, not as text
        assert kept.status is QuarantineStatus.RETRIED and kept.retries == 1
        assert kept.retried_at == T0 + timedelta(hours=1)
        bad = events.quarantined(reason=RejectReason.BAD_SIGNATURE)
        assert [e.reason for e in bad] == [RejectReason.BAD_SIGNATURE]
        open_now = events.quarantined(status=QuarantineStatus.OPEN)
        assert open_now[0].reason == RejectReason.BAD_SIGNATURE
        with pytest.raises(StoreError), events.transaction() as txn:
            txn.mark_quarantine(9999, QuarantineStatus.RESOLVED, T0)


    def test_open_quarantine_of_one_publisher(self, stores: tuple[Any, Any]) -> None:
        """Open entries are found by publisher and reason; retried or other ones are not."""
        events, _ = stores
        police, registry = "320000-police", "320000-migrant-registry"

        def kept(reason: RejectReason, publisher: str) -> QuarantineEntry:
            return QuarantineEntry(reason, "d", b"w", T0, publisher_id=publisher)

        with events.transaction() as txn:
            wanted = txn.quarantine(kept(RejectReason.UNKNOWN_KEY, police))
            retried = txn.quarantine(kept(RejectReason.UNKNOWN_KEY, police))
            txn.quarantine(kept(RejectReason.BAD_SIGNATURE, police))
            txn.quarantine(kept(RejectReason.UNKNOWN_KEY, registry))
            txn.mark_quarantine(retried, QuarantineStatus.RETRIED, T0)
        with events.transaction() as txn:
            found = txn.open_quarantine(
                police, [RejectReason.UNKNOWN_KEY, RejectReason.UNKNOWN_PUBLISHER]
            )
        assert [e.id for e in found] == [wanted]


def alert(alert_id: str, seq: int) -> EventRecord:
    body = {
        "alert_id": alert_id,
        "case_type": "ABDUCTION",
        "person": {
            "name": "李小红",
            "sex": "FEMALE",
            "birth": {"precision": "DAY", "date": "2015-04-02"},
        },
        "last_seen_place": {"area_code": "320106", "text": "南京市鼓楼区"},
        "last_seen_at": "2026-02-28T10:00:00+00:00",
        "urgency": "URGENT",
    }
    return make_record("missing-person-alert", body, sequence=seq)


def closed(alert_id: str, seq: int) -> EventRecord:
    return make_record(
        "alert-closed",
        {"alert_id": alert_id, "outcome": "FOUND_ALIVE", "found_at": None},
        sequence=seq,
    )


class TestProjectionStore:
    def test_event_applied_once(self, stores: tuple[Any, Any]) -> None:
        """Applying the same event twice leaves counters and rows as after the first time."""
        _, projections = stores
        update = make_record("alert-update", {"alert_id": "A1", "update_id": "U1"}, sequence=2)
        for _ in range(2):
            with projections.transaction() as txn:
                apply_events(txn, [alert("A1", 1), update] if _ == 0 else [update])
        [row] = projections.rows("proj_alerts")
        assert row["updates"] == 1 and row["status"] == "open" and row["name"] == "李小红"
        assert row["birth_date"] == "2015-04-02"
        assert projections.count("proj_alert_updates") == 1

    def test_closed_alert_stays_closed_whatever_the_order(self, stores: tuple[Any, Any]) -> None:
        """An alert-closed applied before its alert still yields a closed alert."""
        _, projections = stores
        with projections.transaction() as txn:
            apply_events(txn, [closed("A2", 2), alert("A2", 1)])
        [row] = projections.rows("proj_alerts")
        assert (row["status"], row["outcome"], row["case_type"]) == (
            "closed",
            "FOUND_ALIVE",
            "ABDUCTION",
        )

    def test_failure_is_kept_and_stream_moves_on(self, stores: tuple[Any, Any]) -> None:
        """An event a projection cannot apply is recorded as a failure, not lost or fatal."""
        _, projections = stores
        bad = make_record("missing-person-alert", {"alert_id": ""}, sequence=1)
        with projections.transaction() as txn:
            apply_events(txn, [bad, alert("A3", 2)])
        [(name, event_id, detail)] = projections.failures()
        assert (name, event_id) == ("alerts", bad.event_id) and "alert_id" in detail
        assert projections.count("proj_alerts") == 1

    def test_rebuild_equals_live(self, stores: tuple[Any, Any]) -> None:
        """Rebuilding from the store gives rows with the same checksum as the live projection."""
        events, projections = stores
        recs = [
            alert("A4", 1),
            make_record("alert-update", {"alert_id": "A4", "update_id": "U"}, sequence=2),
            closed("A4", 3),
            make_record(sequence=4),
        ]
        with events.transaction() as txn:
            for r in recs:
                txn.append(r)
        for r in recs:
            with projections.transaction() as txn:
                apply_events(txn, [r])
        live = {t: checksum_rows(projections.rows(t)) for t in ("proj_alerts", "proj_tips")}
        assert rebuild(events, projections) == 4
        assert {t: checksum_rows(projections.rows(t)) for t in live} == live
        assert projections.count("proj_alerts") == 1

    def test_unknown_table_is_an_error(self, stores: tuple[Any, Any]) -> None:
        """Asking for a table no projection owns raises a hub error."""
        _, projections = stores
        with pytest.raises(ProjectionError, match="unknown projection table"):
            projections.rows("event_store")
