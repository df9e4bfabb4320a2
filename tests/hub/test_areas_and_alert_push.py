"""Area coordinates and the widening push radius of urgent child alerts (pure rules)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.alert_push import (
    FINAL_RADIUS_KM,
    child_at,
    plan_push,
    push_notification,
    push_radius_km,
    why_not_pushed,
)
from hub.areas import AreaCoordinates, AreaError, great_circle_km

AREAS = AreaCoordinates.shipped()
SEEN = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
ISSUER = "510000-police"
# Police units and the distance of their seat from Chengdu's Jinjiang district (510104).
UNITS = {
    ISSUER: "510000",
    "510100-police": "510100",  # Chengdu: contains the place
    "511000-police": "511000",  # Neijiang, about 145 km
    "500000-police": "500000",  # Chongqing, about 261 km
    "520300-police": "520300",  # Zunyi, about 420 km
    "520000-police": "520000",  # Guiyang, about 511 km: never
    "510000-civil-affairs": "510000",  # not police
}


def _alert(**changes: object) -> dict[str, object]:
    alert: dict[str, object] = {
        "urgency": "IMMEDIATE",
        "last_seen_at": SEEN.isoformat(),
        "last_seen_place": {"area_code": "510104", "text": "成都市锦江区春熙路"},
        "person": {
            "name": "周佳怡",
            "sex": "FEMALE",
            "birth": {"precision": "DAY", "date": "2019-06-01"},
            "id_number": "510104201906010026",
            "description": "短发, 红色外套",
        },
        "residence": {"area_code": "510104", "text": "成都市锦江区某小区3栋"},
        "reporter": {"name": "周建国", "phone": "13800000000"},
    }
    alert.update(changes)
    return alert


def _units(plan_targets: object) -> list[str]:
    return [t.unit for t in plan_targets]  # type: ignore[attr-defined]


def test_the_shipped_table_places_counties_and_falls_back_to_coarser_areas() -> None:
    assert len(AREAS) > 3000
    beijing, shanghai = AREAS.place("110000"), AREAS.place("310000")
    assert beijing is not None and shanghai is not None
    # Beijing to Shanghai, seat to seat: about 1,068 km over the earth's surface.
    assert 1050 < great_circle_km(beijing, shanghai) < 1085
    retired = AREAS.place("510199")  # not a county of the table: its prefecture's seat
    assert retired is not None and retired.located_by == "510100" and retired.approximate
    assert AREAS.place("990101") is None
    with pytest.raises(AreaError, match="6-digit"):
        AREAS.place("51010")


def test_a_bad_coordinates_row_is_named() -> None:
    with pytest.raises(AreaError, match="row 3: longitude/latitude unreadable"):
        AreaCoordinates.from_csv_text(
            "area_code,name,longitude,latitude\n510000,四川省,104.07,30.65\n510100,成都,x,30\n",
            "t.csv",
        )
    with pytest.raises(AreaError, match=r"row 2: .* not on the earth"):
        AreaCoordinates.from_csv_text("area_code,name,longitude,latitude\n510000,a,204,30\n", "t")


@pytest.mark.parametrize(
    ("minutes", "radius"),
    [(-5, 100), (0, 100), (59, 100), (60, 200), (119, 200), (120, 300), (179, 300), (180, 500),
     (60 * 48, 500)],
)
def test_the_radius_widens_with_time_since_disappearance(minutes: int, radius: int) -> None:
    assert push_radius_km(timedelta(minutes=minutes)) == radius


def test_only_urgent_child_alerts_with_a_place_and_time_are_pushed() -> None:
    assert why_not_pushed(_alert()) is None
    assert why_not_pushed(_alert(urgency="URGENT")) is None
    assert "ROUTINE" in str(why_not_pushed(_alert(urgency="ROUTINE")))
    assert "area code" in str(why_not_pushed(_alert(last_seen_place={"text": "车站"})))
    adult = {"name": "李娜", "sex": "FEMALE", "birth": {"precision": "DAY", "date": "1990-01-01"}}
    assert why_not_pushed(_alert(person=adult)) == "not a child when last seen"
    unknown = {"name": "某", "sex": "FEMALE"}
    assert "age unknown" in str(why_not_pushed(_alert(person=unknown)))


def test_age_is_taken_at_the_time_last_seen() -> None:
    born = {"birth": {"precision": "DAY", "date": "2008-12-01"}}
    assert child_at(born, datetime(2026, 11, 30, tzinfo=UTC)) is True
    assert child_at(born, datetime(2026, 12, 1, tzinfo=UTC)) is False
    estimated = {"birth": {"precision": "YEAR", "age_min": 8, "age_max": 10,
                           "age_assessed_on": date(2024, 5, 1).isoformat()}}
    assert child_at(estimated, SEEN) is True


def test_each_ring_reaches_the_units_within_it_and_never_the_issuer() -> None:
    told: list[str] = []
    seen_by_ring = []
    for minutes in (30, 90, 150, 240):
        plan = plan_push("A-1", _alert(), ISSUER, UNITS, told, SEEN + timedelta(minutes=minutes),
                         AREAS)
        seen_by_ring.append((plan.radius_km, _units(plan.targets)))
        told.extend(_units(plan.targets))
    assert seen_by_ring == [
        (100, ["510100-police"]),
        (200, ["511000-police"]),
        (300, ["500000-police"]),
        (FINAL_RADIUS_KM, ["520300-police"]),
    ]
    first = plan_push("A-1", _alert(), ISSUER, UNITS, [], SEEN, AREAS).targets[0]
    assert first.distance_km == 0.0  # its jurisdiction contains the place
    late = plan_push("A-1", _alert(), ISSUER, UNITS, [], SEEN + timedelta(hours=5), AREAS)
    neijiang = next(t for t in late.targets if t.unit == "511000-police")
    assert 135 < neijiang.distance_km < 155
    assert late.settled


def test_a_unit_whose_area_has_no_position_is_noted() -> None:
    plan = plan_push("A-1", _alert(), ISSUER, {"990000-police": "990000"}, [], SEEN, AREAS)
    assert plan.targets == () and "990000-police" in plan.notes[0]


def test_the_push_carries_what_police_need_to_look_and_no_identity_or_address() -> None:
    plan = plan_push("A-1", _alert(), ISSUER, UNITS, [], SEEN + timedelta(hours=4), AREAS)
    body = push_notification("A-1", _alert(), ISSUER, plan.targets[0], 500)
    text = repr(body)
    assert body["kind"] == "ALERT_PUSH" and body["recipient"] == "510100-police"
    assert body["person"]["description"] == "短发, 红色外套"
    for secret in ("510104201906010026", "某小区3栋", "13800000000", "周建国"):
        assert secret not in text
    again = push_notification("A-1", _alert(), ISSUER, plan.targets[0], 500)
    assert again["notification_id"] == body["notification_id"]
