"""Rows converted in worker processes give exactly what converting them here gives."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_samples import migrant_row, write_migrant_csv

from connectors import rowwork
from connectors.cli import main
from connectors.config import load_config
from connectors.outbox import Outbox
from connectors.publisher import PublishReport
from connectors.readers import SourceRow, read_rows
from connectors.runtime import open_publisher
from hub.envelope import decode_envelope, decode_payload
from hub.errors import InputFileError
from hub.keys import SigningKey
from hub.schema_catalog import SchemaCatalog
from hub.signing import wire_signature_valid


def _connector(folder: Path) -> Path:
    folder.mkdir()
    config = folder / "hub-connector.toml"
    assert main(["init", "--participant-id", "320000-migrant-registry", "--config", str(config),
                 "--hub", "127.0.0.1:1"]) == 0
    return config


def _mixed_file(path: Path) -> Path:
    """1,200 good rows (three chunks), bad ones in the middle, a repeat, a flagged id."""
    bad_date = migrant_row(9001)
    bad_date[7] = "2024-02-30"
    no_code = migrant_row(9002)
    no_code[5] = "北京市朝阳区"
    flagged = migrant_row(9003)
    flagged[4] = "110105194912310021"
    return write_migrant_csv(path, 1200, extra=[bad_date, migrant_row(5), no_code, flagged,
                                                *[migrant_row(n) for n in range(1201, 1301)]])


def _publish(config: Path, source: Path, workers: int) -> tuple[PublishReport, list[list[str]]]:
    with open_publisher(load_config(config), send=False) as publisher:
        report = publisher.publish_file(source, "migrant-record", workers=workers)
    rejects = source.with_name(source.name + ".rejects.csv")
    with rejects.open(encoding="utf-8-sig") as handle:
        return report, [row[:3] for row in csv.reader(handle)]


def _outbox(config: Path) -> list[tuple[int, str | None, dict[str, object]]]:
    """(sequence, row identity, payload) of every stored event, checking each signature."""
    settings = load_config(config)
    catalog = SchemaCatalog.load()
    key = SigningKey.load(settings.key_file)
    with Outbox(settings.outbox_path) as box:
        rows = box._db.execute(
            "SELECT sequence, row_key, envelope FROM events ORDER BY sequence").fetchall()
    out = []
    for sequence, row_key, envelope in rows:
        wire = bytes(envelope)
        assert wire_signature_valid(wire, key.verify_key)
        env = decode_envelope(wire)
        assert env.sequence == sequence
        out.append((sequence, row_key, decode_payload(catalog, env)))
    return out


class TestParallelConversion:
    def test_workers_give_the_same_events_rejects_and_order(self, tmp_path: Path) -> None:
        """Two workers and none: same report, same rejects with reasons, same events in the
        same sequence order, every one signed and numbered by its outbox sequence."""
        here, there = _connector(tmp_path / "here"), _connector(tmp_path / "there")
        source = _mixed_file(tmp_path / "mixed.csv")
        copy = shutil.copy(source, tmp_path / "there" / "mixed.csv")
        report_here, rejects_here = _publish(here, source, workers=0)
        report_there, rejects_there = _publish(there, Path(copy), workers=2)
        for report in (report_here, report_there):
            assert (report.rows, report.stored, report.already, report.rejected) == (
                1304, 1301, 1, 2)
        assert rejects_here == rejects_there
        assert [r[0] for r in rejects_here[1:]] == ["1202", "1204"]
        assert rejects_here[1][1] == "moved_in_on" and "area code" in rejects_here[2][2]
        events_here, events_there = _outbox(here), _outbox(there)
        assert [(s, k) for s, k, _ in events_here] == [(s, k) for s, k, _ in events_there]
        assert [p["record_id"] for _, _, p in events_there][:3] == ["R000001", "R000002",
                                                                   "R000003"]
        assert events_there[-1][0] == 1301
        assert [p["record_id"] for _, _, p in events_here] == [
            p["record_id"] for _, _, p in events_there]

    def test_publishing_again_with_workers_adds_nothing(self, tmp_path: Path) -> None:
        """Rows already in the outbox are recognised whichever way they were converted."""
        config = _connector(tmp_path / "c")
        source = write_migrant_csv(tmp_path / "c" / "rows.csv", 700)
        with open_publisher(load_config(config), send=False) as publisher:
            first = publisher.publish_file(source, "migrant-record", workers=0)
            again = publisher.publish_file(source, "migrant-record", workers=2)
        assert (first.stored, first.already) == (700, 0)
        assert (again.stored, again.already, again.rejected) == (0, 700, 0)

    def test_publish_command_takes_workers(self, tmp_path: Path) -> None:
        """`publish --workers 1 --no-send` stores every row, converted in a worker."""
        config = _connector(tmp_path / "c")
        source = write_migrant_csv(tmp_path / "c" / "rows.csv", 700)
        assert main(["publish", "--type", "migrant-record", "--no-send", "--workers", "1",
                     "--quiet", "--config", str(config), str(source)]) == 0
        stored = _outbox(config)
        assert [p["record_id"] for _, _, p in stored] == [f"R{n:06d}" for n in range(1, 701)]

    @pytest.mark.parametrize("workers", [0, 1])
    def test_a_read_error_keeps_the_rows_before_it(self, tmp_path: Path, workers: int) -> None:
        """A reader failing after 600 rows: those rows' outcomes still come out, then the
        error, whether converted here or in a worker."""
        config = _connector(tmp_path / "c")
        source = write_migrant_csv(tmp_path / "c" / "rows.csv", 600)

        def failing() -> Iterator[SourceRow]:
            yield from read_rows(source)
            raise InputFileError("rows.csv: cannot be read: disk gone")

        with open_publisher(load_config(config), send=False) as publisher:
            work = rowwork.RowWork(rowwork.ConvertJob(
                "migrant-record", None, {"participant_id": "320000-migrant-registry",
                                         "area_code": "320000"}, dt.date.today()),
                publisher.catalog)
        seen: list[int] = []
        with pytest.raises(InputFileError, match="disk gone"):
            for rows, outcomes in rowwork.converted(work, rowwork.chunks(failing()), workers):
                assert len(rows) == len(outcomes)
                seen.extend(o.number for o in outcomes if not o.problems)
        assert seen == list(range(2, 602))


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A worker that falls back would log a warning: none is expected here."""
    yield
    assert not [r for r in caplog.records if r.name == rowwork.__name__]
