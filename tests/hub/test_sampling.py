"""Which children of migrant households the hub asks to have DNA-sampled (hub.sampling)."""

from __future__ import annotations

from datetime import date
from typing import Any

from hub.sampling import (
    ListedChild,
    SamplingReason,
    first_listed,
    listed_child,
    open_alert,
    request_id_for,
    sampling_notification,
    sampling_request,
)

LISTED_ON = date(2024, 6, 1)


def _alert(sex: str = "FEMALE", born: str = "2018-03-01", lost: str = "2022-05-01T10:00:00+08:00"
           ) -> dict[str, Any]:
    return {"person": {"sex": sex, "birth": {"precision": "DAY", "date": born}},
            "last_seen_at": lost, "reported_at": lost}


def _entry(sex: str = "FEMALE", born: str = "2018-01-10", id_number: str | None = None,
           relation: str = "MOTHER") -> dict[str, Any]:
    return {"child": {"name": "李乐", "sex": sex, "id_number": id_number,
                      "birth": {"precision": "DAY", "date": born}},
            "guardian_relation": relation, "relation_text": None}


def _request(entry: dict[str, Any], alerts: list[tuple[str, dict[str, Any]]],
             since: date = LISTED_ON, listed_on: date = LISTED_ON) -> Any:
    seen = listed_child(entry, listed_on)
    assert seen is not None
    child, _ = first_listed([], *seen, listed_on)
    opened = [a for a in (open_alert(i, body) for i, body in alerts) if a is not None]
    return sampling_request("R-1", 0, entry, child, since, opened)


class TestWhoIsAskedFor:
    def test_a_child_without_identity_number_fitting_an_alert_is_asked_for(self) -> None:
        """Sex and age fit, no identity number: one request naming that reason and alert."""
        request = _request(_entry(), [("A-1", _alert())])
        assert request is not None
        assert request.reasons == (SamplingReason.NO_ID_NUMBER,)
        assert request.alert_ids == ("A-1",) and request.alerts_fitting == 1

    def test_a_guardian_who_is_not_a_parent_is_a_reason(self) -> None:
        """A child registered by a non-relative, with an identity number, is asked for."""
        request = _request(_entry(id_number="510104201801100021", relation="NON_RELATIVE"),
                           [("A-1", _alert())])
        assert request is not None
        assert request.reasons == (SamplingReason.NOT_SON_OR_DAUGHTER,)

    def test_a_son_or_daughter_with_an_identity_number_is_not_asked_for(self) -> None:
        """Origin fits (a parent's child with a number): no request however well it fits."""
        assert _request(_entry(id_number="510104201801100021"), [("A-1", _alert())]) is None

    def test_a_child_who_joined_a_known_household_after_the_disappearance(self) -> None:
        """Household registered before the alert, child listed only after it: a reason."""
        request = _request(_entry(id_number="510104201801100021"), [("A-1", _alert())],
                           since=date(2020, 1, 1))
        assert request is not None
        assert request.reasons == (SamplingReason.APPEARED_AFTER_DISAPPEARANCE,)

    def test_the_other_sex_or_an_age_far_off_fits_no_alert(self) -> None:
        """A boy does not fit a girl's alert; nor does a child five years older."""
        alerts = [("A-1", _alert())]
        assert _request(_entry(sex="MALE"), alerts) is None
        assert _request(_entry(born="2013-01-10"), alerts) is None

    def test_a_child_listed_before_the_disappearance_cannot_be_the_missing_child(self) -> None:
        """An alert of a disappearance after the child's first listing is not a fit."""
        later = _alert(lost="2025-01-01T00:00:00+08:00")
        assert _request(_entry(), [("A-1", later)]) is None

    def test_the_latest_disappearances_are_named_first(self) -> None:
        """Alerts are named latest disappearance first; the count covers all of them."""
        alerts = [("A-old", _alert(lost="2019-01-01T00:00:00+08:00", born="2017-06-01")),
                  ("A-new", _alert(lost="2023-01-01T00:00:00+08:00"))]
        request = _request(_entry(), alerts)
        assert request is not None and request.alert_ids == ("A-new", "A-old")


class TestSameChild:
    def test_a_renamed_child_is_the_same_child(self) -> None:
        """Sex and overlapping birth years make the same child: the request id is stable."""
        entry = _entry()
        seen = listed_child(entry, LISTED_ON)
        assert seen is not None
        first = ListedChild(*seen, LISTED_ON)
        renamed = _entry()
        renamed["child"]["name"] = "王小花"
        again = listed_child(renamed, date(2025, 1, 1))
        assert again is not None
        found, new = first_listed([first], *again, date(2025, 1, 1))
        assert found is first and not new
        assert request_id_for("R-1", *seen) == request_id_for("R-1", found.sex, found.years)

    def test_a_sibling_of_the_other_sex_is_another_child(self) -> None:
        """A brother in the same household is a child of its own."""
        seen = listed_child(_entry(), LISTED_ON)
        brother = listed_child(_entry(sex="MALE"), LISTED_ON)
        assert seen is not None and brother is not None
        _, new = first_listed([ListedChild(*seen, LISTED_ON)], *brother, LISTED_ON)
        assert new


def test_the_notification_names_the_child_the_place_and_the_reasons_only() -> None:
    """The police of residence learn whom to sample and why; alerts by reference only."""
    record = {"record_id": "R-1", "person": {"name": "张某"}, "children": [_entry()],
              "current_address": {"area_code": "320102", "text": "玄武区某街"},
              "registering_station": "320100-police"}
    request = _request(_entry(), [("A-1", _alert())])
    body = sampling_notification(request, record, "320000-police", "e-1")
    assert body["kind"] == "DNA_SAMPLING_REQUEST" and body["reasons"] == ["NO_ID_NUMBER"]
    assert body["child"]["name"] == "李乐" and body["address"]["area_code"] == "320102"
    assert body["alert_ids"] == ["A-1"] and "person" not in body
