"""What the console's pages show, read through the store, status and registry code `hubctl`
uses; the few queries below are those no existing function answers (time series, per-match
notifications, one page of matches)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import TopicPartition

from hub.config import Settings
from hub.envelope import Envelope, decode_envelope, decode_payload
from hub.errors import EnvelopeError, HubError
from hub.identity import HUB_OPERATOR_ID
from hub.reasons import RejectReason
from hub.routing import minimal_line
from hub.schema_catalog import SchemaCatalog
from hub.silence import Rhythm, rhythm, words
from hub.store import PublisherSequence, QuarantineEntry, QuarantineStatus
from ops.console.participant_health import rhythms, unread_notifications
from processors.health import stage_positions
from processors.kafka_reading import reading_consumer
from processors.operations import StatusSnapshot, snapshot
from processors.pg_projections import PgProjectionStore
from processors.pg_store import (
    QUARANTINE_COLUMNS,
    PgConnection,
    PgEventStore,
    quarantine_of_row,
)
from processors.supervisor import workers

MINUTES = 60
KEYS_EXPIRING_WITHIN = timedelta(days=14)
# A publisher's rhythm is retaken this often (s): it moves slowly and walks the store.
RHYTHM_EVERY = 60.0
MATCH_STATES = ("NOTIFIED", "REVIEW", "DISMISSED", "CONFIRMED", "REJECTED", "NEED_INFO")
RATE_NAMES = ("ingest", "verified", "quarantined", "notifications")
log = logging.getLogger("hub.console")


@dataclass
class Figures:
    """What the overview shows, taken together in the background."""

    snap: StatusSnapshot
    taken: datetime
    lags: list[PartitionLag]
    lag_problem: str
    rates: dict[str, list[int]]
    attention: list[Attention]
    # Per participant: notifications on its topic its inbox has not fetched yet (None: not
    # known, see unread_problem), and its rhythm of publishing (hub.silence).
    unread: dict[str, int] = field(default_factory=dict)
    unread_problem: str = ""
    rhythms: dict[str, Rhythm] = field(default_factory=dict)


class StatusCache:
    """The `hubctl status` snapshot with the overview's other figures (lag per partition,
    rates per minute, the attention list), retaken in the background every few seconds.

    Pages read the latest figures instead of asking Kafka and counting the store on every
    request, and each snapshot is taken against the previous one, so rates are per second as
    `hubctl status` shows them.
    """

    def __init__(self, settings: Settings, every: float = 5.0) -> None:
        self.settings = settings
        self.every = every
        self.db = PgConnection(settings.pg_dsn)
        self._latest: Figures | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rhythms: dict[str, Rhythm] = {}
        self._rhythms_taken = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="status-cache", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # a failed round is retried; the pages show the last figures
                log.exception("overview figures not taken")
            self._stop.wait(self.every)

    def refresh(self) -> Figures:
        previous = self._latest.snap if self._latest else None
        snap = snapshot(self.settings, previous)
        try:
            lags, problem = partition_lag(self.settings), ""
        except Exception as err:  # the broker may be down: the page says so, shows the rest
            lags, problem = [], f"lag per partition not read: {err}"
        try:
            seen = [p.publisher_id for p in snap.publishers]
            if (time.monotonic() - self._rhythms_taken > RHYTHM_EVERY
                    or set(seen) - set(self._rhythms)):
                self._rhythms = rhythms(self.db, seen)
                self._rhythms_taken = time.monotonic()
            rates = rates_last_hour(self.db)
            items = attention(self.db, snap, self._rhythms)
            unread, unread_problem = unread_notifications(self.settings, self.db)
        except HubError as err:
            snap.problems.append(f"postgres: {err}")
            rates, items = {name: [0] * MINUTES for name in RATE_NAMES}, []
            unread, unread_problem = {}, f"not read: {err}"
        figures = Figures(snap, datetime.now(UTC), lags, problem, rates, items, unread,
                          unread_problem, self._rhythms)
        with self._lock:
            self._latest = figures
        return figures

    def latest(self) -> Figures:
        with self._lock:
            if self._latest is not None:
                return self._latest
        return self.refresh()


@dataclass(frozen=True)
class PartitionLag:
    """One stage's position in one partition of its input."""

    stage: str
    topic: str
    partition: int
    end: int
    done: int
    updated_at: datetime | None

    @property
    def lag(self) -> int:
        return max(self.end - self.done, 0)


