"""DNA-sampling requests and the samples that answer them, inside the match stage's transaction.

The rule is hub.sampling. This adapter keeps each migrant household's children as first listed
(``sampling_households``, and one row per child in ``sampling_children``, which an alert
arriving after the record is searched against), records one request per child
(``sampling_requests``, keyed by a request id derived from the household and the child, so
nothing is asked twice, also after a restart or a rebuild of the match index), and writes to the
match outbox a signed ``dna-sampling-request`` event (kept in the event store like every hub act)
and a signed notice to the police of the place of residence. A ``dna-sample`` event answering a
request, from the police unit it went to (anyone else's is refused and kept in match_failures),
puts the child's profile into the household's latest record, which the match stage then indexes
and searches again: the DNA candidates and the kinship score (trio or duo against every alert's
parents) do the rest, and a hit notifies the alert's unit as any hit does.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from psycopg.types.json import Jsonb

from hub.envelope import encode_envelope, seal
from hub.errors import MatchingInputError
from hub.identity import HUB_OPERATOR_ID
from hub.matching.rules import AlertState
from hub.matching.store import MatchTxn
from hub.notice import seal_notice
from hub.routing import local_police
from hub.sampling import (
    ListedChild,
    OpenAlert,
    SamplingRequest,
    child_fits,
    entry_listing,
    first_listed,
    listed_child,
    listing_day,
    open_alert,
    sampling_notification,
    sampling_request,
)
from hub.store import EventRecord, EventStore
from hub.tips import AGE_TOLERANCE_YEARS
from processors.route_stage import Router

__all__ = ["ChildSampling"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Household:
    """A household as the sampling rule keeps it: first listed on, its children as first
    listed, and its latest registration (the one a sample is put into)."""

    since: date
    children: list[ListedChild]
    latest_on: date
    latest_event_id: str


_HOUSEHOLD_COLUMNS = "since, children, latest_on, latest_event_id"


def _household(row: Sequence[Any]) -> Household:
    since, children, latest_on, latest_event_id = row
    return Household(since, _children(children), latest_on, latest_event_id)


def _children_text(children: list[ListedChild]) -> str:
    return json.dumps([
        {"sex": c.sex, "years": list(c.years), "first_listed_on": c.first_listed_on.isoformat()}
        for c in children
    ])


def _children(raw: Any) -> list[ListedChild]:
    return [
        ListedChild(str(c["sex"]), (int(c["years"][0]), int(c["years"][1])),
                    date.fromisoformat(c["first_listed_on"]))
        for c in raw or []
    ]


class ChildSampling:
    """Asks for DNA samples of children of unknown origin and applies the samples returned."""

    def __init__(
        self, router: Router, events: EventStore, merge: Callable[[AlertState], dict[str, Any]]
    ) -> None:
        self.router = router
        self.events = events
        self.merge = merge  # an alert's body with its updates applied (the match stage's)
        # The open alerts as the rule reads them, and the state of match_alerts they were read
        # at: read again only when an alert changed, not for every record.
        self._alerts: list[OpenAlert] = []
        self._alerts_at: tuple[Any, ...] | None = None
        # Whether that state was checked since the last event that is no record (only those
        # change alerts): a run of records checks it once, not once per record.
        self._alerts_checked = False
        # The batch's households as read at its start (None: not listed yet), kept current by
        # each record, and which of them have a sample; what the records changed is written
        # once, before anything reads those tables and at the batch's end (flush): a few
        # statements per batch instead of four per record.
        self._households: dict[str, Household | None] = {}
        self._sampled: set[str] = set()
        self._unwritten: dict[str, Household] = {}

    def begin_batch(self, txn: MatchTxn, events: Iterable[EventRecord]) -> None:
        """Read (and lock, in one order for every worker) the households of the batch's
        migrant records, and which of them have samples."""
        ids = sorted({
            str(e.body["record_id"]) for e in events
            if e.event_type == "migrant-record" and e.body.get("record_id")
        })
        self._households = dict.fromkeys(ids)
        self._sampled = set()
        self._unwritten = {}
        self._alerts_checked = False
        if not ids:
            return
        cur = txn.cursor
        cur.execute(
            f"SELECT record_id, {_HOUSEHOLD_COLUMNS} FROM sampling_households "
            "WHERE record_id = ANY(%b::text[]) ORDER BY record_id FOR UPDATE",
            (ids,),
        )
        for record_id, *row in cur.fetchall():
            self._households[record_id] = _household(row)
        cur.execute(
            "SELECT DISTINCT record_id FROM sampling_requests "
            "WHERE record_id = ANY(%b::text[]) AND sample IS NOT NULL",
            (ids,),
        )
        self._sampled = {row[0] for row in cur.fetchall()}

    def flush(self, txn: MatchTxn) -> None:
        """Write the households the batch's records changed, and their children's rows."""
        self._alerts_checked = False  # the event to come may change an alert
        if not self._unwritten:
            return
        changed, self._unwritten = sorted(self._unwritten.items()), {}
        cur = txn.cursor
        cur.execute(
            "INSERT INTO sampling_households (record_id, since, latest_event_id, latest_on, "
            "children) SELECT r, s, e, l, c::jsonb FROM unnest(%b::text[], %b::date[], "
            "%b::text[], %b::date[], %b::text[]) AS t(r, s, e, l, c) "
            "ON CONFLICT (record_id) DO UPDATE SET since = EXCLUDED.since, "
            "latest_event_id = EXCLUDED.latest_event_id, latest_on = EXCLUDED.latest_on, "
            "children = EXCLUDED.children",
            (
                [record_id for record_id, _ in changed],
                [h.since for _, h in changed],
                [h.latest_event_id for _, h in changed],
                [h.latest_on for _, h in changed],
                [_children_text(h.children) for _, h in changed],
            ),
        )
        children = [(record_id, c) for record_id, h in changed for c in h.children]
        cur.execute(
            "INSERT INTO sampling_children (record_id, child_sex, born_from, born_to, "
            "first_listed_on) SELECT * FROM unnest(%b::text[], %b::text[], %b::int[], "
            "%b::int[], %b::date[]) ON CONFLICT DO NOTHING",
            (
                [record_id for record_id, _ in children],
                [c.sex for _, c in children],
                [c.years[0] for _, c in children],
                [c.years[1] for _, c in children],
                [c.first_listed_on for _, c in children],
            ),
        )

    def alerts_changed(self) -> None:
        """Read the open alerts' state again before the next request (an event that failed
        may have changed an alert that its rollback changed back)."""
        self._alerts_checked = False

    def _household(self, txn: MatchTxn, record_id: str) -> Household | None:
        if record_id in self._households:
            return self._households[record_id]
        cur = txn.cursor
        cur.execute(
            f"SELECT {_HOUSEHOLD_COLUMNS} FROM sampling_households "
            "WHERE record_id = %s FOR UPDATE",
            (record_id,),
        )
        row = cur.fetchone()
        return _household(row) if row else None

    # --- requests ------------------------------------------------------------------------

    def consider(
        self, txn: MatchTxn, event: EventRecord, registered: Mapping[str, str | None]
    ) -> int:
        """Requests for this migrant record's children; how many were newly sent."""
        record = event.body
        record_id = str(record.get("record_id") or "")
        day = listing_day(record)
        entries = list(record.get("children") or [])
        if not record_id or day is None:
            return 0
        row = self._household(txn, record_id)
        since: date = min(row.since, day) if row else day
        known = list(row.children) if row else []
        listed: list[tuple[int, Mapping[str, Any], ListedChild]] = []
        for index, entry in enumerate(entries):
            seen = listed_child(entry, day)
            if seen is None:
                continue
            child, new = first_listed(known, *seen, day)
            if new:
                known.append(child)
            listed.append((index, entry, child))
        if row is None or day >= row.latest_on:
            now_listed = Household(since, known, day, event.event_id)
        else:  # an older registration arriving late: the latest stays the latest
            now_listed = Household(since, known, row.latest_on, row.latest_event_id)
        sent = 0
        if listed:
            alerts = self._open_alerts(txn, day)
            for index, entry, child in listed:
                fitting = sampling_request(record_id, index, entry, child, since, alerts)
                if fitting is not None and self._send(txn, event, fitting, child, registered):
                    sent += 1
        # Only now: a failure above rolls the record's requests back, and its household stays
        # as it was.
        self._households[record_id] = self._unwritten[record_id] = now_listed
        return sent

    def consider_alert(
        self, txn: MatchTxn, state: AlertState, registered: Mapping[str, str | None]
    ) -> int:
        """Requests for children already listed in households that fit an alert arriving (or
        changed) after their records; how many were newly sent. A child asked for before, for
        this alert or another, is not asked again (the request id is the child's)."""
        alert = open_alert(state.alert_id, self.merge(state))
        if alert is None:
            return 0
        cur = txn.cursor
        # Candidates by birth years and listing day; child_fits then applies the whole rule.
        cur.execute(
            "SELECT c.record_id, c.child_sex, c.born_from, c.born_to, c.first_listed_on, "
            "h.since, h.latest_event_id FROM sampling_children c "
            "JOIN sampling_households h ON h.record_id = c.record_id "
            "WHERE c.born_to >= %s AND c.born_from <= %s AND c.first_listed_on >= %s "
            "AND NOT EXISTS (SELECT 1 FROM sampling_requests r WHERE r.record_id = c.record_id "
            "AND r.child_sex = c.child_sex AND r.born_from = c.born_from "
            "AND r.born_to = c.born_to) ORDER BY c.record_id, c.born_from",
            (alert.years[0] - AGE_TOLERANCE_YEARS, alert.years[1] + AGE_TOLERANCE_YEARS,
             alert.lost_on),
        )
        sent = 0
        for record_id, sex, born_from, born_to, listed_on, since, latest_id in cur.fetchall():
            child = ListedChild(sex, (born_from, born_to), listed_on)
            if not child_fits(alert, child):
                continue
            stored = self.events.get(latest_id)
            if stored is None:
                continue  # the record is not in the event store (it cannot be sent)
            record = stored.record
            found = entry_listing(record.body, child)
            if found is None:
                continue  # the latest registration no longer lists the child
            index, entry = found
            alerts = self._open_alerts(txn, child.first_listed_on)
            request = sampling_request(record_id, index, entry, child, since, alerts)
            if request is not None and self._send(txn, record, request, child, registered):
                sent += 1
        return sent

    def _open_alerts(self, txn: MatchTxn, day: date) -> list[OpenAlert]:
        if not self._alerts_checked:
            cur = txn.cursor
            cur.execute("SELECT count(*), max(updated_at) FROM match_alerts")
            state = tuple(cur.fetchone() or ())
            if state != self._alerts_at:
                read = (open_alert(s.alert_id, self.merge(s))
                        for s in txn.open_alerts(None, None))
                self._alerts = [a for a in read if a is not None]
                self._alerts_at = state
            self._alerts_checked = True
        # Only persons last seen by the listing day can be the child.
        return [a for a in self._alerts if a.lost_on <= day]

    def _send(
        self,
        txn: MatchTxn,
        event: EventRecord,
        request: SamplingRequest,
        child: ListedChild,
        registered: Mapping[str, str | None],
    ) -> bool:
        area = event.body.get("current_address")
        code = area.get("area_code") if isinstance(area, Mapping) else None
        notes: list[str] = []
        recipient = local_police(str(code) if code else None, registered, notes)
        cur = txn.cursor
        cur.execute(
            "INSERT INTO sampling_requests (request_id, record_id, record_event_id, child_index, "
            "child_sex, born_from, born_to, reasons, alert_ids, recipient) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (request.request_id, request.record_id, event.event_id, request.child_index,
             child.sex, child.years[0], child.years[1], [r.value for r in request.reasons],
             list(request.alert_ids), recipient),
        )
        if cur.rowcount != 1:
            return False  # asked before: never twice
        if recipient is None:
            # Kept (the row above) for the operator; nobody registered can take the sample.
            log.warning("sampling request %s: %s", request.request_id, "; ".join(notes))
            return False
        now = datetime.now(UTC)
        payload = {
            "request_id": uuid.UUID(request.request_id),
            "record_id": request.record_id,
            "record_event_id": uuid.UUID(event.event_id),
            "child_index": request.child_index,
            "reasons": [r.value for r in request.reasons],
            "alert_ids": list(request.alert_ids),
            "alerts_fitting": request.alerts_fitting,
            "recipient": recipient,
            "requested_at": now,
        }
        envelope = seal(
            self.router.catalog, "dna-sampling-request", payload,
            publisher_id=HUB_OPERATOR_ID, key=self.router.operator,
            sequence=txn.next_sequence(), occurred_at=now,
            # One event id per request: sent again, it is absorbed as a duplicate.
            event_id=uuid.uuid5(uuid.UUID(request.request_id), "dna-sampling-request"),
            published_at=now,
        )
        txn.outbox(self.router.ingest_topic, HUB_OPERATOR_ID.encode(), encode_envelope(envelope))
        body = sampling_notification(request, event.body, recipient, str(envelope.event_id))
        txn.outbox(self.router.notification_topic(recipient), request.request_id.encode(),
                   seal_notice(self.router.operator, body, issued_at=now))
        log.info("sampling request %s for record %s child %d to %s (%s; fits %d open alerts)",
                 request.request_id, request.record_id, request.child_index, recipient,
                 ",".join(request.reasons), request.alerts_fitting)
        return True

    # --- samples -------------------------------------------------------------------------

    def take_sample(self, txn: MatchTxn, event: EventRecord) -> EventRecord | None:
        """Keep a returned sample with its request; the household's latest record to index
        again with it (None when that record is not in the event store)."""
        request_id = str(event.body.get("request_id") or "")
        cur = txn.cursor
        cur.execute(
            "SELECT recipient, record_id FROM sampling_requests WHERE request_id::text = %s "
            "FOR UPDATE",
            (request_id,),
        )
        asked = cur.fetchone()
        if asked is None:
            raise MatchingInputError(
                f"dna-sample {event.event_id} field request_id: {request_id!r} is no "
                "sampling request of the hub"
            )
        if asked[0] != event.publisher_id:
            # Only the unit that was asked (and knows the household) may answer: a sample from
            # anyone else could put a stranger's profile on a child's record.
            raise MatchingInputError(
                f"dna-sample {event.event_id} publisher {event.publisher_id}: request "
                f"{request_id} was sent to {asked[0] or 'no registered police unit'}, "
                "only that unit may answer it"
            )
        cur.execute(
            "UPDATE sampling_requests SET sample_event_id = %s, sample = %s, "
            "sampled_at = clock_timestamp() WHERE request_id::text = %s",
            (event.event_id, Jsonb(event.body.get("str_profile")), request_id),
        )
        self._sampled.add(asked[1])
        cur.execute("SELECT latest_event_id FROM sampling_households WHERE record_id = %s",
                    (asked[1],))
        latest = cur.fetchone()
        stored = self.events.get(latest[0]) if latest else None
        return stored.record if stored is not None else None

    def with_samples(self, txn: MatchTxn, event: EventRecord) -> EventRecord:
        """The migrant record with each sampled child's profile in its entry."""
        record_id = event.body.get("record_id")
        day = listing_day(event.body)
        if event.event_type != "migrant-record" or not record_id or day is None:
            return event
        if str(record_id) in self._households and str(record_id) not in self._sampled:
            return event  # read at the batch's start: no sample for this household
        cur = txn.cursor
        cur.execute(
            "SELECT child_sex, born_from, born_to, sample FROM sampling_requests "
            "WHERE record_id = %s AND sample IS NOT NULL ORDER BY sampled_at",
            (str(record_id),),
        )
        samples = cur.fetchall()
        if not samples:
            return event
        body = copy.deepcopy(dict(event.body))
        for entry in body.get("children") or []:
            seen = listed_child(entry, day)
            if seen is None or entry.get("str_profile"):
                continue
            for sex, born_from, born_to, profile in samples:
                if ListedChild(sex, (born_from, born_to), day).same_child(*seen):
                    entry["str_profile"] = profile
        return replace(event, body=body)
