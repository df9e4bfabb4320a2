"""Reply deadlines, overdue duties, escalation targets and evidence words (hub.response)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.disclosure import disclosure_refusal
from hub.identity import HUB_OPERATOR_ID
from hub.response import (
    Duty,
    DutyState,
    ResponseRules,
    deadlines_for,
    dna_in_words,
    escalation_event_id,
    escalation_target,
    is_overdue,
    is_urgent_child,
    score_band,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
RULES = ResponseRules(ack_urgent_child_s=3600, ack_other_s=12 * 3600,
                      decide_urgent_child_s=6 * 3600, decide_other_s=72 * 3600)


class TestDeadlines:
    def test_urgent_missing_child_gets_one_hour(self) -> None:
        """An URGENT alert for a missing minor must be acknowledged within the hour."""
        alert = {"urgency": "URGENT", "reason": "MISSING_MINOR"}
        due = deadlines_for(RULES, alert, T0)
        assert (due.reply_by, due.decide_by) == (T0 + timedelta(hours=1), T0 + timedelta(hours=6))

    def test_immediate_alert_is_urgent_whatever_the_reason(self) -> None:
        """IMMEDIATE is the urgency of young children and the first hours."""
        assert is_urgent_child({"urgency": "IMMEDIATE", "reason": "MISSING_ADULT_AT_RISK"})

    @pytest.mark.parametrize("alert", [
        {"urgency": "ROUTINE", "reason": "MISSING_MINOR"},
        {"urgency": "URGENT", "reason": "MISSING_ADULT_AT_RISK"},
        {},
    ])
    def test_others_get_twelve_hours(self, alert: dict[str, str]) -> None:
        """A routine alert, or an urgent one for an adult, gets the long deadlines."""
        due = deadlines_for(RULES, alert, T0)
        assert (due.reply_by, due.decide_by) == (T0 + timedelta(hours=12), T0 + timedelta(hours=72))

    def test_durations_must_be_positive(self) -> None:
        """A zero deadline is a configuration mistake, said by name."""
        with pytest.raises(ValueError, match="ack_other_s"):
            ResponseRules(ack_other_s=0)


class TestOverdue:
    def test_due_unmet_unescalated_is_overdue(self) -> None:
        """At and after its deadline an unmet duty is overdue."""
        assert is_overdue(DutyState(T0), T0)
        assert not is_overdue(DutyState(T0), T0 - timedelta(seconds=1))

    def test_met_or_escalated_is_not_overdue(self) -> None:
        """A late ack still stops escalation, and an escalation is never repeated."""
        later = T0 + timedelta(hours=2)
        assert not is_overdue(DutyState(T0, done_at=T0 + timedelta(hours=1)), later)
        assert not is_overdue(DutyState(T0, escalated=True), T0 + timedelta(hours=2))

    def test_no_deadline_is_never_overdue(self) -> None:
        """A duty known only from an ack that came before its hit has no deadline yet."""
        assert not is_overdue(DutyState(None), T0)


REGISTERED = {"510000-police": "510000", "510100-police": "510100", "320100-police": "320100"}


class TestEscalationTarget:

    def test_city_unit_goes_to_its_provincial_headquarters(self) -> None:
        """510100-police is overseen by 510000-police, whose jurisdiction is the province."""
        assert escalation_target("510100-police", REGISTERED) == "510000-police"

    def test_headquarters_itself_or_none_goes_to_the_operator(self) -> None:
        """The headquarters' own lapse, or a province without one, reaches the hub operator."""
        assert escalation_target("510000-police", REGISTERED) == HUB_OPERATOR_ID
        assert escalation_target("320100-police", REGISTERED) == HUB_OPERATOR_ID

    def test_headquarters_must_cover_the_province(self) -> None:
        """A participant named like the headquarters but registered for less is not it."""
        assert escalation_target("510100-police", {"510000-police": "510100"}) == HUB_OPERATOR_ID

    def test_event_id_is_stable_per_duty(self) -> None:
        """The same duty always gives the same escalation id; another duty another one."""
        match_id = "6f1c9a1e-0d7e-4a51-9a55-2d3f0f2b7c11"
        one = escalation_event_id(match_id, Duty.ACK, "510100-police")
        assert one == escalation_event_id(match_id, Duty.ACK, "510100-police")
        assert one != escalation_event_id(match_id, Duty.ACK, "320000-police")
        assert one != escalation_event_id(match_id, Duty.DECISION, "510100-police")


class TestEvidenceWords:
    def test_score_band(self) -> None:
        """Twice the notify threshold is STRONG, anything notified below it PROBABLE."""
        assert score_band(20.0, 10.0) == "STRONG"
        assert score_band(12.0, 10.0) == "PROBABLE"

    def test_dna_in_words(self) -> None:
        """The conclusion is said in words with the kind and loci, never a profile."""
        words = dna_in_words({"conclusion": "SUPPORTED", "kind": "TRIO", "loci_compared": 20,
                              "cpi": 1e6})
        assert words == "DNA supports the relationship (TRIO, 20 loci)"
        assert dna_in_words(None) == "no DNA compared"


class TestDisclosureRule:
    def test_only_notified_units_of_a_live_match(self) -> None:
        """Details go to a notified unit; not to another, and to nobody once rejected."""
        told = ["510100-police", "320000-police"]
        assert disclosure_refusal("m", "320000-police", told, "NOTIFIED") is None
        assert disclosure_refusal("m", "320000-police", told, "CONFIRMED") is None
        assert "not notified" in str(disclosure_refusal("m", "530000-police", told, "NOTIFIED"))
        assert "rejected" in str(disclosure_refusal("m", "510100-police", told, "REJECTED"))
