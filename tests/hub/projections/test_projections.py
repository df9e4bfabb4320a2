"""Pure projection logic: events become row upserts, merged the same whatever the order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import ProjectionError
from hub.projection_store import InMemoryProjectionStore, checksum_rows
from hub.projections import CATALOG, Column, Projection, TableSpec, Upsert
from hub.projections.apply import apply_events
from hub.store import EventRecord

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def event(
    event_type: str, body: dict[str, Any], *, publisher: str = "320000-police", minutes: int = 0
) -> EventRecord:
    event_id = str(uuid.uuid4())
    return EventRecord(
        event_id,
        event_type,
        1,
        "00" * 32,
        publisher,
        "11" * 16,
        1,
        T0 + timedelta(minutes=minutes),
        T0,
        b"",
        b"",
        b"",
        body,
    )


def project(*events: EventRecord) -> InMemoryProjectionStore:
    store = InMemoryProjectionStore()
    with store.transaction() as txn:
        apply_events(txn, list(events))
    return store


class TestHandlers:
    def test_migrant_record_yields_a_row_per_child(self) -> None:
        """A migrant record projects the guardian and one child row per accompanying child."""
        body = {
            "record_id": "M-1",
            "person": {
                "name": "赵强",
                "sex": "MALE",
                "id_number": "510104198801010011",
                "birth": {"precision": "DAY", "date": "1988-01-01"},
            },
            "current_address": {"area_code": "320505", "text": "苏州"},
            "children": [
                {
                    "child": {
                        "name": "赵小",
                        "sex": "FEMALE",
                        "birth": {"precision": "YEAR", "date": "2019-01-01"},
                    },
                    "guardian_relation": "FATHER",
                },
                {
                    "child": {"name": None, "sex": "MALE", "birth": {"precision": "UNKNOWN"}},
                    "guardian_relation": "NON_RELATIVE",
                    "relation_text": "邻居",
                },
            ],
        }
        store = project(event("migrant-record", body, publisher="320500-migrant-registry"))
        [record] = store.rows("proj_migrant_records")
        assert (record["children"], record["current_area"]) == (2, "320505")
        kids = store.rows("proj_migrant_children")
        assert [k["child_no"] for k in kids] == ["001", "002"]
        assert kids[1]["guardian_relation"] == "NON_RELATIVE"
        assert kids[0]["guardian_id_number"] == "510104198801010011"
        assert kids[0]["birth_date"] == "2019-01-01"

    def test_follow_ups_update_the_case_by_date(self) -> None:
        """The latest follow-up by date sets the case status, whatever the arrival order."""
        rescue = event(
            "rescue-notice",
            {
                "rescue_id": "R-1",
                "rescued_at": T0.isoformat(),
                "placement": {"kind": "RESCUE_STATION"},
            },
        )
        late = event(
            "case-follow-up",
            {
                "rescue_id": "R-1",
                "follow_up_id": "F2",
                "followed_up_on": "2026-04-01",
                "status": "CLOSED",
                "family_reunion": "REUNITED",
            },
        )
        early = event(
            "case-follow-up",
            {
                "rescue_id": "R-1",
                "follow_up_id": "F1",
                "followed_up_on": "2026-03-10",
                "status": "IN_PROGRESS",
                "family_reunion": "SEARCHING",
                "placement": {"kind": "FOSTER_FAMILY"},
            },
        )
        for order in ([rescue, early, late], [late, rescue, early]):
            [case] = project(*order).rows("proj_rescue_cases")
            assert (case["case_status"], case["family_reunion"], case["follow_ups"]) == (
                "CLOSED",
                "REUNITED",
                2,
            )
            assert case["placement"] == {"kind": "FOSTER_FAMILY"}

    def test_registry_permissions_follow_effective_time(self) -> None:
        """A withdrawal effective later than the grant wins, even when applied first."""
        grant = event(
            "permission-granted",
            {
                "participant_id": "320000-police",
                "event_type": "tip-report",
                "effective_at": T0.isoformat(),
            },
        )
        withdraw = event(
            "permission-withdrawn",
            {
                "participant_id": "320000-police",
                "event_type": "tip-report",
                "effective_at": (T0 + timedelta(1)).isoformat(),
            },
        )
        [row] = project(withdraw, grant).rows("proj_participant_permissions")
        assert row["status"] == "withdrawn"

    def test_missing_id_is_a_projection_error(self) -> None:
        """A payload without its row id cannot be projected and says which field is missing."""
        with pytest.raises(ProjectionError, match="rescue_id"):
            CATALOG.projection("rescues").project(event("rescue-notice", {}))


MATCH = "6f1c9a1e-0d7e-4a51-9a55-2d3f0f2b7c11"
CROSS_PUBLISHER = [
    event(
        "match-found",
        {
            "match_id": MATCH,
            "alert_id": "A-1",
            "score": 9.5,
            "explanation": ["sex agrees"],
            "recipients": ["320000-police"],
        },
        publisher="000000-hub-operator",
    ),
    event(
        "match-decision",
        {
            "match_id": MATCH,
            "alert_id": "A-1",
            "decision": "NEED_INFO",
            "decided_at": (T0 + timedelta(hours=1)).isoformat(),
        },
    ),
    event(
        "match-decision",
        {
            "match_id": MATCH,
            "alert_id": "A-1",
            "decision": "CONFIRMED",
            "decided_at": (T0 + timedelta(hours=5)).isoformat(),
        },
        publisher="530000-police",
    ),
    event("missing-person-alert", {"alert_id": "A-1", "person": {"name": "李"}}),
    event(
        "alert-closed", {"alert_id": "A-1", "outcome": "FOUND_ALIVE", "found_at": None}, minutes=30
    ),
]


class TestOrderIndependence:
    @settings(max_examples=40, deadline=None)
    @given(st.permutations(CROSS_PUBLISHER))
    def test_any_order_gives_the_same_rows(self, order: list[EventRecord]) -> None:
        """Events touching one row, applied in any order, give the same checksums."""
        reference = project(*CROSS_PUBLISHER)
        shuffled = project(*order)
        for table in ("proj_matches", "proj_match_decisions", "proj_alerts"):
            assert checksum_rows(shuffled.rows(table)) == checksum_rows(reference.rows(table))
        [match] = shuffled.rows("proj_matches")
        assert (match["decision"], match["decisions"], match["score"]) == ("CONFIRMED", 2, 9.5)


class TestModel:
    @pytest.mark.parametrize(
        ("column", "old", "new", "merged"),
        [
            (Column("c"), "a", "b", "b"),
            (Column("c", merge="keep"), "a", "b", "a"),
            (Column("c", merge="keep"), None, "b", "b"),
            (Column("c", "integer", "add"), 2, 3, 5),
            (Column("c", "integer", "max"), 7, 3, 7),
            (Column("c", merge="rank", ranks=("open", "closed")), "closed", "open", "closed"),
        ],
    )
    def test_merge_rules(self, column: Column, old: Any, new: Any, merged: Any) -> None:
        """Each merge rule combines an old and a new value as documented."""
        assert column.merged(old, new) == merged

    def test_bad_column_definitions_are_refused(self) -> None:
        """Unknown types, unknown rules and rank or latest without their partner are refused."""
        with pytest.raises(ProjectionError):
            Column("c", "money")
        with pytest.raises(ProjectionError):
            Column("c", merge="sometimes")
        with pytest.raises(ProjectionError):
            Column("c", merge="rank")
        with pytest.raises(ProjectionError):
            Column("c", merge="latest")

    def test_projection_may_write_only_its_own_tables(self) -> None:
        """A handler writing another projection's table or a wrong key is stopped."""
        own = TableSpec("own", ("k",), (Column("v"),))
        stray = Projection("p", (own,), {"tip-report": lambda e: [Upsert("other", {"k": "1"})]})
        with pytest.raises(ProjectionError, match="does not own"):
            stray.project(event("tip-report", {}))
        badkey = Projection("p", (own,), {"tip-report": lambda e: [Upsert("own", {"x": "1"})]})
        with pytest.raises(ProjectionError, match="key"):
            badkey.project(event("tip-report", {}))

    def test_catalogue_rejects_a_table_owned_twice(self) -> None:
        """Two projections cannot own the same table."""
        from hub.projections.model import ProjectionCatalog

        table = TableSpec("t", ("k",), ())
        with pytest.raises(ProjectionError, match="owned by two"):
            ProjectionCatalog([Projection("a", (table,), {}), Projection("b", (table,), {})])
