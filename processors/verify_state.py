"""The verify stage's view of the world during one batch: events already seen, publishers'
sequences, the subjects (alerts, matches) changes may name, and the participant registry.

Each reads the event store as of the batch's transaction and adds what the batch itself did, so
two events of one batch are judged as if the first were already stored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from hub.authority import MatchSubject
from hub.envelope import decode_envelope, decode_payload
from hub.identity import HUB_OPERATOR_ID
from hub.keys import VerifyKey
from hub.reasons import SequenceIssue
from hub.registry import REGISTRY_EVENT_TYPES, Registry
from hub.schema_catalog import SchemaCatalog
from hub.store import (
    EventRecord,
    EventStore,
    EventStoreTxn,
    PublisherSequence,
    SequenceAnomaly,
)
from hub.verify import SequenceWarning, Verified, apply_registry_event

log = logging.getLogger(__name__)


@runtime_checkable
class BulkSequences(Protocol):
    """A transaction that writes several publishers' sequence states at once."""

    def save_sequences(self, states: Sequence[PublisherSequence]) -> None: ...


class BatchSeen:
    """The verifier's SeenEvents over the store, as of this transaction, plus this batch."""

    def __init__(self, known: Mapping[str, bytes]) -> None:
        self.wire: dict[str, bytes] = dict(known)

    def contains(self, event_id: uuid.UUID) -> bool:
        return str(event_id) in self.wire

    def add(self, event_id: uuid.UUID) -> None:
        # The wire bytes are filled in by the stage right after verification succeeds.
        self.wire.setdefault(str(event_id), b"")

    def discard(self, event_id: uuid.UUID) -> None:
        self.wire.pop(str(event_id), None)


class BatchSequences:
    """The verifier's SequenceTracker over ``publisher_sequences``, written back at commit."""

    def __init__(
        self,
        load: Callable[[Iterable[str]], Mapping[str, PublisherSequence]],
        now: datetime,
    ) -> None:
        self.load = load
        self.state: dict[str, PublisherSequence] = {}
        self.now = now
        self.changed: set[str] = set()
        self.anomalies: list[SequenceAnomaly] = []

    def preload(self, publisher_ids: Iterable[str]) -> None:
        """Read the state of these publishers in one query rather than one query each."""
        wanted = sorted(set(publisher_ids) - set(self.state))
        if wanted:
            loaded = self.load(wanted)
            for publisher_id in wanted:
                found = loaded.get(publisher_id)
                self.state[publisher_id] = found or PublisherSequence(publisher_id, 0, self.now)

    def _get(self, publisher_id: str) -> PublisherSequence:
        # Keyed on the envelope's publisher, read on first use: the Kafka key is the client's to
        # set, and a keyless or mis-keyed message must not start its publisher again from zero.
        if publisher_id not in self.state:
            loaded = self.load([publisher_id]).get(publisher_id)
            self.state[publisher_id] = loaded or PublisherSequence(publisher_id, 0, self.now)
        return self.state[publisher_id]

    def observe(self, publisher_id: str, sequence: int) -> SequenceWarning | None:
        st = self._get(publisher_id)
        expected = st.last_sequence + 1
        warning: SequenceWarning | None = None
        if sequence <= st.last_sequence:
            warning = SequenceWarning(SequenceIssue.REPLAY, publisher_id, expected, sequence)
            st = replace(st, replays=st.replays + 1)
        else:
            if sequence != expected:
                warning = SequenceWarning(SequenceIssue.GAP, publisher_id, expected, sequence)
                st = replace(st, gaps=st.gaps + 1)
            st = replace(st, last_sequence=sequence)
        self.state[publisher_id] = replace(st, events=st.events + 1, last_seen_at=self.now)
        self.changed.add(publisher_id)
        return warning

    def duplicate(self, publisher_id: str) -> None:
        st = self._get(publisher_id)
        self.state[publisher_id] = replace(st, duplicates=st.duplicates + 1, last_seen_at=self.now)
        self.changed.add(publisher_id)

    def note(self, warning: SequenceWarning, event_id: str) -> None:
        self.anomalies.append(
            SequenceAnomaly(
                warning.publisher_id, warning.kind, warning.expected, warning.got, event_id,
                self.now,
            )
        )

    def flush(self, txn: EventStoreTxn) -> None:
        changed = [self.state[publisher_id] for publisher_id in sorted(self.changed)]
        if isinstance(txn, BulkSequences):
            txn.save_sequences(changed)  # one statement for the batch (PostgreSQL)
        else:
            for state in changed:
                txn.save_sequence(state)
        for anomaly in self.anomalies:
            txn.record_anomaly(anomaly)


class BatchSubjects:
    """hub.authority's Subjects over the store as of this transaction, plus this batch."""

    def __init__(self, txn: EventStoreTxn) -> None:
        self.txn = txn
        self.pending: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}

    def _events(self, event_type: str, subject_id: str) -> list[tuple[str, dict[str, Any]]]:
        stored = self.txn.subject_events(event_type, subject_id)
        return stored + self.pending.get((event_type, subject_id), [])

    def add(self, subject_id: str, record: EventRecord) -> None:
        """A subject this batch creates; its lock is held from here to the commit."""
        self.txn.lock_subject(record.event_type, subject_id)
        key = (record.event_type, subject_id)
        self.pending.setdefault(key, []).append((record.publisher_id, dict(record.body)))

    def waiting(self) -> dict[str, set[str]]:
        """Who may have named a subject this batch created before it arrived (its publisher,
        the operator, a match's recipients), each with those subjects."""
        found: dict[str, set[str]] = {}
        for (_, subject_id), created in self.pending.items():
            for publisher, body in created:
                recipients = (str(r) for r in body.get("recipients") or ())
                for who in {publisher, HUB_OPERATOR_ID, *recipients}:
                    found.setdefault(who, set()).add(subject_id)
        return found

    def alert_issuer(self, alert_id: str) -> str | None:
        found = self._events("missing-person-alert", alert_id)
        return found[0][0] if found else None

    def match(self, match_id: str) -> MatchSubject | None:
        found = self._events("match-found", match_id)
        if not found:
            return None
        told = frozenset(str(r) for _, body in found for r in body.get("recipients") or ())
        return MatchSubject(str(found[0][1]["alert_id"]), told)


class RegistryView:
    """The registry as persisted in the event store, refreshed as new registry events land."""

    def __init__(self, store: EventStore, catalog: SchemaCatalog, anchor: VerifyKey) -> None:
        self._store = store
        self._catalog = catalog
        self._anchor = anchor
        self.registry = Registry.bootstrap(anchor)
        self._position = 0

    def reset(self) -> None:
        """Forget in-memory changes (after a failed batch) and reload from the store."""
        self.registry = Registry.bootstrap(self._anchor)
        self._position = 0

    def refresh(self) -> bool:
        """Apply registry events stored since the last refresh; True if any were new."""
        changed = False
        while True:
            batch = self._store.read(
                after=self._position, limit=500, event_types=REGISTRY_EVENT_TYPES
            )
            if not batch:
                return changed
            for stored in batch:
                env = decode_envelope(stored.record.wire)
                payload = decode_payload(self._catalog, env)
                outcome = apply_registry_event(self.registry, Verified(env, payload))
                if outcome is not None:
                    # Stored events were applicable when stored; a failure here is a bug to see.
                    log.error(
                        "stored registry event %s does not apply: %s", env.event_id, outcome.detail
                    )
                changed = True
                self._position = stored.position


__all__ = ["BatchSeen", "BatchSequences", "BatchSubjects", "BulkSequences", "RegistryView"]
