"""Who may read a rescued person's case file, and what the file holds (pure rules)."""

from __future__ import annotations

import json
import uuid

import pytest

from hub.case_file import (
    CaseMatch,
    CaseSource,
    case_file,
    case_file_bytes,
    case_file_lines,
    case_file_notice,
    case_refusal_notice,
    entitlement,
)
from hub.sealing import CASE_FILE_PURPOSE, SealError, generate_encryption_key, open_sealed, seal_for

CASE = "R-530000-7"
NOTICE = {
    "rescue_id": CASE,
    "person": {"name": "李小红", "sex": "FEMALE", "birth": {"precision": "DAY",
                                                         "date": "2016-03-05"}},
    "rescued_at": "2026-11-30T08:00:00+00:00",
    "rescue_place": {"area_code": "530102", "text": "昆明市五华区火车站"},
    "own_account": "我是被一个阿姨带来的",
    "str_profile": {"kit": "GoldenEye 20A", "loci": []},
    "issuing_unit": "530000-civil-affairs",
}
FOLLOW_UP = {"rescue_id": CASE, "follow_up_id": "F-1", "followed_up_on": "2026-12-01",
             "assistance": ["MEDICAL", "SCHOOLING"], "family_reunion": "SEARCHING",
             "status": "IN_PROGRESS", "note": "入学", "issuing_unit": "530000-civil-affairs"}
MATCH = str(uuid.uuid4())
FOUND = {"match_id": MATCH, "alert_id": "A-510100-1", "score": 31.5,
         "explanation": ["id number agrees"], "recipients": ["510100-police", "530000-police"]}
CONFIRM = {"match_id": MATCH, "decision": "CONFIRMED", "deciding_unit": "510100-police",
           "decided_at": "2026-12-02T10:00:00+00:00", "note": "家属已辨认"}


def source(*decisions: dict[str, str]) -> CaseSource:
    match = CaseMatch(MATCH, FOUND, "510100-police", "510100", tuple(decisions))
    return CaseSource(CASE, NOTICE, "530000-civil-affairs", (FOLLOW_UP,), (match,))


class TestEntitlement:
    @pytest.mark.parametrize("unit, jurisdiction", [
        ("530000-police", "530000"), ("530100-police", "530100"),
        ("530000-civil-affairs", "530000"), ("530000-civil-affairs", None),
    ])
    def test_civil_affairs_and_police_of_the_province_of_rescue_read_it(
        self, unit: str, jurisdiction: str | None
    ) -> None:
        """Police and civil affairs anywhere in the province of rescue are entitled."""
        assert entitlement(source(), unit, jurisdiction).granted

    @pytest.mark.parametrize("unit", ["530000-womens-federation", "530000-migrant-registry"])
    def test_other_departments_are_refused_even_in_the_province(self, unit: str) -> None:
        """Only civil affairs and police read case files."""
        decided = entitlement(source(), unit, "530000")
        assert not decided.granted and "only civil affairs and police" in decided.why

    def test_origin_province_is_refused_before_confirmation_and_granted_after(self) -> None:
        """Sichuan police, whose alert hit this person, read the file only once it is confirmed."""
        before = entitlement(source(), "510100-police", "510100")
        assert not before.granted and "not confirmed yet" in before.why
        assert entitlement(source(), "510000-civil-affairs", "510000").granted is False
        after = entitlement(source(CONFIRM), "510000-civil-affairs", "510000")
        assert after.granted and "province of origin 510000" in after.why

    def test_a_later_rejection_withdraws_the_origin_entitlement(self) -> None:
        """The latest decision counts: a confirmation rejected later no longer entitles."""
        reject = {**CONFIRM, "decision": "REJECTED"}
        assert not entitlement(source(CONFIRM, reject), "510100-police", "510100").granted

    def test_another_province_is_refused_and_told_why(self) -> None:
        """A province with no confirmed match on the case is refused."""
        decided = entitlement(source(CONFIRM), "320000-police", "320000")
        assert not decided.granted
        assert "no confirmed match links it to your province" in decided.why

    def test_unknown_case_is_refused(self) -> None:
        """A case the hub does not hold is refused, naming the case."""
        decided = entitlement(CaseSource("R-nope", None, None), "530000-police", "530000")
        assert not decided.granted and "R-nope" in decided.why

    def test_the_issuing_unit_reads_its_own_case(self) -> None:
        """The unit that issued the notice reads it even when registered elsewhere."""
        moved = CaseSource(CASE, NOTICE, "450000-civil-affairs")
        assert entitlement(moved, "450000-civil-affairs", "450000").granted


class TestContent:
    def test_file_holds_notice_follow_ups_matches_and_decisions_not_the_dna(self) -> None:
        """The file carries what the units act on; the raw STR profile stays out."""
        content = case_file(source(CONFIRM), "530000-police", str(uuid.uuid4()))
        assert content["rescue_notice"]["person"]["name"] == "李小红"
        assert "str_profile" not in content["rescue_notice"]
        assert content["rescue_notice"]["dna_profile_on_file"] is True
        assert content["follow_ups"][0]["assistance"] == ["MEDICAL", "SCHOOLING"]
        assert content["matches"][0]["decisions"][0]["decision"] == "CONFIRMED"
        text = "\n".join(case_file_lines(json.loads(case_file_bytes(content))))
        for shown in ("李小红", "MEDICAL, SCHOOLING", "CONFIRMED by 510100-police",
                      "昆明市五华区火车站", "我是被一个阿姨带来的", "on file (not included)"):
            assert shown in text, shown

    def test_sealed_file_opens_only_for_its_unit_and_case(self) -> None:
        """A case-file box opens with the unit's key for that case, and as nothing else."""
        key, other = generate_encryption_key(), generate_encryption_key()
        request = str(uuid.uuid4())
        plain = case_file_bytes(case_file(source(), "530000-police", request))
        box = seal_for(key.public, plain, match_id=CASE, recipient="530000-police",
                       purpose=CASE_FILE_PURPOSE)
        notice = case_file_notice(CASE, "530000-police", request, box)
        assert "李" not in json.dumps(notice, ensure_ascii=False)
        assert open_sealed(key, box, match_id=CASE, recipient="530000-police",
                           purpose=CASE_FILE_PURPOSE) == plain
        for wrong in (dict(match_id="R-other", recipient="530000-police",
                           purpose=CASE_FILE_PURPOSE),
                      dict(match_id=CASE, recipient="530000-police")):  # as match details
            with pytest.raises(SealError):
                open_sealed(key, box, **wrong)
        with pytest.raises(SealError):
            open_sealed(other, box, match_id=CASE, recipient="530000-police",
                        purpose=CASE_FILE_PURPOSE)

    def test_refusal_notice_says_why_and_names_the_request(self) -> None:
        """A refusal reaches the unit as EVENT_REFUSED with the reason, once per request."""
        request = str(uuid.uuid4())
        body = case_refusal_notice(CASE, "320000-police", request, "not entitled")
        assert (body["kind"], body["reason"], body["event_id"]) == (
            "EVENT_REFUSED", "CASE_FILE_REFUSED", request)
        assert body["notification_id"] == case_refusal_notice(
            CASE, "320000-police", request, "again")["notification_id"]
