"""Alerts, migrant records with their children, rescue cases with follow-ups, tips, DNA."""

from __future__ import annotations

from typing import Any

from hub.atrest import clear_view
from hub.projections._fields import origin, person_columns, sub, text
from hub.projections.model import Column, Projection, TableSpec, Upsert
from hub.store import EventRecord

PERSON = (
    Column("name"),
    Column("sex"),
    Column("birth_date", "date"),
    Column("birth_precision"),
    Column("id_number"),
    Column("person", "jsonb"),
)
ORIGIN = (Column("publisher_id", merge="keep"), Column("occurred_at", "timestamptz", "keep"))

ALERTS = TableSpec(
    "proj_alerts",
    ("alert_id",),
    (
        *ORIGIN,
        *PERSON,
        Column("alert_event_id", merge="keep"),
        Column("case_number"),
        Column("case_type"),
        Column("reason"),
        Column("urgency"),
        Column("action_on_hit"),
        Column("last_seen_area"),
        Column("last_seen_place"),
        Column("last_seen_at", "timestamptz"),
        Column("issuing_unit"),
        Column("jurisdiction"),
        Column("reported_at", "timestamptz"),
        Column("status", merge="rank", ranks=("open", "closed")),
        Column("outcome", merge="keep"),
        Column("closed_at", "timestamptz", "keep"),
        Column("closed_event_id", merge="keep"),
        Column("updates", "integer", "add"),
    ),
)
ALERT_UPDATES = TableSpec(
    "proj_alert_updates",
    ("alert_id", "update_id"),
    (*ORIGIN, Column("event_id"), Column("details", "jsonb")),
)


def _alert(event: EventRecord) -> list[Upsert]:
    b = event.body
    values: dict[str, Any] = {
        **origin(event),
        **person_columns(b.get("person")),
        "alert_event_id": event.event_id,
        "case_number": b.get("case_number"),
        "case_type": b.get("case_type"),
        "reason": b.get("reason"),
        "urgency": b.get("urgency"),
        "action_on_hit": b.get("action_on_hit"),
        "last_seen_area": sub(b, "last_seen_place", "area_code"),
        "last_seen_place": sub(b, "last_seen_place", "text"),
        "last_seen_at": b.get("last_seen_at"),
        "issuing_unit": b.get("issuing_unit"),
        "jurisdiction": b.get("jurisdiction"),
        "reported_at": b.get("reported_at"),
        "status": "open",
    }
    return [Upsert(ALERTS.name, {"alert_id": text(b, "alert_id")}, values)]


def _alert_update(event: EventRecord) -> list[Upsert]:
    b = event.body
    alert_id = text(b, "alert_id")
    # Only what the update actually carries replaces the alert's fields.
    values: dict[str, Any] = {"updates": 1, **person_columns(b.get("person"))}
    if b.get("last_seen_place") is not None:
        values["last_seen_area"] = sub(b, "last_seen_place", "area_code")
        values["last_seen_place"] = sub(b, "last_seen_place", "text")
    for name in ("last_seen_at", "urgency", "action_on_hit"):
        if b.get(name) is not None:
            values[name] = b[name]
    return [
        Upsert(ALERTS.name, {"alert_id": alert_id}, values),
        Upsert(
            ALERT_UPDATES.name,
            {"alert_id": alert_id, "update_id": text(b, "update_id")},
            {**origin(event), "event_id": event.event_id, "details": dict(b)},
        ),
    ]


def _alert_closed(event: EventRecord) -> list[Upsert]:
    b = event.body
    return [
        Upsert(
            ALERTS.name,
            {"alert_id": text(b, "alert_id")},
            {
                "status": "closed",
                "outcome": b.get("outcome"),
                "closed_at": b.get("found_at") or event.occurred_at.isoformat(),
                "closed_event_id": event.event_id,
            },
        )
    ]


ALERTS_PROJECTION = Projection(
    "alerts",
    (ALERTS, ALERT_UPDATES),
    {"missing-person-alert": _alert, "alert-update": _alert_update, "alert-closed": _alert_closed},
)

MIGRANTS = TableSpec(
    "proj_migrant_records",
    ("record_id",),
    (
        *ORIGIN,
        *PERSON,
        Column("record_event_id"),
        Column("household_area"),
        Column("current_area"),
        Column("current_address"),
        Column("moved_in_on", "date"),
        Column("moved_out_on", "date"),
        Column("registered_on", "date"),
        Column("registering_station"),
        Column("children", "integer"),
        Column("details", "jsonb"),
    ),
)
MIGRANT_CHILDREN = TableSpec(
    "proj_migrant_children",
    ("record_id", "child_no"),
    (*PERSON, Column("guardian_relation"), Column("relation_text"), Column("guardian_id_number")),
)


def _migrant(event: EventRecord) -> list[Upsert]:
    b = event.body
    record_id = text(b, "record_id")
    children = list(b.get("children") or [])
    guardian = person_columns(b.get("person"))
    changes = [
        Upsert(
            MIGRANTS.name,
            {"record_id": record_id},
            {
                **origin(event),
                **guardian,
                "record_event_id": event.event_id,
                "household_area": sub(b, "household_registration", "area_code"),
                "current_area": sub(b, "current_address", "area_code"),
                "current_address": sub(b, "current_address", "text"),
                "moved_in_on": b.get("moved_in_on"),
                "moved_out_on": b.get("moved_out_on"),
                "registered_on": b.get("registered_on"),
                "registering_station": b.get("registering_station"),
                "children": len(children),
                "details": dict(b),
            },
        )
    ]
    for number, child in enumerate(children, start=1):
        changes.append(
            Upsert(
                MIGRANT_CHILDREN.name,
                {"record_id": record_id, "child_no": f"{number:03d}"},
                {
                    **person_columns(child.get("child")),
                    "guardian_relation": child.get("guardian_relation"),
                    "relation_text": child.get("relation_text"),
                    "guardian_id_number": guardian.get("id_number"),
                },
            )
        )
    return changes