def partition_lag(settings: Settings) -> list[PartitionLag]:
    """Per stage and partition: log end offset against what the stage recorded as done."""
    from hub.topics import topic_name
    from processors.health import STAGE_INPUTS

    recorded = stage_positions(settings)
    out: list[PartitionLag] = []
    with reading_consumer(settings) as consumer:
        for stage, inputs in STAGE_INPUTS.items():
            for suffix in inputs:
                name = topic_name(settings, suffix)
                tps = [TopicPartition(name, p) for p in sorted(
                    consumer.partitions_for_topic(name) or ())]
                ends = consumer.end_offsets(tps) if tps else {}
                for tp in tps:
                    offset, at = recorded.get((stage, name, tp.partition), (-1, None))
                    out.append(PartitionLag(stage, name, tp.partition, ends[tp], offset + 1, at))
    return out


def rates_last_hour(db: PgConnection) -> dict[str, list[int]]:
    """Events per minute over the last hour: stored (verified), quarantined, notifications
    sent; ingest is their sum, since every ingest message ends in one of the first two."""
    queries = {
        "verified": "SELECT stored_at FROM event_store WHERE stored_at > %s",
        "quarantined": "SELECT received_at FROM quarantine WHERE received_at > %s",
        "notifications": "SELECT sent_at FROM match_outbox WHERE sent_at > %s "
        "AND topic LIKE '%%notifications.%%'",
    }
    now = datetime.now(UTC)
    since = now - timedelta(minutes=MINUTES)
    out: dict[str, list[int]] = {}
    with db.cursor() as cur:
        for name, query in queries.items():
            # Counted per minute in the database, so only 60 rows come back at most.
            cur.execute(
                f"SELECT floor(extract(epoch FROM %s::timestamptz - t) / 60)::int, count(*) "
                f"FROM ({query}) AS s(t) GROUP BY 1",
                (now, since),
            )
            buckets = [0] * MINUTES
            for ago, count in cur.fetchall():
                if 0 <= ago < MINUTES:
                    buckets[MINUTES - 1 - ago] = int(count)
            out[name] = buckets
    out["ingest"] = [a + b for a, b in zip(out["verified"], out["quarantined"], strict=True)]
    return out


@dataclass
class Health:
    """Whether PostgreSQL and the broker answer, and the workers' processes."""

    postgres: str
    postgres_ms: float | None
    broker: str
    workers: list[tuple[int, bool, int | None]] = field(default_factory=list)


def health(settings: Settings, db: PgConnection, snap: StatusSnapshot) -> Health:
    """PostgreSQL and broker health, and the workers alive, for the overview."""
    began = time.monotonic()
    try:
        with db.cursor() as cur:
            cur.execute("SELECT 1")
        pg, pg_ms = "up", (time.monotonic() - began) * 1000
    except HubError as err:
        pg, pg_ms = f"down: {err}", None
    kafka = [p for p in snap.problems if p.startswith("kafka")]
    broker = kafka[0] if kafka else ("up" if snap.topics else "no topics seen")
    found = [(w.number, w.running, w.pid) for w in workers(settings)]
    return Health(pg, pg_ms, broker, found)


@dataclass(frozen=True)
class Attention:
    """One thing an operator on duty should look at now."""

    kind: str
    text: str
    link: str


