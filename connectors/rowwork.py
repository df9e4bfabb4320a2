"""Converting a file's rows into encoded payloads, here or spread over worker processes.

Converting a row (mapping, conversion, identity flags, schema validation, Avro encoding, the
row's identity) is pure CPU work and the largest cost of a publish. It can run in worker
processes while this process signs, stores and sends (`publish --workers N`); results come back
in file order, so sequence numbers follow the rows as they always did. Every row is converted
and validated exactly once, wherever it runs. Workers pay off only with idle cores: on the
benchmark machine shared with the broker they were slower, so the default is none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.convert import RowProblem
from connectors.mapping import load_mapping
from connectors.readers import SourceRow
from connectors.rows import RowConverter
from hub.avro import encode_datum, validate_against
from hub.errors import InputFileError, PayloadError
from hub.limits import MAX_PAYLOAD_BYTES
from hub.schema_catalog import SchemaCatalog

_LOG = logging.getLogger(__name__)
CHUNK_ROWS = 500
# Business times that say when the fact happened, in order of preference; otherwise: now.
_OCCURRED_FIELDS = ("reported_at", "rescued_at", "received_at", "decided_at", "found_at",
                    "registered_on", "followed_up_on")


@dataclass(frozen=True)
class ConvertJob:
    """What a worker needs to convert rows of one file exactly as this process would."""

    event_type: str
    mapping_path: Path | None
    context: dict[str, str]
    today: dt.date


@dataclass(frozen=True)
class Converted:
    """One row's outcome: its encoded payload and identity, or the problems that reject it."""

    number: int
    row_key: str = ""
    encoded: bytes = b""
    occurred_at: dt.datetime | None = None
    problems: tuple[RowProblem, ...] = ()


def occurred_at(payload: dict[str, Any]) -> dt.datetime:
    """When the fact happened, from the payload's business time; otherwise now."""
    for name in _OCCURRED_FIELDS:
        value = payload.get(name)
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC)
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)


def row_identity(event_type: str, payload: dict[str, Any]) -> str:
    """Stable identity of a row's content: the same row published again is recognised."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{event_type}\x00{canonical}".encode()).hexdigest()


def encode_within_limits(catalog: SchemaCatalog, event_type: str,
                         payload: dict[str, Any]) -> bytes:
    """The payload's Avro bytes; PayloadError when they exceed what the hub accepts."""
    encoded = encode_datum(catalog.latest(event_type).parsed, payload)
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"the encoded event payload would be {len(encoded):,} bytes; the hub accepts "
            f"at most {MAX_PAYLOAD_BYTES:,} bytes per event"
        )
    return encoded


class RowWork:
    """Converts rows of one file for one event type (in this process or in a worker)."""

    def __init__(self, job: ConvertJob, catalog: SchemaCatalog) -> None:
        self.job = job
        self.catalog = catalog
        event_type = job.event_type
        # Looked up once: the catalog sorts its event types on every call.
        schema, event_types = catalog.latest(event_type), catalog.event_types()
        self.converter = RowConverter(
            load_mapping(event_type, job.mapping_path), schema.raw,
            context=job.context, today=job.today,
            validator=lambda p: [
                (x.field, x.reason)
                for x in validate_against(schema, p, event_types) if x.blocking
            ],
        )

    def convert(self, rows: list[SourceRow]) -> list[Converted]:
        """Each row's outcome, in order; a row never stops the others."""
        return [self.convert_row(row) for row in rows]

    def convert_row(self, row: SourceRow) -> Converted:
        try:
            payload, problems = self.converter.convert(row)
            if payload is None:
                return Converted(row.number, problems=tuple(problems))
            encoded = encode_within_limits(self.catalog, self.job.event_type, payload)
            return Converted(row.number, row_identity(self.job.event_type, payload), encoded,
                             occurred_at(payload))
        except PayloadError as err:
            return Converted(row.number, problems=(RowProblem("(row)", str(err)),))
        except Exception as err:  # a row must never stop the file: keep it as rejected
            return Converted(row.number,
                             problems=(RowProblem("(row)", f"cannot be converted: {err}"),))


def chunks(rows: Iterator[SourceRow], size: int = CHUNK_ROWS) -> Iterator[list[SourceRow]]:
    """Rows in lists of `size`; on a read error the rows read before it still come out."""
    chunk: list[SourceRow] = []
    try:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    except InputFileError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def converted(
    work: RowWork, batches: Iterator[list[SourceRow]], workers: int
) -> Iterator[tuple[list[SourceRow], list[Converted]]]:
    """(rows, outcomes) per batch in input order; `workers` 0 converts in this process."""
    if workers <= 0:
        for batch in batches:
            yield batch, work.convert(batch)
        return
    # spawn, not fork: this process already runs the Kafka producer's I/O thread.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(work.job,))
    window: deque[tuple[list[SourceRow], Future[list[Converted]]]] = deque()
    broken = False

    def outcome(batch: list[SourceRow], future: Future[list[Converted]]) -> list[Converted]:
        nonlocal broken
        try:
            return future.result()
        except BrokenProcessPool as err:
            # A worker died (killed, out of memory): the rest is converted here.
            if not broken:
                _LOG.warning("row conversion continues in this process: %s", err)
            broken = True
            return work.convert(batch)

    def drain() -> Iterator[tuple[list[SourceRow], list[Converted]]]:
        while window:
            done = window.popleft()
            yield done[0], outcome(*done)

    try:
        try:
            for batch in batches:
                if broken:
                    yield batch, work.convert(batch)
                    continue
                window.append((batch, pool.submit(_convert_in_worker, batch)))
                # Two batches per worker in flight: workers never wait, memory stays bounded.
                if len(window) > 2 * workers:
                    done = window.popleft()
                    yield done[0], outcome(*done)
        except InputFileError:
            # Rows read before a read error are still stored or rejected.
            yield from drain()
            raise
        yield from drain()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_WORKER: RowWork | None = None


def _start_worker(job: ConvertJob) -> None:
    global _WORKER
    _WORKER = RowWork(job, SchemaCatalog.load())


def _convert_in_worker(rows: list[SourceRow]) -> list[Converted]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.convert(rows)
