"""The projection stage without Faust: a batch of verified-topic messages into the projections.

The verified topic carries wire bytes. With a schema catalog the stage checks each message
against the event store by digest and decodes the record from the bytes it received (the same
:func:`hub.store.record_of` the verify stage stored, so live and rebuilt projections cannot differ
by decoding); without one, or when the bytes differ from the stored ones, it reads the record from
the store. It applies the records with :func:`hub.projections.apply.apply_events`, in one
transaction with its input positions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from hub.limits import storable_text
from hub.projection_store import ProjectionStore
from hub.projections.apply import apply_events
from hub.schema_catalog import SchemaCatalog
from hub.store import EventRecord, EventStore
from processors.tracking import (
    InMessage,
    advance_partitions,
    claim_partitions,
    event_id_of,
    received_records,
    refusals_marked,
    split_until_alone,
)

log = logging.getLogger(__name__)

__all__ = ["ProjectStage", "ProjectionResult"]


@dataclass
class ProjectionResult:
    """What one batch did."""

    applied: int = 0
    skipped: int = 0
    unknown: int = 0
    refused: int = 0

    def merged(self, later: ProjectionResult) -> ProjectionResult:
        return ProjectionResult(
            self.applied + later.applied,
            self.skipped + later.skipped,
            self.unknown + later.unknown,
            self.refused + later.refused,
        )


class ProjectStage:
    """Apply verified events to every projection (see the module docstring)."""

    def __init__(
        self,
        events: EventStore,
        projections: ProjectionStore,
        *,
        consumer: str = "project",
        catalog: SchemaCatalog | None = None,
    ) -> None:
        self.events = events
        self.catalog = catalog
        self.projections = projections
        self.consumer = consumer

    def process(self, messages: Sequence[InMessage]) -> ProjectionResult:
        """Run one batch in one transaction; raises StoreUnavailable to be retried as a whole.

        An event the projection store refuses for another reason is isolated by splitting the
        batch and recorded as a projection failure, so the events after it are projected.
        """
        return split_until_alone(
            list(messages), self._attempt, self._refused, ProjectionResult.merged
        )

    def _refused(self, msg: InMessage, cause: Exception) -> ProjectionResult:
        log.error("project: %s[%d]@%d refused: %s", msg.topic, msg.partition, msg.offset, cause)
        with self.projections.transaction() as txn:
            done = claim_partitions(txn, self.consumer, [msg])
            if msg.offset > done[(msg.topic, msg.partition)]:
                where = event_id_of(msg) or f"{msg.topic}/{msg.partition}/{msg.offset}"
                detail = storable_text(f"the projection store refused this event: {cause}")
                txn.fail("*", where, detail)
            advance_partitions(txn, self.consumer, [msg])
        return ProjectionResult(refused=1)

    def _attempt(self, messages: Sequence[InMessage]) -> ProjectionResult:
        found_records = received_records(self.events, self.catalog, messages)
        result = ProjectionResult()
        with refusals_marked(), self.projections.transaction() as txn:
            done = claim_partitions(txn, self.consumer, messages)
            records: list[EventRecord] = []
            for msg, found in zip(messages, found_records, strict=True):
                if msg.offset <= done[(msg.topic, msg.partition)]:
                    result.skipped += 1
                    continue
                if found is None:
                    event_id = event_id_of(msg)
                    # Only the verify stage writes this topic, after storing; anything else on
                    # it is kept visible rather than silently dropped.
                    txn.fail(
                        "*",
                        event_id or f"{msg.topic}/{msg.partition}/{msg.offset}",
                        f"verified message at {msg.topic}[{msg.partition}]@{msg.offset} "
                        "names no stored event",
                    )
                    result.unknown += 1
                    continue
                records.append(found)
            result.applied = apply_events(txn, records)
            advance_partitions(txn, self.consumer, messages)
        return result