def attention(
    db: PgConnection, snap: StatusSnapshot, rhythms: dict[str, Rhythm] | None = None
) -> list[Attention]:
    """Open quarantine by reason, stuck stages, publishers silent for longer than usual (their
    own rhythm, hub.silence), keys soon expiring, hits past their reply or decision deadline
    (hub.response, proj_match_duties)."""
    items: list[Attention] = []
    for (reason, status), count in sorted(snap.quarantine.items()):
        if status == QuarantineStatus.OPEN.value:
            entries = "entry" if count == 1 else "entries"
            items.append(Attention("quarantine", f"{count} open quarantine {entries} {reason}",
                                   f"/quarantine?reason={reason}&status=open"))
    for stuck in snap.stuck:
        items.append(Attention("stuck", stuck.describe(), "/"))
    now = datetime.now(UTC)
    for pub in snap.publishers:
        # The hub operator publishes when there is something to say (hits, registry changes).
        if pub.publisher_id == HUB_OPERATOR_ID:
            continue
        known = (rhythms or {}).get(pub.publisher_id) or rhythm([pub.last_seen_at])
        quiet = known.silent_for(now)
        if quiet is not None:
            items.append(Attention("silent", f"{pub.publisher_id} silent for {words(quiet)}, "
                                   f"longer than usual ({known.describe()})",
                                   f"/participants/{pub.publisher_id}"))
    with db.cursor() as cur:
        cur.execute(
            "SELECT participant_id, key_id, valid_until FROM proj_participant_keys "
            "WHERE revoked_at IS NULL AND valid_until IS NOT NULL "
            "AND valid_until BETWEEN %s AND %s ORDER BY valid_until",
            (now, now + KEYS_EXPIRING_WITHIN),
        )
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM match_pairs WHERE status = 'REVIEW'")
        waiting = cur.fetchone()
        if waiting and waiting[0]:
            items.append(Attention("review", f"{waiting[0]} pairs wait in the review queue",
                                   "/review"))
        for pid, key_id, until in rows:
            items.append(Attention("key", f"key {key_id[:8]} of {pid} expires {until:%Y-%m-%d}",
                                   f"/participants/{pid}"))
        cur.execute(
            "SELECT match_id, duty, unit, owed_by, due_at, escalated_to FROM proj_match_duties "
            "WHERE done_at IS NULL AND due_at < %s ORDER BY due_at LIMIT 50",
            (now,),
        )
        for match_id, duty, unit, owed_by, due_at, escalated_to in cur.fetchall():
            who = owed_by or unit
            late = f"{duty} by {who} overdue since {due_at:%Y-%m-%d %H:%M} UTC"
            told = f", escalated to {escalated_to}" if escalated_to else ", not yet escalated"
            items.append(Attention("overdue", f"hit {match_id[:8]}: {late}{told}",
                                   f"/matches/{match_id}"))
    return items


# -- participants -------------------------------------------------------------------------


@dataclass
class ParticipantView:
    """A participant with what the registry and the store know of it."""

    participant_id: str
    display_name: str
    jurisdiction: str
    department: str
    registered_at: datetime | None
    keys: list[dict[str, Any]] = field(default_factory=list)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    sequence: PublisherSequence | None = None
    quarantined: int = 0
    anomalies: list[Any] = field(default_factory=list)
    unread: int | None = None  # None: not known (the broker did not answer, or not yet)
    rhythm: Rhythm | None = None
    silent_for: timedelta | None = None


