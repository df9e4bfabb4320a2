"""Mapping Chinese headers to schema fields and converting rows to checked payloads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors.mapping import MAPPINGS_DIR, load_mapping
from connectors.readers import SourceRow
from connectors.rows import RowConverter
from hub.avro import validate_payload
from hub.errors import MappingError
from hub.schema_catalog import SchemaCatalog

CONTEXT = {"participant_id": "320000-migrant-registry", "area_code": "320000"}
VALID_ID = "11010519491231002X"
BASE = {
    "登记编号": "R1", "姓名": "张三", "性别": "男", "出生日期": "1985年3月2日",
    "身份证号": VALID_ID, "户籍地址": "110105 北京市朝阳区", "现住址": "320102 玄武区某路1号",
    "入住日期": "2024/5/1", "登记日期": "2024-05-02", "登记派出所": "玄武派出所",
}


@pytest.fixture(scope="module")
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


def converter(catalog: SchemaCatalog, event_type: str = "migrant-record") -> RowConverter:
    return RowConverter(
        load_mapping(event_type), catalog.latest(event_type).raw, context=CONTEXT,
        validator=lambda p: [(x.field, x.reason)
                             for x in validate_payload(catalog, event_type, p) if x.blocking],
        today=dt.date(2025, 1, 1),
    )


class TestMigrantRecord:
    def test_full_row(self, catalog: SchemaCatalog) -> None:
        """Chinese headers, value tables, places and partial dates land in the right fields."""
        row = SourceRow(2, {**BASE, "随迁子女1姓名": "张小花", "随迁子女1性别": "女",
                            "随迁子女1出生日期": "201605", "随迁子女1关系": "父女",
                            "随迁子女2姓名": "张小宝", "随迁子女2年龄": "约6岁",
                            "随迁子女2关系": "父子"})
        payload, problems = converter(catalog).convert(row)
        assert problems == [] and payload is not None
        assert payload["person"]["sex"] == "MALE"
        assert payload["person"]["birth"]["date"] == dt.date(1985, 3, 2)
        assert payload["person"]["id_number_status"] == "VALID"
        assert payload["household_registration"] == {"area_code": "110105", "text": "北京市朝阳区"}
        first, second = payload["children"]
        assert first["child"]["birth"]["precision"] == "MONTH"
        assert first["child"]["birth"]["date"] == dt.date(2016, 5, 1)
        assert first["guardian_relation"] == "FATHER"
        assert second["child"]["birth"]["precision"] == "AGE_RANGE"
        assert (second["child"]["birth"]["age_min"], second["child"]["birth"]["age_max"]) == (5, 7)

    def test_bad_identity_number_is_kept_and_flagged(self, catalog: SchemaCatalog) -> None:
        """A wrong check digit is not a rejection: the row goes through, flagged."""
        payload, problems = converter(catalog).convert(
            SourceRow(2, {**BASE, "身份证号": VALID_ID[:-1] + "1"}))
        assert problems == [] and payload is not None
        assert payload["person"]["id_number_status"] == "INVALID_CHECK_DIGIT"

    def test_bad_date_names_field_and_reason(self, catalog: SchemaCatalog) -> None:
        """An impossible date is rejected with the field and a plain reason."""
        payload, problems = converter(catalog).convert(
            SourceRow(2, {**BASE, "入住日期": "2024-02-30"}))
        assert payload is None
        assert [p.field for p in problems] == ["moved_in_on"]
        assert "does not exist" in problems[0].reason

    def test_missing_required_column(self, catalog: SchemaCatalog) -> None:
        """Without a column for a required field, the reason names the headers to use."""
        cells = {k: v for k, v in BASE.items() if k != "登记派出所"}
        conv = converter(catalog)
        assert any("registering_station" in m for m in conv.header_problems(list(cells)))
        payload, problems = conv.convert(SourceRow(2, cells))
        assert payload is None
        assert problems[0].field == "registering_station"
        assert "登记派出所" in problems[0].reason

    def test_huge_cell_rejects_the_row(self, catalog: SchemaCatalog) -> None:
        """A cell over 64 KiB rejects its row, naming the column."""
        payload, problems = converter(catalog).convert(
            SourceRow(2, {**BASE, "职业": "x" * 70000}))
        assert payload is None and problems[0].field == "职业"
        assert "70000 characters" in problems[0].reason

    def test_english_field_names_need_no_mapping(self, catalog: SchemaCatalog) -> None:
        """Headers that are schema paths are taken as they are."""
        cells = {"record_id": "R9", "person.name": "Li", "person.sex": "female",
                 "person.birth": "1990", "household_registration": "110105",
                 "current_address.area_code": "320102", "moved_in_on": "2024-05-01",
                 "registered_on": "2024-05-02", "registering_station": "X"}
        payload, problems = converter(catalog).convert(SourceRow(2, cells))
        assert problems == [] and payload is not None
        assert payload["person"]["sex"] == "FEMALE"
        assert payload["current_address"] == {"area_code": "320102", "text": ""}


class TestMappings:
    @pytest.mark.parametrize("path", sorted(MAPPINGS_DIR.glob("*.toml")), ids=lambda p: p.stem)
    def test_every_builtin_mapping_targets_real_fields(
        self, catalog: SchemaCatalog, path: Path
    ) -> None:
        """Each shipped mapping loads and every target is a field of its schema."""
        mapping = load_mapping(path.stem)
        conv = converter(catalog, path.stem)
        for target in list(mapping.columns.values()) + list(mapping.defaults):
            assert target in conv.paths, f"{path.name}: {target}"
        for group in mapping.repeated:
            for _, sub in group.patterns:
                assert f"{group.target}.{sub}" in conv.paths, f"{path.name}: {group.target}.{sub}"

    def test_own_mapping_file(self, tmp_path: Path, catalog: SchemaCatalog) -> None:
        """A department's own mapping is used, and one for another type is refused."""
        own = tmp_path / "m.toml"
        own.write_text('event_type = "tip-report"\n[columns]\n"内容" = "text"\n', encoding="utf-8")
        assert load_mapping("tip-report", own).columns == {"内容": "text"}
        with pytest.raises(MappingError, match="not for"):
            load_mapping("migrant-record", own)

    def test_broken_mapping_file(self, tmp_path: Path) -> None:
        """Invalid TOML gives a MappingError naming the file."""
        bad = tmp_path / "bad.toml"
        bad.write_text("event_type = \n", encoding="utf-8")
        with pytest.raises(MappingError, match=r"bad\.toml"):
            load_mapping("tip-report", bad)


