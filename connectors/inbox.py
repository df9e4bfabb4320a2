"""Receiving this participant's notifications from `<prefix>notifications.<participant-id>`.

Only notices signed by the hub operator's key pinned at join, and addressed to this participant,
are shown (hub.notice). Anything else on the topic (unsigned, wrongly signed, altered, meant for
another participant, or a notice already delivered coming again) is refused: kept with its
reason in `refused.jsonl` beside the inbox database and counted, never shown as a hit.

Personal details a unit asked for (`hub-connector details`) arrive sealed to this participant's
X25519 key (hub.sealing): they stay sealed in the inbox database and are opened only to be shown
or written (:func:`open_details`).

Delivery is remembered twice: the consumer group's committed offsets say where to resume, and a
local table of delivered notification ids makes sure a re-read (offsets reset, group lost, the
topic replayed) never shows a notification a second time.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from connectors.config import ConnectorConfig
from hub.case_file import CASE_FILE_KIND
from hub.disclosure import DETAILS_KIND
from hub.errors import ConnectorError
from hub.keys import VerifyKey
from hub.notice import NoticeRefused, open_notice
from hub.reasons import NoticeRefusal
from hub.sealing import EncryptionKey, SealError, open_sealed
from hub.secrets import create_private_file, make_private_dirs, open_private_append

_TABLE = """
CREATE TABLE IF NOT EXISTS delivered (
    notification_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    received_at REAL NOT NULL, match_id TEXT, alert_id TEXT, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delivered_match ON delivered (match_id);
"""


@dataclass(frozen=True)
class Notification:
    """One checked notification as shown to the participant."""

    notification_id: str
    body: dict[str, Any]

    @property
    def match_id(self) -> str | None:
        value = self.body["payload"].get("match_id")
        return str(value) if value else None

    @property
    def alert_id(self) -> str | None:
        value = self.body["payload"].get("alert_id")
        return str(value) if value else None

    def line(self) -> str:
        """A one-line summary for the terminal."""
        payload = self.body["payload"]
        kind = self.body.get("event_type", "notification")
        if kind == DETAILS_KIND:
            return f"{kind} match {payload.get('match_id')}: personal details (sealed to you)"
        if kind == CASE_FILE_KIND:
            return f"{kind} case {payload.get('case_id')}: the case file (sealed to you)"
        if kind == "MATCH_ESCALATED":
            return (f"{kind} [{payload.get('urgency')}] match {payload.get('match_id')} alert "
                    f"{payload.get('alert_id')}: {payload.get('duty')} of "
                    f"{payload.get('overdue_unit')} overdue since {payload.get('due_at')}")
        if "match_id" in payload:
            evidence = payload.get("evidence") or {}
            deadline = (f" {evidence.get('score_band')}; {evidence.get('dna')}; reply by "
                        f"{payload['reply_by']}" if payload.get("reply_by") else "")
            explanation = "; ".join(str(x) for x in payload.get("explanation") or [])[:200]
            urgency = f" [{payload['urgency']}]" if payload.get("urgency") else ""
            return (f"{kind}{urgency} match {payload['match_id']} alert "
                    f"{payload.get('alert_id')} score {payload.get('score')}{deadline}: "
                    f"{explanation}")
        if kind == "ALERT_PUSH":
            place = payload.get("last_seen_place") or {}
            return (f"{kind} [{payload.get('urgency')}] alert {payload.get('alert_id')} of "
                    f"{payload.get('alert_issued_by')}: last seen {payload.get('last_seen_at')} "
                    f"at {place.get('text')} ({place.get('area_code')}), "
                    f"{payload.get('distance_km')} km from your area")
        if kind == "TIP_FORWARDED":
            place = payload.get("place") or {}
            fits = ", ".join(str(f.get("alert_id")) for f in payload.get("fits") or []) or "none"
            return (f"{kind} tip {payload.get('tip_id')} of {payload.get('received_by')} "
                    f"({payload.get('role')}): seen {payload.get('seen_at')} at "
                    f"{place.get('text')} ({place.get('area_code')}); fits alerts: {fits}")
        if kind == "DNA_SAMPLING_REQUEST":
            place = payload.get("address") or {}
            child = payload.get("child") or {}
            return (f"{kind} request {payload.get('request_id')}: sample child "
                    f"{payload.get('child_index')} ({child.get('name')}, {child.get('sex')}) of "
                    f"record {payload.get('record_id')} at {place.get('text')} "
                    f"({place.get('area_code')}); why: {', '.join(payload.get('reasons') or [])}; "
                    f"fits {payload.get('alerts_fitting')} open alerts; answer with a dna-sample")
        if kind == "EVENT_REFUSED":
            return (f"{kind} your {payload.get('event_type')} {payload.get('event_id')} was not "
                    f"accepted: {payload.get('reason')}: {payload.get('detail')}")
        return f"{kind} {self.notification_id}"


@dataclass(frozen=True)
class Refusal:
    """A message on this participant's topic that is not shown: where it was, and why."""

    reason: NoticeRefusal
    detail: str
    where: dict[str, Any]
    raw: bytes

    def record(self) -> dict[str, Any]:
        return {"reason": self.reason.value, "detail": self.detail, **self.where,
                "refused_at": time.time(), "raw": base64.b64encode(self.raw).decode("ascii")}


def open_details(note: Notification, key: EncryptionKey, recipient: str) -> dict[str, Any]:
    """The personal details a MATCH_DETAILS notification carries, opened with this
    participant's encryption key; SealError when they are not sealed for it."""
    payload = note.body["payload"]
    sealed = payload.get("sealed")
    if not isinstance(sealed, dict):
        raise SealError("the notification carries no sealed details")
    plain = open_sealed(key, sealed, match_id=str(payload.get("match_id")), recipient=recipient)
    try:
        details = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SealError(f"the opened details are not JSON: {err}") from err
    if not isinstance(details, dict):
        raise SealError("the opened details are not a JSON object")
    return details


def parse_message(operator: VerifyKey, recipient: str, topic: str, partition: int, offset: int,
                  value: bytes) -> Notification | Refusal:
    """A Notification if the hub operator signed `value` for `recipient`, else a Refusal."""
    where = {"topic": topic, "partition": partition, "offset": offset}
    try:
        notice = open_notice(value, operator, recipient)
    except NoticeRefused as refused:
        return Refusal(refused.reason, refused.detail, where, value)
    kind = str(notice.body.get("kind") or "notification")
    body = {"notification_id": notice.notification_id, "event_type": kind,
            "payload": notice.body, "signed_by": operator.key_id, **where}
    return Notification(notice.notification_id, body)


class RefusedLog:
    """Refused messages, one JSON line each, in a file only this participant can read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        make_private_dirs(path.parent)

    def append(self, refusal: Refusal) -> None:
        with open_private_append(self.path) as out:
            out.write(json.dumps(refusal.record(), ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())


class DeliveredStore:
    """The local table of notifications already delivered to this participant."""

    def __init__(self, path: Path) -> None:
        # Readable by this participant only: it holds what the hub told it (SQLite gives its
        # -wal and -shm files the database file's mode).
        create_private_file(path)
        self._db = sqlite3.connect(path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_TABLE)

    def seen(self, notification_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM delivered WHERE notification_id = ?",
                                (notification_id,)).fetchone() is not None

    def remember(self, note: Notification) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO delivered VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (note.notification_id, note.body.get("topic", ""), note.body.get("partition", -1),
                 note.body.get("offset", -1), time.time(), note.match_id, note.alert_id,
                 json.dumps(note.body, ensure_ascii=False)),
            )

    def alert_for_match(self, match_id: str) -> str | None:
        row = self._db.execute("SELECT alert_id FROM delivered WHERE match_id = ?"
                               " AND alert_id IS NOT NULL", (match_id,)).fetchone()
        return str(row[0]) if row else None

    def close(self) -> None:
        self._db.close()


@dataclass
class InboxSummary:
    """What one inbox run did."""

    delivered: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())


def open_notifications(config: ConnectorConfig, group_id: str) -> KafkaConsumer:
    """A consumer of this participant's notification topic in the given group, from the
    oldest notification the group has not committed; a plain error when the hub refuses."""
    access = config.kafka
    try:
        return KafkaConsumer(
            config.notification_topic,
            **access.kafka_python(),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            bootstrap_timeout_ms=int(config.connect_timeout_s * 1000),
        )
    except (KafkaError, OSError) as err:
        raise ConnectorError(
            f"the hub at {access.bootstrap} is not reachable or refused the login of "
            f"{access.username} ({type(err).__name__}: {err})"
        ) from err


def receive(
    config: ConnectorConfig, store: DeliveredStore, deliver: Callable[[Notification], None], *,
    follow: bool, idle_s: float = 3.0, should_stop: Callable[[], bool] = lambda: False,
) -> InboxSummary:
    """Deliver new notifications and refuse the rest; without `follow`, stop once nothing
    arrived for `idle_s` seconds."""
    operator = config.operator_key
    consumer = open_notifications(config, config.inbox_group)
    summary = InboxSummary()
    refused_log = RefusedLog(config.refused_path)
    quiet_since = time.monotonic()
    try:
        while not should_stop():
            batches = consumer.poll(timeout_ms=500)
            if not batches:
                if not follow and time.monotonic() - quiet_since >= idle_s:
                    break
                continue
            quiet_since = time.monotonic()
            for tp, records in batches.items():
                for record in records:
                    got = parse_message(operator, config.participant_id, tp.topic,
                                        tp.partition, record.offset, record.value or b"")
                    if isinstance(got, Notification) and store.seen(got.notification_id):
                        got = Refusal(NoticeRefusal.REPLAYED,
                                      f"notification {got.notification_id} was delivered before",
                                      {k: got.body[k] for k in ("topic", "partition", "offset")},
                                      record.value or b"")
                    if isinstance(got, Refusal):
                        refused_log.append(got)
                        summary.refused[got.reason.value] += 1
                        continue
                    deliver(got)
                    store.remember(got)
                    summary.delivered += 1
            consumer.commit()
    finally:
        consumer.close()
    return summary
