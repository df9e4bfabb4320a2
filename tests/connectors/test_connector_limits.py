"""The limits the hub enforces (hub.limits), checked by the connector before anything is sent."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_samples import participant_of

from connectors.cli import main as connector
from connectors.config import load_config
from connectors.mapping import parse_mapping
from connectors.outbox import Outbox
from connectors.readers import SourceRow
from connectors.rows import RowConverter
from hub.errors import MappingError
from hub.limits import MAX_PAYLOAD_BYTES
from hub.schema_catalog import SchemaCatalog

CONTEXT = {"participant_id": "320000-migrant-registry", "area_code": "320000"}
Reader = Callable[[str], list[tuple[str, Any]]]
ROW = {"record_id": "R1", "person.name": "Li", "person.sex": "female", "person.birth": "1990",
       "household_registration": "110105", "current_address.area_code": "320102",
       "moved_in_on": "2024-05-01", "registered_on": "2024-05-02", "registering_station": "X"}


@pytest.fixture(scope="module")
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


def converter(catalog: SchemaCatalog, defaults: dict[str, str] | None = None) -> RowConverter:
    mapping = parse_mapping({"event_type": "migrant-record", "defaults": defaults or {}}, "t")
    return RowConverter(mapping, catalog.latest("migrant-record").raw, context=CONTEXT,
                        today=dt.date(2025, 1, 1))


class TestTextTheHubCannotStore:
    def test_nul_in_a_cell_rejects_the_row_naming_the_column(
        self, catalog: SchemaCatalog
    ) -> None:
        """A U+0000 in a text cell rejects its row; the problem names the column and place."""
        payload, problems = converter(catalog).convert(
            SourceRow(2, {**ROW, "person.name": "Li\x00Na"}))
        assert payload is None
        assert [p.field for p in problems] == ["person.name"]
        assert "U+0000 (NUL) at character 3" in problems[0].reason

    def test_nul_in_a_mapping_default_refuses_the_mapping(self, catalog: SchemaCatalog) -> None:
        """Text that reaches payloads without a cell (a mapping default) is checked once, up
        front: the mapping is refused, naming the setting."""
        with pytest.raises(MappingError, match=r"defaults\.registering_station holds U\+0000"):
            converter(catalog, {"registering_station": "X\x00"})

    def test_nul_in_a_column_nobody_maps_is_harmless(self, catalog: SchemaCatalog) -> None:
        """A column the mapping does not use never reaches the hub, so it is not checked."""
        payload, problems = converter(catalog).convert(
            SourceRow(2, {**ROW, "unused column": "a\x00b"}))
        assert problems == [] and payload is not None


@pytest.fixture
def participant(tmp_path: Path) -> Path:
    """A connector folder made by `hub-connector init` (not joined): its config path."""
    config = tmp_path / "hub-connector.toml"
    assert connector(["init", "--participant-id", "320000-migrant-registry",
                      "--config", str(config)]) == 0
    return config


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def rejects_of(path: Path) -> list[list[str]]:
    with path.with_name(path.name + ".rejects.csv").open(encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))[1:]


class TestPublishChecksLimits:
    def test_nul_and_oversized_rows_are_rejected_and_never_stored(
        self, participant: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A JSON Lines row with NUL in text and one whose payload is too large are rejected
        with row number, field and reason; only the good row reaches the outbox."""
        # Two text cells below the per-cell limit that together exceed the payload limit.
        big = "长" * 60000
        source = write_jsonl(participant.parent / "rows.jsonl", [
            ROW,
            {**ROW, "record_id": "R2", "person.name": "Li\u0000Na"},
            {**ROW, "record_id": "R3", "person.description": big, "registering_station": big},
        ])
        assert connector(["publish", "--no-send", "--type", "migrant-record",
                          "--config", str(participant), str(source)]) == 1
        err = capsys.readouterr().err
        assert "3 rows: 1 new events, 0 already published, 2 rejected" in err
        rejected = rejects_of(source)
        assert [(r[0], r[1]) for r in rejected] == [("2", "person.name"), ("3", "(row)")]
        assert "U+0000 (NUL)" in rejected[0][2]
        assert f"at most {MAX_PAYLOAD_BYTES:,} bytes" in rejected[1][2]
        size = int(rejected[1][2].split("would be ")[1].split(" bytes")[0].replace(",", ""))
        assert size > MAX_PAYLOAD_BYTES
        with Outbox(load_config(participant).outbox_path) as outbox:
            assert outbox.stats().total == 1

    def test_decision_note_with_nul_is_refused_before_storing(
        self, participant: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """decide refuses a note holding U+0000 in one line and stores nothing."""
        assert connector(["decide", "00000000-0000-4000-8000-000000000001", "confirm",
                          "--alert-id", "A1", "--note", "see\x00this",
                          "--config", str(participant)]) == 1
        err = capsys.readouterr().err
        assert "note holds U+0000 (NUL) at character 4" in err and "Traceback" not in err
        with Outbox(load_config(participant).outbox_path) as outbox:
            assert outbox.stats().total == 0

    @pytest.mark.services
    def test_nul_row_is_not_sent_to_the_hub(
        self, connector_factory: Callable[..., Path], read_published: Reader,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Against the real broker: the NUL row is rejected (exit 1), the good row is sent."""
        config = connector_factory()
        source = write_jsonl(config.parent / "nul.jsonl", [
            {**ROW, "record_id": "R1"}, {**ROW, "record_id": "R2", "person.name": "Li\u0000"},
        ])
        assert connector(["publish", "--type", "migrant-record", "--config", str(config),
                          str(source)]) == 1
        assert "sent 1, rejected 1, pending 0" in capsys.readouterr().err
        published = read_published(participant_of(config))
        assert [p["record_id"] for _, p in published] == ["R1"]
