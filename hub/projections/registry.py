"""Participants, their keys and their permissions, as the hub operator registered them."""

from __future__ import annotations

from hub.projections._fields import text
from hub.projections.model import Column, Projection, TableSpec, Upsert
from hub.store import EventRecord

PARTICIPANTS = TableSpec(
    "proj_participants",
    ("participant_id",),
    (
        Column("jurisdiction"),
        Column("department"),
        Column("display_name"),
        Column("registered_at", "timestamptz", "keep"),
        Column("registered_event_id", merge="keep"),
    ),
)
KEYS = TableSpec(
    "proj_participant_keys",
    ("participant_id", "key_id"),
    (
        Column("public_key"),
        Column("valid_from", "timestamptz"),
        Column("valid_until", "timestamptz"),
        Column("status", merge="rank", ranks=("active", "revoked")),
        Column("revoked_at", "timestamptz", "keep"),
        Column("revoke_reason", merge="keep"),
    ),
)
PERMISSIONS = TableSpec(
    "proj_participant_permissions",
    ("participant_id", "event_type"),
    (
        Column("status", merge="latest", by="effective_at"),
        Column("effective_at", "timestamptz", "max"),
    ),
)


def _registered(event: EventRecord) -> list[Upsert]:
    body = event.body
    pid = text(body, "participant_id")
    changes = [
        Upsert(
            PARTICIPANTS.name,
            {"participant_id": pid},
            {
                "jurisdiction": body.get("jurisdiction"),
                "department": body.get("department"),
                "display_name": body.get("display_name"),
                "registered_at": body.get("effective_at"),
                "registered_event_id": event.event_id,
            },
        )
    ]
    for event_type in body.get("initial_permissions") or []:
        changes.append(_permission(pid, str(event_type), "granted", body.get("effective_at")))
    return changes


def _permission(pid: str, event_type: str, status: str, at: object) -> Upsert:
    return Upsert(
        PERMISSIONS.name,
        {"participant_id": pid, "event_type": event_type},
        {"status": status, "effective_at": at},
    )


def _granted(event: EventRecord) -> list[Upsert]:
    b = event.body
    return [
        _permission(
            text(b, "participant_id"), text(b, "event_type"), "granted", b.get("effective_at")
        )
    ]


def _withdrawn(event: EventRecord) -> list[Upsert]:
    b = event.body
    return [
        _permission(
            text(b, "participant_id"), text(b, "event_type"), "withdrawn", b.get("effective_at")
        )
    ]


def _key_added(event: EventRecord) -> list[Upsert]:
    b = event.body
    return [
        Upsert(
            KEYS.name,
            {"participant_id": text(b, "participant_id"), "key_id": text(b, "key_id")},
            {
                "public_key": b.get("public_key"),
                "valid_from": b.get("valid_from"),
                "valid_until": b.get("valid_until"),
                "status": "active",
            },
        )
    ]


def _key_revoked(event: EventRecord) -> list[Upsert]:
    b = event.body
    return [
        Upsert(
            KEYS.name,
            {"participant_id": text(b, "participant_id"), "key_id": text(b, "key_id")},
            {
                "status": "revoked",
                "revoked_at": b.get("effective_at"),
                "revoke_reason": b.get("reason"),
            },
        )
    ]


REGISTRY = Projection(
    "registry",
    (PARTICIPANTS, KEYS, PERMISSIONS),
    {
        "participant-registered": _registered,
        "permission-granted": _granted,
        "permission-withdrawn": _withdrawn,
        "key-added": _key_added,
        "key-revoked": _key_revoked,
    },
)
