"""A police unit answers a DNA-sampling request: the sample row and the request in its inbox."""

from __future__ import annotations

import datetime as dt

from connectors.inbox import Notification
from connectors.mapping import load_mapping
from connectors.readers import SourceRow
from connectors.rows import RowConverter
from hub.avro import validate_payload
from hub.schema_catalog import SchemaCatalog

REQUEST_ID = "0b3e6a52-3f0e-5c8a-9d71-2a4f6c8e1b90"


def test_a_json_lines_sample_row_converts_to_a_valid_dna_sample() -> None:
    """Chinese keys and the nested profile make a dna-sample the contract accepts."""
    catalog = SchemaCatalog.load()
    converter = RowConverter(
        load_mapping("dna-sample"), catalog.latest("dna-sample").raw,
        context={"participant_id": "320000-police", "area_code": "320000"},
        validator=lambda p: [(x.field, x.reason) for x in
                             validate_payload(catalog, "dna-sample", p) if x.blocking],
        today=dt.date(2025, 1, 1),
    )
    row = {"样本编号": "S-9", "采样请求编号": REQUEST_ID, "登记编号": "M-320000-1",
           "子女序号": 0, "采样日期": "2024年5月3日",
           "STR分型": {"kit": "Goldeneye 20A", "lab": "省公安厅物证鉴定中心",
                      "loci": [{"locus": "TH01", "alleles": ["9", "9.3"]}]}}
    payload, problems = converter.convert(SourceRow(2, row))
    assert problems == [] and payload is not None
    assert payload["issuing_unit"] == "320000-police"
    assert payload["sampled_on"] == dt.date(2024, 5, 3)
    assert payload["str_profile"]["loci"][0]["alleles"] == ["9", "9.3"]


def test_the_request_reads_as_one_line_naming_child_place_and_reasons() -> None:
    """The inbox shows whom to sample, where, why, and how to answer."""
    note = Notification("n-1", {"event_type": "DNA_SAMPLING_REQUEST", "payload": {
        "request_id": REQUEST_ID, "record_id": "M-320000-1", "child_index": 0,
        "child": {"name": "王小花", "sex": "FEMALE"}, "reasons": ["NO_ID_NUMBER"],
        "address": {"area_code": "320505", "text": "苏州市虎丘区某小区"}, "alerts_fitting": 2}})
    line = note.line()
    assert "王小花" in line and "320505" in line and "NO_ID_NUMBER" in line
    assert REQUEST_ID in line and "dna-sample" in line
