"""Small readers over decoded (JSON-able) payloads, shared by the projections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.errors import ProjectionError
from hub.store import EventRecord


def text(body: Mapping[str, Any], name: str) -> str:
    """A required text field; a projection cannot key a row on a missing id."""
    value = body.get(name)
    if value is None or value == "":
        raise ProjectionError(f"payload field {name!r} is missing or empty")
    return str(value)


def sub(body: Mapping[str, Any] | None, *path: str) -> Any:
    """A nested field or None when any step is absent."""
    value: Any = body
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def person_columns(person: Mapping[str, Any] | None) -> dict[str, Any]:
    """The searchable columns of a Person record, plus the record itself."""
    if person is None:
        return {}
    return {
        "name": person.get("name"),
        "sex": person.get("sex"),
        "birth_date": sub(person, "birth", "date"),
        "birth_precision": sub(person, "birth", "precision"),
        "id_number": person.get("id_number"),
        "person": dict(person),
    }


def origin(event: EventRecord) -> dict[str, Any]:
    """Who published the event and when it happened."""
    return {"publisher_id": event.publisher_id, "occurred_at": event.occurred_at.isoformat()}
