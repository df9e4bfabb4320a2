"""Notifications signed by the hub operator, and how a recipient checks one.

Everything the hub sends to a participant's notification topic is a signed notice, so that a
recipient acts only on what the hub said, to it:

    wire      = MAGIC || key id (16 bytes) || body length (4 bytes, big-endian) || body || sig
    signature = Ed25519 over DOMAIN || key id || body length || body

The body is UTF-8 JSON naming its `notification_id`, its `recipient` and when it was issued.
The domain separator is not the envelope's, so a notice can never pass for an event or back.
"""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.errors import HubError
from hub.keys import SIGNATURE_SIZE, SigningKey, VerifyKey
from hub.limits import MAX_PAYLOAD_BYTES
from hub.reasons import NoticeRefusal, RejectReason

MAGIC = b"EXN\x01"
DOMAIN = b"org.exchangehub.notification.v1\x00"
MAX_BODY = MAX_PAYLOAD_BYTES
_KEY_ID_SIZE = 16
_LENGTH = struct.Struct(">I")
_HEADER = len(MAGIC) + _KEY_ID_SIZE + _LENGTH.size
REQUIRED = ("notification_id", "recipient", "issued_at")


class NoticeRefused(HubError):
    """A message that is not a valid notice for this recipient; `reason` says why."""

    def __init__(self, reason: NoticeRefusal, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Notice:
    """A checked notice: its body, with the id and recipient it names."""

    body: dict[str, Any]

    @property
    def notification_id(self) -> str:
        return str(self.body["notification_id"])

    @property
    def recipient(self) -> str:
        return str(self.body["recipient"])


def _signed_part(key_id: bytes, body: bytes) -> bytes:
    return key_id + _LENGTH.pack(len(body)) + body


def seal_notice(
    key: SigningKey, body: dict[str, Any], *, issued_at: datetime | None = None
) -> bytes:
    """The wire bytes of `body` signed by `key`; `issued_at` is added when the body lacks it."""
    content = dict(body)
    content.setdefault("issued_at", (issued_at or datetime.now(UTC)).isoformat())
    missing = [name for name in REQUIRED if not content.get(name)]
    if missing:
        raise HubError(f"a notice needs {', '.join(missing)}")
    raw = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    encoded = raw.encode("utf-8")
    if len(encoded) > MAX_BODY:
        raise HubError(f"a notice body is at most {MAX_BODY} bytes, this one {len(encoded)}")
    signed = _signed_part(bytes.fromhex(key.key_id), encoded)
    return MAGIC + signed + key.sign(DOMAIN + signed)


def open_notice(wire: bytes, trusted: VerifyKey, recipient: str) -> Notice:
    """The notice in `wire` if `trusted` signed it for `recipient`; NoticeRefused otherwise."""
    if not wire.startswith(MAGIC):
        raise NoticeRefused(NoticeRefusal.UNSIGNED, "not a signed hub notice")
    if len(wire) < _HEADER + SIGNATURE_SIZE:
        raise NoticeRefused(NoticeRefusal.MALFORMED, f"too short ({len(wire)} bytes)")
    key_id = wire[len(MAGIC) : len(MAGIC) + _KEY_ID_SIZE]
    (length,) = _LENGTH.unpack_from(wire, len(MAGIC) + _KEY_ID_SIZE)
    if length > MAX_BODY or _HEADER + length + SIGNATURE_SIZE != len(wire):
        raise NoticeRefused(NoticeRefusal.MALFORMED, "the length field does not fit the message")
    if key_id.hex() != trusted.key_id:
        raise NoticeRefused(
            NoticeRefusal.UNKNOWN_KEY,
            f"signed with key {key_id.hex()}, not the hub operator's {trusted.key_id}",
        )
    signed, signature = wire[len(MAGIC) : -SIGNATURE_SIZE], wire[-SIGNATURE_SIZE:]
    if not trusted.verify(signature, DOMAIN + signed):
        raise NoticeRefused(NoticeRefusal.BAD_SIGNATURE, "the signature does not match")
    try:
        body = json.loads(wire[_HEADER : _HEADER + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        # Only a buggy hub signs this; still never shown as a notification.
        raise NoticeRefused(NoticeRefusal.MALFORMED, f"the body is not JSON: {err}") from err
    if not isinstance(body, dict) or any(not body.get(name) for name in REQUIRED):
        raise NoticeRefused(NoticeRefusal.MALFORMED, f"the body lacks one of {REQUIRED}")
    if body["recipient"] != recipient:
        raise NoticeRefused(
            NoticeRefusal.WRONG_RECIPIENT,
            f"addressed to {body['recipient']}, not to {recipient}",
        )
    return Notice(body)


def refusal_body(
    publisher_id: str,
    event_id: str,
    event_type: str,
    reason: RejectReason,
    detail: str,
    quarantine_id: int,
) -> dict[str, Any]:
    """What the hub tells a publisher whose signed event it refused (one notice per refusal).

    Only refusals of authentic events are told (the signature held): telling the named
    publisher about a forgery would let anyone fill its topic.
    """
    notice_id = uuid.uuid5(uuid.UUID(event_id), f"refused\x1f{quarantine_id}")
    return {
        "notification_id": str(notice_id),
        "kind": "EVENT_REFUSED",
        "recipient": publisher_id,
        "event_id": event_id,
        "event_type": event_type,
        "reason": str(reason),
        "detail": detail,
        "quarantine_id": quarantine_id,
    }

