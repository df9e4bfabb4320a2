"""Publishing a file: read, map, validate, sign into the outbox, send; rejects beside the input."""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.config import ConnectorConfig
from connectors.convert import RowProblem
from connectors.outbox import NewEvent, Outbox, PendingEvent, Sealed
from connectors.readers import SourceRow, read_rows
from connectors.rowwork import (
    Converted,
    ConvertJob,
    RowWork,
    chunks,
    converted,
    encode_within_limits,
    occurred_at,
)
from connectors.transport import KafkaSender
from hub.avro import validate_payload
from hub.envelope import WireSealer, encode_envelope, seal
from hub.errors import HubError, InputFileError, OutboxError, PayloadError
from hub.keys import SigningKey
from hub.limits import text_problem
from hub.schema_catalog import SchemaCatalog
from hub.secrets import open_private_write


@dataclass
class PublishReport:
    """What happened to one file's rows."""

    path: Path
    rows: int = 0
    stored: int = 0
    already: int = 0
    rejected: int = 0
    file_error: str | None = None
    header_notes: list[str] = field(default_factory=list)
    unused_columns: list[str] = field(default_factory=list)
    rejects_path: Path | None = None


@dataclass
class Publisher:
    """Everything needed to turn rows into signed, stored events for one participant."""

    config: ConnectorConfig
    catalog: SchemaCatalog
    key: SigningKey
    outbox: Outbox
    sender: KafkaSender | None = None
    _wire_sealers: dict[str, WireSealer] = field(default_factory=dict, init=False, repr=False)

    def sealer(self, event_type: str, payload: dict[str, Any]) -> Callable[[int], Sealed]:
        """A function that validates, encodes and seals the payload once the outbox has
        allocated its sequence."""

        def seal_with(sequence: int) -> Sealed:
            envelope = seal(
                self.catalog, event_type, payload, publisher_id=self.config.participant_id,
                key=self.key, sequence=sequence, occurred_at=occurred_at(payload),
                event_id=uuid.uuid4(),
            )
            return Sealed(str(envelope.event_id), encode_envelope(envelope))

        return seal_with

    def encoded_sealer(self, event_type: str, row: Converted) -> Callable[[int], Sealed]:
        """As sealer, for a row converted, validated and encoded by RowWork already (seal()
        would validate it a second time, which halves throughput)."""
        sealer = self._wire_sealers.get(event_type)
        if sealer is None:
            sealer = self._wire_sealers[event_type] = WireSealer(
                self.catalog.latest(event_type), self.config.participant_id, self.key)

        def seal_with(sequence: int) -> Sealed:
            event_id = uuid.uuid4()
            return Sealed(str(event_id), sealer.seal(
                row.encoded, sequence=sequence,
                occurred_at=row.occurred_at or dt.datetime.now(dt.UTC), event_id=event_id,
            ))

        return seal_with

    def store_and_send(self, items: list[NewEvent]) -> list[tuple[int, Sealed]]:
        """Store new events (skipping rows already stored) and queue them for sending."""
        stored = self.outbox.append(items)
        if self.sender is not None and stored:
            self.sender.send(
                PendingEvent(seq, sealed.event_id, "", sealed.envelope) for seq, sealed in stored
            )
            self.sender.collect(self.outbox)
        return stored

    def publish_one(self, event_type: str, payload: dict[str, Any], source: str) -> int:
        """Publish a single payload built in code (a decision); returns its sequence number."""
        return self.publish_one_event(event_type, payload, source)[0]

    def publish_one_event(
        self, event_type: str, payload: dict[str, Any], source: str
    ) -> tuple[int, str]:
        """As publish_one, with the event id (to recognise the hub's answer to a request)."""
        problems = [p for p in validate_payload(self.catalog, event_type, payload) if p.blocking]
        if problems:
            raise HubError("; ".join(str(p) for p in problems))
        unstorable = text_problem(payload)
        if unstorable:
            raise PayloadError(f"{unstorable}, which the hub cannot store")
        # Checked here too: the payload is sealed later, inside the outbox's transaction.
        encode_within_limits(self.catalog, event_type, payload)
        stored = self.store_and_send([(None, source, event_type,
                                       self.sealer(event_type, payload))])
        return stored[0][0], str(stored[0][1].event_id)

    def publish_file(
        self, path: Path, event_type: str, *, mapping_path: Path | None = None,
        on_row: Callable[[int], None] | None = None, workers: int = 0,
    ) -> PublishReport:
        """Publish every valid row of a file; invalid rows go to <file>.rejects.csv.

        `workers`: processes converting rows beside this one (0: conversion here).
        """
        report = PublishReport(path)
        if event_type not in self.catalog:
            known = ", ".join(self.catalog.event_types())
            raise HubError(f"unknown event type {event_type!r}; known types: {known}")
        work = RowWork(ConvertJob(event_type, mapping_path,
                                  {"participant_id": self.config.participant_id,
                                   "area_code": self.config.area_code},
                                  dt.date.today()), self.catalog)
        converter = work.converter
        rejects = RejectWriter(path)
        try:
            rows = _guarded(read_rows(path), path)
            checked_header = False
            for rows_in_batch, outcomes in converted(work, chunks(rows), workers):
                report.rows += len(rows_in_batch)
                batch: list[NewEvent] = []
                accepted: list[SourceRow] = []
                for row, outcome in zip(rows_in_batch, outcomes, strict=True):
                    if not checked_header and row.cells:
                        report.header_notes = converter.header_problems(list(row.cells))
                        checked_header = True
                    # Maybe converted in a worker: the headers still count for the notes.
                    converter.note_headers(row.cells)
                    if outcome.problems:
                        rejects.write(row, list(outcome.problems))
                        report.rejected += 1
                    else:
                        batch.append((outcome.row_key, f"{path.name}:{row.number}", event_type,
                                      self.encoded_sealer(event_type, outcome)))
                        accepted.append(row)
                self._flush_batch(batch, accepted, report, rejects)
                if on_row is not None:
                    on_row(rows_in_batch[-1].number)
        except InputFileError as err:
            report.file_error = str(err)
            # No rejects file beside a path that is missing, a folder or a FIFO.
            if path.is_file():
                rejects.write_file_error(str(err))
        finally:
            rejects.close()
        report.unused_columns = sorted(converter.unused_headers)
        report.rejects_path = rejects.path if rejects.used else None
        return report

    def _flush_batch(
        self, batch: list[NewEvent], rows: list[SourceRow], report: PublishReport,
        rejects: RejectWriter,
    ) -> None:
        if not batch:
            return
        known = self.outbox.known_row_keys(item[0] for item in batch if item[0] is not None)
        fresh = [(item, row) for item, row in zip(batch, rows, strict=True)
                 if item[0] not in known]
        try:
            stored = len(self.store_and_send([item for item, _ in fresh]))
        except OutboxError:
            raise  # the outbox itself failed (disk full ...): no row is at fault
        except (HubError, ValueError, TypeError):
            # One event could not be sealed (the batch was rolled back): store them one by one
            # so that only the failing row is rejected.
            stored = 0
            for item, row in fresh:
                try:
                    stored += len(self.store_and_send([item]))
                except (HubError, ValueError, TypeError) as err:
                    rejects.write(row, [RowProblem("(row)", f"cannot be signed: {err}")])
                    report.rejected += 1
                    batch.remove(item)
        report.stored += stored
        # Rows already in the outbox (earlier run, or repeated in this file) add nothing.
        report.already += len(batch) - stored


