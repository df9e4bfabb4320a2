"""Person v2 name fields (name_kind, family_name, given_names, foreign_documents): both readers."""

from __future__ import annotations

import copy

import pytest
from contract_samples import catalog, sample_payloads

from hub.avro import decode_datum, encode_datum
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record, facts_from_rescue
from hub.matching.facts import NameKind

TYPES = ("missing-person-alert", "migrant-record", "rescue-notice")


def _v2_payload(event_type: str) -> dict[str, object]:
    payload = copy.deepcopy(sample_payloads()[event_type])
    person = payload["person"]
    assert isinstance(person, dict)
    person.update(name="秀英", name_kind="GIVEN_ONLY", family_name="Nguyen",
                  given_names="Thi Lan",
                  foreign_documents=[{"kind": "PASSPORT", "country": "VNM",
                                      "number": "C1234567"}])
    return payload


class TestNameFieldReaders:
    @pytest.mark.parametrize("event_type", TYPES)
    def test_v1_data_read_by_v2_reader_gets_defaults(self, event_type: str) -> None:
        """v1 data read with v2: a full name, no parts, no foreign documents."""
        v1, v2 = catalog().version(event_type, 1), catalog().version(event_type, 2)
        payload = sample_payloads()[event_type]
        read = decode_datum(v1.parsed, v2.parsed, encode_datum(v1.parsed, payload))
        person = read["person"]
        assert person["name_kind"] == "FULL"
        assert person["family_name"] is None and person["given_names"] is None
        assert person["foreign_documents"] == []
        assert person["name"] == payload["person"]["name"]

    @pytest.mark.parametrize("event_type", TYPES)
    def test_v2_data_read_by_v1_reader_ignores_new_fields(self, event_type: str) -> None:
        """v2 data read by a v1 reader (a province not yet upgraded): the name survives."""
        v1, v2 = catalog().version(event_type, 1), catalog().version(event_type, 2)
        read = decode_datum(v2.parsed, v1.parsed, encode_datum(v2.parsed, _v2_payload(event_type)))
        person = read["person"]
        assert person["name"] == "秀英"
        assert not {"name_kind", "family_name", "given_names", "foreign_documents"} & set(person)

    def test_matcher_reads_the_v2_fields(self) -> None:
        """The decoded v2 fields reach the matcher's facts (kind, parts, documents)."""
        v2 = {t: catalog().version(t, 2) for t in TYPES}
        decoded = {t: decode_datum(v2[t].parsed, v2[t].parsed,
                                   encode_datum(v2[t].parsed, _v2_payload(t))) for t in TYPES}
        facts = [facts_from_alert(decoded["missing-person-alert"]),
                 facts_from_migrant_record(decoded["migrant-record"])[0],
                 facts_from_rescue(decoded["rescue-notice"])]
        for fact in facts:
            assert fact.name_kind is NameKind.GIVEN_ONLY
            assert (fact.family_name, fact.given_names) == ("Nguyen", "Thi Lan")
            assert fact.foreign_documents == ("VNM:C1234567",)
