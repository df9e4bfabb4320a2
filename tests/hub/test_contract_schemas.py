"""The schema catalog and field-by-field payload validation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from contract_samples import catalog, sample_payloads

from hub.avro import validate_payload
from hub.errors import SchemaError, UnknownSchemaError
from hub.schema_catalog import SCHEMA_DIR, SchemaCatalog

EVENT_TYPES = [
    "missing-person-alert", "alert-update", "alert-closed", "parents-dna-profile",
    "migrant-record", "rescue-notice", "case-follow-up", "tip-report", "match-found",
    "match-decision", "participant-registered", "key-added", "key-revoked",
    "permission-granted", "permission-withdrawn",
    # Two-step disclosure and reply deadlines (issue 13).
    "details-request", "match-ack", "match-escalated", "encryption-key-added",
    # Case files read under audit (issue 13, item 5).
    "case-request",
    # DNA-sampling requests for children of unknown origin (issue 17).
    "dna-sampling-request", "dna-sample",
    # The review queue's acts (issue 14).
    "review-promoted", "review-dismissed",
    # Crypto-shredding of a rescue case's personal data (issue 13 item 6).
    "case-shredded",
]


class TestCatalog:
    def test_every_event_type_has_a_schema(self) -> None:
        """All agreed event type names are in the catalog, and nothing else."""
        assert sorted(EVENT_TYPES) == catalog().event_types()

    def test_fingerprint_lookup(self) -> None:
        """by_fingerprint finds each version; an unknown fingerprint gives None."""
        for event_type in EVENT_TYPES:
            for sv in catalog().versions(event_type):
                assert catalog().by_fingerprint(sv.fingerprint) is sv
                assert len(sv.fingerprint) == 32
        assert catalog().by_fingerprint(bytes(32)) is None

    def test_latest_is_highest_version(self) -> None:
        """latest() is the highest-numbered version (tip-report has a v2)."""
        assert catalog().latest("tip-report").version == 2

    def test_unknown_type_raises_precise_error(self) -> None:
        """Asking for an unknown type raises UnknownSchemaError."""
        with pytest.raises(UnknownSchemaError):
            catalog().latest("gossip")

    def test_docs_do_not_change_fingerprint(self, tmp_path: Path) -> None:
        """Editing only doc text keeps the canonical-form fingerprint."""
        raw = json.loads((SCHEMA_DIR / "key-revoked.v1.avsc").read_text(encoding="utf-8"))
        raw["doc"] = "reworded"
        (tmp_path / "key-revoked.v1.avsc").write_text(json.dumps(raw), encoding="utf-8")
        edited = SchemaCatalog.load(tmp_path).latest("key-revoked")
        assert edited.fingerprint == catalog().latest("key-revoked").fingerprint

    def test_gap_in_versions_is_refused(self, tmp_path: Path) -> None:
        """A v3 without a v2 cannot be loaded."""
        text = (SCHEMA_DIR / "key-revoked.v1.avsc").read_text(encoding="utf-8")
        (tmp_path / "key-revoked.v1.avsc").write_text(text, encoding="utf-8")
        raw = json.loads(text)
        raw["fields"].append({"name": "x", "type": ["null", "string"], "default": None,
                              "doc": "added"})
        (tmp_path / "key-revoked.v3.avsc").write_text(json.dumps(raw), encoding="utf-8")
        with pytest.raises(SchemaError, match="missing"):
            SchemaCatalog.load(tmp_path)

    def test_same_layout_twice_is_refused(self, tmp_path: Path) -> None:
        """A v2 with the v1 canonical form is not a new version."""
        text = (SCHEMA_DIR / "key-revoked.v1.avsc").read_text(encoding="utf-8")
        (tmp_path / "key-revoked.v1.avsc").write_text(text, encoding="utf-8")
        (tmp_path / "key-revoked.v2.avsc").write_text(text, encoding="utf-8")
        with pytest.raises(SchemaError, match="same canonical form"):
            SchemaCatalog.load(tmp_path)

    def test_badly_named_file_is_refused(self, tmp_path: Path) -> None:
        """A schema file not named <type>.v<N>.avsc is refused with its name."""
        (tmp_path / "KeyRevoked.avsc").write_text("{}", encoding="utf-8")
        with pytest.raises(SchemaError, match=r"KeyRevoked\.avsc"):
            SchemaCatalog.load(tmp_path)


class TestValidation:
    @pytest.mark.parametrize("event_type", EVENT_TYPES)
    def test_samples_are_valid(self, event_type: str) -> None:
        """Each sample payload has no blocking problem."""
        problems = validate_payload(catalog(), event_type, sample_payloads()[event_type])
        assert [p for p in problems if p.blocking] == []

    def test_every_problem_is_named_by_field(self) -> None:
        """Several problems in one payload are all reported, each with its dotted path."""
        payload = copy.deepcopy(sample_payloads()["missing-person-alert"])
        payload["person"]["sex"] = "M"
        payload["person"]["birth"] = {"precision": "AGE_RANGE", "age_min": 9, "age_max": 5}
        payload["last_seen_place"]["area_code"] = "32O000"
        payload["issuing_unit"] = "320000-army"
        del payload["circumstances"]
        payload["colour"] = "red"
        fields = {p.field: p.reason for p in validate_payload(
            catalog(), "missing-person-alert", payload)}
        assert set(fields) == {"person.sex", "person.birth.age_min",
                               "last_seen_place.area_code", "issuing_unit", "circumstances",
                               "colour"}
        assert "is required" in fields["circumstances"]
        assert "not one of" in fields["person.sex"]

    def test_bad_identity_number_is_not_blocking(self) -> None:
        """A wrong check digit is reported as a flag, not as a reason to reject the row."""
        payload = copy.deepcopy(sample_payloads()["migrant-record"])
        payload["children"][0]["child"]["id_number"] = "11010519491231002Y"
        (problem,) = validate_payload(catalog(), "migrant-record", payload)
        assert problem.field == "children[0].child.id_number"
        assert not problem.blocking

    def test_types_and_time_zones(self) -> None:
        """Wrong Python types and naive timestamps are named in plain words."""
        payload = copy.deepcopy(sample_payloads()["match-decision"])
        payload["decided_at"] = payload["decided_at"].replace(tzinfo=None)
        payload["match_id"] = "not-a-uuid"
        fields = {p.field: p.reason for p in validate_payload(
            catalog(), "match-decision", payload)}
        assert "time zone" in fields["decided_at"]
        assert "UUID" in fields["match_id"]

    def test_str_alleles_need_two(self) -> None:
        """An STR locus with one allele, or a non-allele string, is a problem."""
        payload = copy.deepcopy(sample_payloads()["rescue-notice"])
        payload["str_profile"]["loci"][0]["alleles"] = ["13"]
        payload["str_profile"]["loci"][1]["alleles"] = ["9.3", "nine"]
        fields = {p.field for p in validate_payload(catalog(), "rescue-notice", payload)}
        assert fields == {"str_profile.loci[0].alleles", "str_profile.loci[1].alleles[1]"}

    def test_unknown_event_type(self) -> None:
        """Validating against an unknown type gives one problem, no exception."""
        (problem,) = validate_payload(catalog(), "gossip", {})
        assert "unknown event type" in problem.reason

    def test_permission_names_a_known_type(self) -> None:
        """A permission event for a non-existent event type is a problem."""
        payload = dict(sample_payloads()["permission-granted"], event_type="gossip")
        (problem,) = validate_payload(catalog(), "permission-granted", payload)
        assert problem.field == "event_type"
