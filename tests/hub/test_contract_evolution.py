"""Schema evolution: the rules hold for schemas/, break on forbidden changes, old data reads."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from contract_samples import catalog, sample_payloads

from hub.avro import decode_datum, encode_datum
from hub.evolution import check_catalog, check_directory
from hub.schema_catalog import SCHEMA_DIR
from ops.cli import main as hubctl


def _copy_schemas(tmp_path: Path, *names: str) -> Path:
    for name in names:
        shutil.copy(SCHEMA_DIR / name, tmp_path / name)
    return tmp_path


def _v2_of(tmp_path: Path, base: str, change: Any) -> list[str]:
    """Write <base>.v1 and a v2 edited by `change`; the rule ids the checker reports."""
    raw = json.loads((SCHEMA_DIR / f"{base}.v1.avsc").read_text(encoding="utf-8"))
    _copy_schemas(tmp_path, f"{base}.v1.avsc")
    new = copy.deepcopy(raw)
    change(new)
    (tmp_path / f"{base}.v2.avsc").write_text(json.dumps(new), encoding="utf-8")
    return [v.rule for v in check_directory(tmp_path)]


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


class TestRepositorySchemas:
    def test_hubctl_schemas_check_passes(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`hubctl schemas check` exits 0 on the repository's schemas."""
        assert hubctl(["schemas", "check"]) == 0
        assert "follow the rules" in capsys.readouterr().out

    def test_no_violations(self) -> None:
        """Every version of every type obeys every rule against every earlier version."""
        assert check_catalog(catalog()) == []


class TestForbiddenChanges:
    def test_hubctl_exits_nonzero_with_message(self, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
        """A required field added in v2 makes `hubctl schemas check` fail and say why."""
        _v2_of(tmp_path, "key-revoked", lambda s: s["fields"].append(
            {"name": "by", "type": "string", "doc": "who"}))
        assert hubctl(["schemas", "check", "--dir", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert "key-revoked v1 -> v2 at by: [R3]" in err

    def test_removing_required_field(self, tmp_path: Path) -> None:
        """Removing a field that had no default is R4."""
        rules = _v2_of(tmp_path, "key-revoked", lambda s: s["fields"].pop(0))
        assert rules == ["R4"]

    def test_changing_field_type(self, tmp_path: Path) -> None:
        """Changing a string to a long is R5."""
        rules = _v2_of(tmp_path, "key-revoked",
                       lambda s: _field(s, "reason").update(type="long", default=0))
        assert rules == ["R5"]

    def test_removing_enum_symbol(self, tmp_path: Path) -> None:
        """Dropping an enum symbol is R7."""
        rules = _v2_of(tmp_path, "match-decision",
                       lambda s: _field(s, "decision")["type"]["symbols"].remove("REJECTED"))
        assert rules == ["R7"]

    def test_renaming_nested_type(self, tmp_path: Path) -> None:
        """Renaming a nested named type is R2."""
        def rename(s: dict[str, Any]) -> None:
            _field(s, "decision")["type"]["name"] = "Verdict"
        assert _v2_of(tmp_path, "match-decision", rename) == ["R2"]

    def test_union_branch_added(self, tmp_path: Path) -> None:
        """Adding a branch to a union is R6."""
        rules = _v2_of(tmp_path, "match-decision",
                       lambda s: _field(s, "note").update(type=["string", "long"]))
        assert rules == ["R6"]

    def test_logical_type_changed(self, tmp_path: Path) -> None:
        """Turning timestamp-micros into a plain long is R10."""
        def retype(s: dict[str, Any]) -> None:
            # The canonical form ignores logical types, so the version also adds a field
            # (otherwise R0 refuses it as "not a new version").
            _field(s, "decided_at").update(type="long")
            s["fields"].append({"name": "z", "type": ["null", "int"], "default": None,
                                "doc": "z"})
        assert _v2_of(tmp_path, "match-decision", retype) == ["R10"]

    def test_missing_doc(self, tmp_path: Path) -> None:
        """A field without a doc is R12."""
        def undocument(s: dict[str, Any]) -> None:
            del _field(s, "reason")["doc"]
            s["fields"].append({"name": "y", "type": ["null", "int"], "default": None})
        assert sorted(_v2_of(tmp_path, "key-revoked", undocument)) == ["R12", "R12"]

    def test_checks_every_earlier_version(self, tmp_path: Path) -> None:
        """v3 is checked against v1 too: re-adding a required field removed in v2 is caught."""
        raw = json.loads((SCHEMA_DIR / "tip-report.v1.avsc").read_text(encoding="utf-8"))
        _copy_schemas(tmp_path, "tip-report.v1.avsc", "tip-report.v2.avsc")
        v3 = json.loads((SCHEMA_DIR / "tip-report.v2.avsc").read_text(encoding="utf-8"))
        # v3 drops the defaulted "anonymous" (fine against v2) and adds "tipster_contact" back
        # as a required string: against v1 and v2 that is a union changed into a string.
        v3["fields"] = [f for f in v3["fields"] if f["name"] != "tipster_contact"]
        v3["fields"].append({"name": "tipster_contact", "type": "string", "doc": "contact"})
        assert raw["name"] == v3["name"]
        (tmp_path / "tip-report.v3.avsc").write_text(json.dumps(v3), encoding="utf-8")
        subjects = {v.subject for v in check_directory(tmp_path)}
        assert subjects == {"tip-report v1 -> v3", "tip-report v2 -> v3"}


class TestAllowedChange:
    def test_optional_field_with_default_is_allowed(self, tmp_path: Path) -> None:
        """Adding an optional field with a default passes every rule."""
        assert _v2_of(tmp_path, "key-revoked", lambda s: s["fields"].append(
            {"name": "ticket", "type": ["null", "string"], "default": None, "doc": "t"})) == []

    def test_old_data_reads_with_new_schema(self) -> None:
        """A tip written with v1 is read with v2; the new field takes its default."""
        v1, v2 = catalog().version("tip-report", 1), catalog().version("tip-report", 2)
        data = encode_datum(v1.parsed, sample_payloads()["tip-report"])
        read = decode_datum(v1.parsed, v2.parsed, data)
        assert read["language"] is None
        assert read["tip_id"] == "TIP-9"

    def test_new_data_reads_with_old_schema(self) -> None:
        """A tip written with v2 is read by a v1 reader, which ignores the new field."""
        v1, v2 = catalog().version("tip-report", 1), catalog().version("tip-report", 2)
        payload = dict(sample_payloads()["tip-report"], language="粤语")
        read = decode_datum(v2.parsed, v1.parsed, encode_datum(v2.parsed, payload))
        assert "language" not in read
        assert read["text"] == payload["text"]
