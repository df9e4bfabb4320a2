"""Tips against open alerts: what fits, why, and who is told (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.areas import AreaCoordinates
from hub.tips import (
    MAX_FITS,
    age_range_on,
    best_fits,
    fit_tip,
    province_of_accent,
    tip_notification,
    tip_recipients,
)

AREAS = AreaCoordinates.shipped()
LOST = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ALERT: dict[str, Any] = {
    "person": {"name": "周佳怡", "sex": "FEMALE",
               "birth": {"precision": "DAY", "date": "2019-06-01"}},
    "last_seen_at": LOST.isoformat(),
    "last_seen_place": {"area_code": "510104", "text": "成都市锦江区春熙路"},
    "household_registration": {"area_code": "510104", "text": "成都市锦江区"},
}
REGISTERED = {"510000-police": "510000", "500000-police": "500000", "320000-police": "320000"}


def _tip(**changes: Any) -> dict[str, Any]:
    tip: dict[str, Any] = {
        "tip_id": "TIP-1",
        "received_at": (LOST + timedelta(hours=5)).isoformat(),
        "seen_at": (LOST + timedelta(hours=4)).isoformat(),
        "text": "车站有个说四川话的小女孩一直在哭, 跟着一个男的",
        "place": {"area_code": "500103", "text": "重庆菜园坝火车站"},  # Chongqing, about 260 km
        "subject": {"sex": "FEMALE", "birth": {"precision": "AGE_RANGE", "age_min": 6,
                                               "age_max": 8}, "dialect": "四川口音"},
        "tipster_contact": "13900000000",
        "issuing_unit": "500000-police",
    }
    tip.update(changes)
    return tip


def test_a_sighting_that_agrees_fits_with_every_reason_said() -> None:
    fit = fit_tip(_tip(), "A-1", ALERT, "510000-police", AREAS)
    assert fit is not None
    assert fit.lines[0] == "sex FEMALE agrees"
    assert fit.lines[1] == "estimated age 6-8 fits the child's 7 then"
    assert fit.lines[2].startswith("seen 2") and "within the 500 km search radius" in fit.lines[2]
    assert fit.lines[3] == "accent 四川口音 agrees with the home province 510000"


def test_a_contradiction_rules_the_alert_out() -> None:
    assert fit_tip(_tip(subject={"sex": "MALE"}), "A-1", ALERT, "p", AREAS) is None
    older = {"sex": "FEMALE", "birth": {"precision": "AGE_RANGE", "age_min": 12, "age_max": 14}}
    assert fit_tip(_tip(subject=older), "A-1", ALERT, "p", AREAS) is None
    before = (LOST - timedelta(hours=1)).isoformat()
    assert fit_tip(_tip(seen_at=before), "A-1", ALERT, "p", AREAS) is None
    # Nanjing, about 1,400 km, one hour after she was last seen: nobody travels that fast.
    far = {"area_code": "320106", "text": "南京"}
    soon = (LOST + timedelta(hours=1)).isoformat()
    assert fit_tip(_tip(place=far, seen_at=soon), "A-1", ALERT, "p", AREAS) is None


def test_sex_and_age_alone_do_not_fit_and_a_name_or_the_alert_id_does() -> None:
    vague = _tip(place=None, subject={"sex": "FEMALE", "birth": {"precision": "AGE_RANGE",
                                                                  "age_min": 6, "age_max": 8}})
    assert fit_tip(vague, "A-1", ALERT, "p", AREAS) is None
    named = dict(vague, subject={**vague["subject"], "name": "周佳怡"})
    fit = fit_tip(named, "A-1", ALERT, "p", AREAS)
    assert fit is not None and "name 周佳怡 agrees" in fit.lines
    pointed = fit_tip(dict(vague, related_alert_id="A-1"), "A-1", ALERT, "p", AREAS)
    assert pointed is not None and pointed.lines[0] == "the tip names this alert"


def test_an_accent_that_disagrees_is_said_but_does_not_rule_out() -> None:
    tip = _tip(subject={"sex": "FEMALE", "dialect": "河南口音"})
    fit = fit_tip(tip, "A-1", ALERT, "p", AREAS)
    assert fit is not None  # the place still points at this alert
    assert any("accents mislead" in line for line in fit.lines)


def test_accents_and_ages_are_read_as_people_give_them() -> None:
    assert province_of_accent("四川口音") == "510000"
    assert province_of_accent("一口广西话") == "450000"
    assert province_of_accent("普通话") is None
    assert age_range_on({"birth": {"precision": "YEAR", "date": "2019-01-01"}},
                        datetime(2026, 11, 1).date()) == (6, 7)


def test_the_tip_reaches_the_place_police_and_the_issuer_of_each_fit() -> None:
    fit = fit_tip(_tip(), "A-1", ALERT, "510000-police", AREAS)
    assert fit is not None
    received_by = "320000-police"  # a hotline in Jiangsu took the call
    recipients, notes = tip_recipients(_tip(), received_by, [fit], REGISTERED)
    assert recipients == [("500000-police", "PLACE_POLICE"), ("510000-police", "ALERT_ISSUER")]
    assert notes == []
    place_note = tip_notification("E-1", _tip(), received_by, "500000-police", "PLACE_POLICE",
                                  [fit])
    assert place_note["fits"][0]["alert_id"] == "A-1"
    assert "13900000000" not in repr(place_note) and place_note["contact_through"] == received_by


def test_a_tip_that_fits_nothing_still_reaches_the_place_police() -> None:
    recipients, _ = tip_recipients(_tip(), "320000-police", [], REGISTERED)
    assert recipients == [("500000-police", "PLACE_POLICE")]
    # ... unless the place's police took the tip themselves: nothing new to tell them.
    assert tip_recipients(_tip(), "500000-police", [], REGISTERED)[0] == []


def test_at_most_a_few_fits_are_forwarded_heaviest_first() -> None:
    fits = [fit_tip(_tip(), f"A-{n}", ALERT, "510000-police", AREAS) for n in range(9)]
    named = fit_tip(_tip(subject={**_tip()["subject"], "name": "周佳怡"}), "A-9", ALERT,
                    "510000-police", AREAS)
    chosen = best_fits([f for f in [*fits, named] if f is not None])
    assert len(chosen) == MAX_FITS and chosen[0].alert_id == "A-9"