class TestNameColumns:
    def test_name_kind_parts_and_passport_columns(self, catalog: SchemaCatalog) -> None:
        """姓名类型, 外文姓/外文名 and numbered passport columns land in the v2 Person fields."""
        row = SourceRow(3, {**BASE, "姓名": "秀英", "姓名类型": "仅名", "外文姓": "Nguyen",
                            "外文名": "Thi Lan", "护照1号码": "C1234567", "护照1签发国": "VNM",
                            "外国证件2号码": "P-998877", "外国证件2类型": "旅行证"})
        payload, problems = converter(catalog).convert(row)
        assert problems == [] and payload is not None
        person = payload["person"]
        assert person["name_kind"] == "GIVEN_ONLY"
        assert (person["family_name"], person["given_names"]) == ("Nguyen", "Thi Lan")
        assert [(d["kind"], d["country"], d["number"]) for d in person["foreign_documents"]] == [
            ("OTHER", "VNM", "C1234567"), ("TRAVEL_DOCUMENT", None, "P-998877")]

    def test_rows_without_the_new_columns_get_the_defaults(self, catalog: SchemaCatalog) -> None:
        """A department file of before (no name-kind column) still reads: a full name."""
        payload, problems = converter(catalog).convert(SourceRow(4, dict(BASE)))
        assert problems == [] and payload is not None
        assert payload["person"]["name_kind"] == "FULL"
        assert payload["person"]["foreign_documents"] == []

    def test_unknown_name_kind_is_refused_with_the_field(self, catalog: SchemaCatalog) -> None:
        """A name-kind cell that is no known kind names the field, and the row is kept aside."""
        payload, problems = converter(catalog).convert(SourceRow(5, {**BASE, "姓名类型": "艺名"}))
        assert payload is None
        assert any("name_kind" in p.field for p in problems)