def participants(projections: PgProjectionStore, events: PgEventStore,
                 figures: Figures | None = None) -> list[ParticipantView]:
    """What the participants page shows of each participant, in one pass over the projections."""
    people = projections.rows("proj_participants")
    keys = projections.rows("proj_participant_keys")
    perms = projections.rows("proj_participant_permissions")
    sequences = {p.publisher_id: p for p in events.publishers()}
    with events.db.cursor() as cur:
        cur.execute(
            "SELECT publisher_id, count(*) FROM quarantine WHERE status = 'open' "
            "AND publisher_id IS NOT NULL GROUP BY 1"
        )
        quarantined = {row[0]: int(row[1]) for row in cur.fetchall()}
    out = []
    for row in sorted(people, key=lambda r: str(r["participant_id"])):
        pid = str(row["participant_id"])
        out.append(ParticipantView(
            pid, str(row.get("display_name") or ""), str(row.get("jurisdiction") or ""),
            str(row.get("department") or ""), row.get("registered_at"),
            keys=sorted((k for k in keys if k["participant_id"] == pid),
                        key=lambda k: str(k.get("valid_from") or "")),
            permissions=sorted((p for p in perms if p["participant_id"] == pid),
                               key=lambda p: str(p["event_type"])),
            sequence=sequences.get(pid),
            quarantined=quarantined.get(pid, 0),
        ))
    if figures is None:
        return out
    now = datetime.now(UTC)
    for view in out:
        view.unread = figures.unread.get(view.participant_id)
        view.rhythm = figures.rhythms.get(view.participant_id) or (
            rhythm([view.sequence.last_seen_at]) if view.sequence else None)
        view.silent_for = view.rhythm.silent_for(now) if view.rhythm else None
    return out


# -- quarantine ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QuarantineFilter:
    """Which quarantine entries to list: by reason, publisher, status and time."""
    reason: RejectReason | None = None
    publisher: str | None = None
    status: QuarantineStatus | None = None
    since: datetime | None = None
    until: datetime | None = None


def quarantine_entries(
    events: PgEventStore, chosen: QuarantineFilter, limit: int = 200
) -> tuple[list[QuarantineEntry], int]:
    """Entries matching the filter, newest first, at most `limit`; and how many matched.

    Filtered and limited in the database (PgEventStore.quarantined returns every entry with
    its bytes, fine for the command line, too much for a page over a large quarantine); rows
    are read into entries by the store's own row reader."""
    where = (
        "(%s::text IS NULL OR reason = %s) AND (%s::text IS NULL OR status = %s) "
        "AND (%s::text IS NULL OR publisher_id = %s) "
        "AND (%s::timestamptz IS NULL OR received_at >= %s) "
        "AND (%s::timestamptz IS NULL OR received_at < %s)"
    )
    status = chosen.status.value if chosen.status else None
    reason = str(chosen.reason) if chosen.reason else None
    params = (reason, reason, status, status, chosen.publisher, chosen.publisher,
              chosen.since, chosen.since, chosen.until, chosen.until)
    with events.db.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM quarantine WHERE {where}", params)
        row = cur.fetchone()
        total = int(row[0]) if row else 0
        cur.execute(f"SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE {where} "
                    "ORDER BY id DESC LIMIT %s", (*params, limit))
        return [quarantine_of_row(cur, events.keyring, r) for r in cur.fetchall()], total


def decoded_header(entry: QuarantineEntry) -> tuple[Envelope | None, str]:
    """The entry's envelope, or why it cannot be read (a malformed message is kept as is)."""
    try:
        return decode_envelope(entry.wire), ""
    except EnvelopeError as err:
        return None, str(err)


def decoded_payload(
    catalog: SchemaCatalog, envelope: Envelope
) -> tuple[dict[str, Any] | None, str]:
    """A quarantined envelope's payload decoded for display, or None and why it cannot be."""
    try:
        return decode_payload(catalog, envelope), ""
    except HubError as err:
        return None, str(err)


# -- matches ------------------------------------------------------------------------------

_PAIR_COLUMNS = (
    "match_id, alert_id, counterpart_kind, counterpart_id, child_index, score, level, status, "
    "explanation, recipients, notifications, decided_by, decided_at, first_found_at, updated_at"
)


