"""Receiving this participant's notifications from `<prefix>notifications.<participant-id>`.

Delivery is remembered twice: the consumer group's committed offsets say where to resume, and a
local table of delivered notification ids makes sure a re-read (offsets reset, group lost, the
topic replayed) never shows a notification a second time.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from connectors.config import ConnectorConfig
from hub.envelope import decode_envelope, decode_payload
from hub.errors import ConnectorError, HubError
from hub.schema_catalog import SchemaCatalog

_TABLE = """
CREATE TABLE IF NOT EXISTS delivered (
    notification_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    received_at REAL NOT NULL, match_id TEXT, alert_id TEXT, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delivered_match ON delivered (match_id);
"""


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


@dataclass(frozen=True)
class Notification:
    """One notification as shown to the participant."""

    notification_id: str
    body: dict[str, Any]

    @property
    def match_id(self) -> str | None:
        payload = self.body.get("payload")
        value = payload.get("match_id") if isinstance(payload, dict) else None
        return str(value) if value else None

    @property
    def alert_id(self) -> str | None:
        payload = self.body.get("payload")
        value = payload.get("alert_id") if isinstance(payload, dict) else None
        return str(value) if value else None

    def line(self) -> str:
        """A one-line summary for the terminal."""
        payload = self.body.get("payload")
        kind = self.body.get("event_type", "notification")
        if isinstance(payload, dict) and "match_id" in payload:
            explanation = "; ".join(str(x) for x in payload.get("explanation") or [])[:200]
            urgency = f" [{payload['urgency']}]" if payload.get("urgency") else ""
            return (f"{kind}{urgency} match {payload['match_id']} alert "
                    f"{payload.get('alert_id')} score {payload.get('score')}: {explanation}")
        return f"{kind} {self.notification_id}"


def parse_message(catalog: SchemaCatalog, topic: str, partition: int, offset: int,
                  value: bytes) -> Notification:
    """A Notification from a record: a signed envelope, a JSON object, or opaque bytes."""
    where = {"topic": topic, "partition": partition, "offset": offset}
    try:
        env = decode_envelope(value)
    except (HubError, ValueError):
        env = None
    if env is not None:
        try:
            payload: Any = _json_safe(decode_payload(catalog, env))
        except HubError as err:
            payload = {"undecodable": str(err)}
        body = {"event_id": str(env.event_id), "event_type": env.event_type,
                "publisher_id": env.publisher_id, "sequence": env.sequence,
                "published_at": env.published_at.isoformat(), "payload": payload, **where}
        return Notification(str(env.event_id), body)
    try:
        obj = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        obj = None
    if isinstance(obj, dict):
        ident = obj.get("notification_id") or obj.get("event_id") or obj.get("id")
        ident = str(ident) if ident else f"{topic}:{partition}:{offset}"
        kind = str(obj.get("kind") or obj.get("event_type") or "notification")
        return Notification(ident, {"notification_id": ident, "event_type": kind,
                                    "payload": obj, **where})
    return Notification(f"{topic}:{partition}:{offset}",
                        {"raw": base64.b64encode(value).decode("ascii"), **where})


class DeliveredStore:
    """The local table of notifications already delivered to this participant."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
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


def receive(
    config: ConnectorConfig, catalog: SchemaCatalog, store: DeliveredStore,
    deliver: Callable[[Notification], None], *, follow: bool, idle_s: float = 3.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[int, int]:
    """Deliver new notifications: (delivered, skipped as already delivered).

    Without `follow`, stops once nothing arrived for `idle_s` seconds.
    """
    try:
        consumer = KafkaConsumer(
            config.notification_topic,
            bootstrap_servers=config.hub_bootstrap,
            group_id=f"{config.participant_id}.inbox",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            bootstrap_timeout_ms=int(config.connect_timeout_s * 1000),
        )
    except (KafkaError, OSError) as err:
        raise ConnectorError(
            f"the hub at {config.hub_bootstrap} is not reachable ({type(err).__name__})"
        ) from err
    delivered = skipped = 0
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
                    note = parse_message(catalog, tp.topic, tp.partition, record.offset,
                                         record.value or b"")
                    if store.seen(note.notification_id):
                        skipped += 1
                        continue
                    deliver(note)
                    store.remember(note)
                    delivered += 1
            consumer.commit()
    finally:
        consumer.close()
    return delivered, skipped
