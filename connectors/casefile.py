"""Waiting for the hub's answer to a case-file request, and opening a sealed case file.

`hub-connector case` reads its own topic with a consumer group of its own (`<principal>.case`),
so the inbox still shows every notification, the case file included, exactly once: this reader
only looks for the notice answering one request and remembers nothing as delivered.
"""

from __future__ import annotations

import json
import time
from typing import Any

from connectors.config import ConnectorConfig
from connectors.inbox import Notification, open_notifications, parse_message
from hub.case_file import CASE_FILE_KIND
from hub.sealing import CASE_FILE_PURPOSE, EncryptionKey, SealError, open_sealed

__all__ = ["answers", "await_answer", "open_case_file"]


def answers(note: Notification, request_event_id: str) -> bool:
    """Whether this notification is the hub's answer to that request (file or refusal)."""
    payload = note.body["payload"]
    kind = note.body.get("event_type")
    named = payload.get("request_event_id" if kind == CASE_FILE_KIND else "event_id")
    return kind in (CASE_FILE_KIND, "EVENT_REFUSED") and str(named) == request_event_id


def await_answer(config: ConnectorConfig, request_event_id: str, wait_s: float
                 ) -> Notification | None:
    """The hub-signed answer to the request, or None when none came within `wait_s` seconds."""
    # A group of its own, so that `inbox` still shows every notice once.
    consumer = open_notifications(config, f"{config.principal}.case")
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    got = parse_message(config.operator_key, config.participant_id, tp.topic,
                                        tp.partition, record.offset, record.value or b"")
                    if isinstance(got, Notification) and answers(got, request_event_id):
                        consumer.commit()
                        return got
            consumer.commit()
    finally:
        consumer.close()
    return None


def open_case_file(note: Notification, key: EncryptionKey, recipient: str) -> dict[str, Any]:
    """The case file a CASE_FILE notification carries, opened with this participant's key;
    SealError when it is not sealed for it."""
    payload = note.body["payload"]
    sealed = payload.get("sealed")
    if not isinstance(sealed, dict):
        raise SealError("the notification carries no sealed case file")
    plain = open_sealed(key, sealed, match_id=str(payload.get("case_id")), recipient=recipient,
                        purpose=CASE_FILE_PURPOSE)
    try:
        content = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SealError(f"the opened case file is not JSON: {err}") from err
    if not isinstance(content, dict):
        raise SealError("the opened case file is not a JSON object")
    return content
