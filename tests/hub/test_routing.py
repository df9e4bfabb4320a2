"""Unit tests of hub.routing: recipients of a hit and the minimised notification."""

from __future__ import annotations

import uuid

import pytest

from hub.errors import RoutingError
from hub.routing import (
    MatchSummary,
    mask_id_numbers,
    match_id_for,
    minimal_line,
    notification,
    notification_id_for,
    province_police,
    route,
)

ISSUER = "510000-police"


def _registered(*pids: str) -> dict[str, str | None]:
    return {pid: pid.split("-", 1)[0] for pid in pids}


class TestRoute:
    def test_issuer_and_provincial_police_of_the_place(self) -> None:
        """A hit goes to the issuing unit first, then to the province police where found."""
        routing = route(ISSUER, "320505", _registered(ISSUER, "320000-police", "530000-police"))
        assert routing.recipients == (ISSUER, "320000-police")
        assert routing.roles == {ISSUER: "ISSUING_UNIT", "320000-police": "LOCAL_POLICE"}
        assert routing.notes == ()

    def test_unregistered_province_falls_back_to_the_broadest_covering_police(self) -> None:
        """Without <PP>0000-police the broadest registered jurisdiction containing the code wins."""
        registered = _registered(ISSUER, "320500-police", "320505-police", "330000-police")
        routing = route(ISSUER, "320505", registered)
        assert routing.recipients == (ISSUER, "320500-police")
        assert "320000-police is not registered" in routing.notes[0]

    def test_county_jurisdiction_only_covers_its_own_code(self) -> None:
        """A county-level unit covers exactly its code, not its neighbours."""
        routing = route(ISSUER, "320506", _registered(ISSUER, "320505-police"))
        assert routing.recipients == (ISSUER,)
        assert "no registered police covers 320506" in routing.notes[0]

    def test_jurisdiction_given_by_the_registry_is_used(self) -> None:
        """The registered jurisdiction, not only the id's area code, decides coverage."""
        routing = route(ISSUER, "450102", {ISSUER: "510000", "000001-police": "450000"})
        assert routing.recipients == (ISSUER, "000001-police")

    def test_non_police_participants_are_never_recipients(self) -> None:
        """A migrant registry covering the area is not a fallback recipient."""
        routing = route(ISSUER, "320505", _registered(ISSUER, "320000-migrant-registry"))
        assert routing.recipients == (ISSUER,)

    def test_same_province_names_the_issuer_once(self) -> None:
        """When the person is found in the issuer's own province it is notified once."""
        routing = route(ISSUER, "510104", _registered(ISSUER))
        assert routing.recipients == (ISSUER,)
        assert routing.roles[ISSUER] == "ISSUING_UNIT+LOCAL_POLICE"

    def test_missing_or_malformed_area_notifies_issuer_with_a_note(self) -> None:
        """No usable area code still reaches the issuing unit and says why no one else."""
        assert route(ISSUER, None, _registered(ISSUER)).recipients == (ISSUER,)
        bad = route(ISSUER, "32A505", _registered(ISSUER, "320000-police"))
        assert bad.recipients == (ISSUER,)
        assert "malformed" in bad.notes[0]

    def test_alert_publisher_must_be_police(self) -> None:
        """An alert published by a non-police participant cannot be routed."""
        with pytest.raises(RoutingError, match="not a police participant"):
            route("320000-migrant-registry", "320505", {})

    def test_province_police_rejects_bad_codes(self) -> None:
        """The provincial id comes from the first two digits of a 6-digit code only."""
        assert province_police("532301") == "530000-police"
        with pytest.raises(RoutingError):
            province_police("5323")


class TestIds:
    def test_match_id_is_stable_and_pair_specific(self) -> None:
        """Re-processing gives the same match id; another person gives another id."""
        first = match_id_for("A-1", "RECORD:M-1#0")
        assert first == match_id_for("A-1", "RECORD:M-1#0")
        assert first != match_id_for("A-1", "RECORD:M-1#1")
        assert uuid.UUID(first).version == 5

    def test_notification_id_differs_per_recipient_and_trigger(self) -> None:
        """Each recipient and each triggering event gets its own notification id."""
        mid = match_id_for("A-1", "RECORD:M-1")
        ids = {
            notification_id_for(mid, r, t) for r in ("a-police", "b-police") for t in ("e1", "e2")
        }
        assert len(ids) == 4


class TestMinimisation:
    def test_identity_numbers_are_masked_to_their_area_code(self) -> None:
        """An 18-character number keeps only its area code."""
        assert mask_id_numbers("id 51010420160305122X here") == "id 510104************ here"
        assert mask_id_numbers("case 1234567") == "case 1234567"

    def test_explanation_lines_lose_compared_values(self) -> None:
        """Values in parentheses, nested ones too, are dropped; field, level and weight stay."""
        line = "child_given_name: pinyin (小红 / 晓红 (xiaohong / xiaohong)) +6.0"
        assert minimal_line(line) == "child_given_name: pinyin +6.0"
        assert minimal_line("id_number: exact (510104201603051228 / x) +12.8") == (
            "id_number: exact +12.8"
        )

    def test_notification_carries_references_and_evidence_only(self) -> None:
        """No name, number or free text of the person; urgency, score and DNA conclusion kept."""
        summary = MatchSummary(
            match_id=match_id_for("A-1", "RESCUE:R-9"),
            alert_id="A-1",
            alert_publisher=ISSUER,
            counterpart_kind="RESCUE",
            counterpart_id="R-9",
            counterpart_publisher="530000-civil-affairs",
            score=21.5,
            explanation=("child_surname: exact (李 = 李) +3.6", "id 510104201603051228"),
            trigger_event_id="ev-1",
            found_area="530102",
            urgency="URGENT",
            kinship={"kind": "TRIO", "cpi": 1.2e7, "conclusion": "SUPPORTED"},
        )
        note = notification(summary, "530000-police", "LOCAL_POLICE")
        text = repr(note)
        assert "李" not in text and "510104201603051228" not in text
        assert note["urgency"] == "URGENT"
        assert note["dna"]["conclusion"] == "SUPPORTED"
        assert note["counterpart"] == {
            "kind": "RESCUE",
            "id": "R-9",
            "child_index": None,
            "held_by": "530000-civil-affairs",
            "area_code": "530102",
        }
        assert note["notification_id"] == notification_id_for(
            summary.match_id, "530000-police", "ev-1"
        )