MIGRANTS_PROJECTION = Projection(
    "migrants", (MIGRANTS, MIGRANT_CHILDREN), {"migrant-record": _migrant}
)

RESCUES = TableSpec(
    "proj_rescue_cases",
    ("rescue_id",),
    (
        *ORIGIN,
        *PERSON,
        Column("rescue_event_id", merge="keep"),
        Column("rescued_at", "timestamptz"),
        Column("rescue_area"),
        Column("rescue_place"),
        Column("trafficked_from_area"),
        Column("has_dna_profile", "boolean"),
        Column("issuing_unit"),
        Column("placement", "jsonb", "latest", by="placement_since"),
        Column("placement_since", "timestamptz", "max"),
        Column("case_status", "text", "latest", by="followed_up_on"),
        Column("family_reunion", "text", "latest", by="followed_up_on"),
        Column("followed_up_on", "date", "max"),
        Column("follow_ups", "integer", "add"),
        Column("shredded_at", "timestamptz", "keep"),
        Column("shred_kind", merge="keep"),
    ),
)
FOLLOW_UPS = TableSpec(
    "proj_case_follow_ups",
    ("rescue_id", "follow_up_id"),
    (
        *ORIGIN,
        Column("event_id"),
        Column("followed_up_on", "date"),
        Column("status"),
        Column("family_reunion"),
        Column("details", "jsonb"),
    ),
)


# The rescue projections hold only what a rescued person's case counts by (hub.atrest.clear_view):
# names, identity numbers, addresses and the child's own account stay sealed in the event store.
def _rescue(event: EventRecord) -> list[Upsert]:
    b = clear_view(event.event_type, event.body)
    return [
        Upsert(
            RESCUES.name,
            {"rescue_id": text(b, "rescue_id")},
            {
                **origin(event),
                **person_columns(b.get("person")),
                "rescue_event_id": event.event_id,
                "rescued_at": b.get("rescued_at"),
                "rescue_area": sub(b, "rescue_place", "area_code"),
                "rescue_place": sub(b, "rescue_place", "text"),
                "trafficked_from_area": sub(b, "trafficked_from", "area_code"),
                "has_dna_profile": b.get("str_profile") is not None,
                "issuing_unit": b.get("issuing_unit"),
                "placement": b.get("placement"),
                # The notice's placement counts as of the rescue, so later follow-ups win.
                "placement_since": b.get("rescued_at"),
            },
        )
    ]


def _follow_up(event: EventRecord) -> list[Upsert]:
    b = clear_view(event.event_type, event.body)
    rescue_id = text(b, "rescue_id")
    on = b.get("followed_up_on")
    case: dict[str, Any] = {
        "case_status": b.get("status"),
        "family_reunion": b.get("family_reunion"),
        "followed_up_on": on,
        "follow_ups": 1,
    }
    if b.get("placement") is not None:
        case["placement"] = b["placement"]
        case["placement_since"] = f"{on}T23:59:59.999999+00:00" if on else None
    return [
        Upsert(RESCUES.name, {"rescue_id": rescue_id}, case),
        Upsert(
            FOLLOW_UPS.name,
            {"rescue_id": rescue_id, "follow_up_id": text(b, "follow_up_id")},
            {
                **origin(event),
                "event_id": event.event_id,
                "followed_up_on": on,
                "status": b.get("status"),
                "family_reunion": b.get("family_reunion"),
                "details": dict(b),
            },
        ),
    ]


def _shredded(event: EventRecord) -> list[Upsert]:
    b = event.body
    return [
        Upsert(
            RESCUES.name,
            {"rescue_id": text(b, "case_id")},
            {"shredded_at": event.occurred_at.isoformat(), "shred_kind": b.get("kind")},
        )
    ]


RESCUES_PROJECTION = Projection(
    "rescues",
    (RESCUES, FOLLOW_UPS),
    {"rescue-notice": _rescue, "case-follow-up": _follow_up, "case-shredded": _shredded},
)

TIPS = TableSpec(
    "proj_tips",
    ("tip_id",),
    (
        *ORIGIN,
        Column("received_at", "timestamptz"),
        Column("channel"),
        Column("area_code"),
        Column("related_alert_id"),
        Column("details", "jsonb"),
    ),
)
DNA_PROFILES = TableSpec(
    "proj_parents_dna_profiles",
    ("profile_id",),
    (*ORIGIN, Column("alert_id"), Column("sampled_on", "date"), Column("details", "jsonb")),
)


def _tip(event: EventRecord) -> list[Upsert]:
    b = event.body
    return [
        Upsert(
            TIPS.name,
            {"tip_id": text(b, "tip_id")},
            {
                **origin(event),
                "received_at": b.get("received_at"),
                "channel": b.get("channel"),
                "area_code": sub(b, "place", "area_code"),
                "related_alert_id": b.get("related_alert_id"),
                "details": dict(b),
            },
        )
    ]


def _dna(event: EventRecord) -> list[Upsert]:
    b = event.body
    return [
        Upsert(
            DNA_PROFILES.name,
            {"profile_id": text(b, "profile_id")},
            {
                **origin(event),
                "alert_id": b.get("alert_id"),
                "sampled_on": b.get("sampled_on"),
                "details": dict(b),
            },
        )
    ]


TIPS_PROJECTION = Projection(
    "tips", (TIPS, DNA_PROFILES), {"tip-report": _tip, "parents-dna-profile": _dna}
)