def _guarded(rows: Iterator[SourceRow], path: Path) -> Iterator[SourceRow]:
    """Rows, with reader failures in the middle of a file turned into one clear file error."""
    try:
        yield from rows
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path.name}: undecodable text near byte {err.start}") from err
    except OSError as err:
        raise InputFileError(f"{path.name}: cannot be read: {err}") from err


class RejectWriter:
    """Writes `<input>.rejects.csv` (UTF-8 with BOM, opens in Excel) only if something is wrong."""

    def __init__(self, source: Path) -> None:
        self.path = source.with_name(source.name + ".rejects.csv")
        self.used = False
        self._handle: Any = None
        self._writer: Any = None

    def _open(self) -> None:
        if self._handle is None:
            # It copies the rejected rows, personal data: readable by its owner only.
            self._handle = open_private_write(self.path, encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["row", "field", "reason", "original row"])
            self.used = True

    def write(self, row: SourceRow, problems: list[RowProblem]) -> None:
        self._open()
        fields = "; ".join(p.field for p in problems)
        reasons = "; ".join(f"{p.field}: {p.reason}" for p in problems)
        original = [_clip(c) for c in row.raw]
        self._writer.writerow([row.number, fields, reasons, *original])

    def write_file_error(self, message: str) -> None:
        self._open()
        self._writer.writerow(["", "(file)", message])

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _clip(cell: str) -> str:
    # A huge cell is kept in the input file; the reject file names it without copying 64 KiB.
    return cell if len(cell) <= 1000 else cell[:1000] + f"... ({len(cell)} characters)"