def matches_page(
    db: PgConnection, *, state: str | None, offset: int, limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """One page of hits, newest first, and how many there are in that state."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM match_pairs WHERE %s::text IS NULL OR status = %s",
            (state, state),
        )
        row = cur.fetchone()
        total = int(row[0]) if row else 0
        cur.execute(
            f"SELECT {_PAIR_COLUMNS} FROM match_pairs WHERE %s::text IS NULL OR status = %s "
            "ORDER BY first_found_at DESC, match_id LIMIT %s OFFSET %s",
            (state, state, limit, offset),
        )
        names = [d.name for d in cur.description or ()]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return rows, total


def match_detail(db: PgConnection, match_id: str) -> dict[str, Any] | None:
    """One hit, the notifications sent for it and its decision history."""
    with db.cursor() as cur:
        cur.execute(f"SELECT {_PAIR_COLUMNS} FROM match_pairs WHERE match_id = %s", (match_id,))
        found = cur.fetchone()
        if found is None:
            return None
        names = [d.name for d in cur.description or ()]
        pair = dict(zip(names, found, strict=True))
        # Notifications are keyed by match id in the outbox (processors/route_stage.py).
        cur.execute(
            "SELECT topic, created_at, sent_at FROM match_outbox WHERE msg_key = %s "
            "AND topic LIKE '%%notifications.%%' ORDER BY id",
            (match_id.encode(),),
        )
        pair["told"] = [
            {"recipient": t.rsplit("notifications.", 1)[-1], "queued": c, "sent": s}
            for t, c, s in cur.fetchall()
        ]
        cur.execute(
            "SELECT decision, deciding_unit, publisher_id, decided_at, note FROM "
            "proj_match_decisions WHERE match_id = %s ORDER BY decided_at",
            (match_id,),
        )
        pair["decisions"] = [
            dict(zip(("decision", "unit", "publisher", "at", "note"), r, strict=True))
            for r in cur.fetchall()
        ]
        pair["review_acts"] = _acts(cur, "WHERE a.match_id = %s", (match_id,), 20)
        # What the hit owes by when (hub.response): each notified unit's acknowledgement and
        # the decision, met or not, escalated or not.
        cur.execute(
            "SELECT duty, owed_by, due_at, done_at, escalated_at, escalated_to "
            "FROM proj_match_duties WHERE match_id = %s ORDER BY due_at NULLS LAST, duty, unit",
            (match_id,),
        )
        pair["duties"] = [
            dict(zip(("duty", "owed_by", "due", "done", "escalated", "escalated_to"), r,
                     strict=True))
            for r in cur.fetchall()
        ]
    return pair


def review_queue(db: PgConnection, *, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
    """Pairs waiting for an operator (hub.review), best score first, and how many wait."""
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM match_pairs WHERE status = 'REVIEW'")
        row = cur.fetchone()
        total = int(row[0]) if row else 0
        cur.execute(
            "SELECT match_id, alert_id, counterpart_kind, counterpart_id, child_index, score, "
            "explanation, first_found_at FROM match_review "
            "ORDER BY score DESC, first_found_at, match_id LIMIT %s", (limit,))
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()], total


def _acts(cur: Any, where: str, params: tuple[Any, ...], limit: int) -> list[dict[str, Any]]:
    cur.execute(
        "SELECT a.match_id, a.act, a.operator, a.reason, a.acted_at, a.applied_at, p.status "
        f"FROM match_review_acts a LEFT JOIN match_pairs p USING (match_id) {where} "
        "ORDER BY a.applied_at DESC LIMIT %s", (*params, limit))
    names = ("match_id", "act", "operator", "reason", "acted_at", "applied_at", "status")
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def review_acts(db: PgConnection, *, limit: int = 20) -> list[dict[str, Any]]:
    """The review acts the match stage applied most recently, with the pair's state now."""
    with db.cursor() as cur:
        return _acts(cur, "", (), limit)


def masked_explanation(lines: list[str] | None) -> list[str]:
    """The explanation without compared values (names, dates): field, level and weight."""
    return [minimal_line(line) for line in lines or []]
