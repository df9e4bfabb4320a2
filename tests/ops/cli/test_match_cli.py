"""hubctl match-eval and hubctl match."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ops.cli import main


def test_match_eval_reports_precision_recall_f1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """match-eval prints the figures at both thresholds and can write the data it used."""
    assert (
        main(
            [
                "match-eval",
                "--size",
                "400",
                "--seed",
                "2",
                "--write-data",
                str(tmp_path),
                "--format",
                "csv",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "NOTIFY " in out and "NOTIFY+REVIEW" in out and "F1" in out
    assert (tmp_path / "alerts.csv").is_file() and (tmp_path / "labels.csv").is_file()
    # Per kind, and the DNA-sampling requests replayed for each table.
    assert "accompanying child" in out and out.count("requests per true child found") == 2
    assert "NOTIFY with samples" in out


def test_match_batch_writes_pairs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """match over generated JSON Lines writes one row per hit with score and explanation."""
    assert main(["match-eval", "--size", "400", "--seed", "3", "--write-data", str(tmp_path)]) == 0
    out = tmp_path / "pairs.csv"
    code = main(
        [
            "match",
            "--alerts",
            str(tmp_path / "alerts.jsonl"),
            "--records",
            str(tmp_path / "records.jsonl"),
            "--rescues",
            str(tmp_path / "rescues.jsonl"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert out.stat().st_mode & 0o777 == 0o600  # the pairs name people
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and all(r["decision"] in ("NOTIFY", "REVIEW") for r in rows)
    labels = {
        (r["alert_id"], r["other_id"], r["child_index"])
        for r in csv.DictReader((tmp_path / "labels.csv").open())
    }
    found = {
        (r["alert_id"], r["other_id"], r["child_index"]) for r in rows if r["decision"] == "NOTIFY"
    }
    assert len(found & labels) >= 0.8 * len(found)
    assert "score" in rows[0]["explanation"]


def test_match_batch_missing_file_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A missing input file is named, with exit code 1."""
    code = main(
        [
            "match",
            "--alerts",
            str(tmp_path / "nope.csv"),
            "--records",
            str(tmp_path / "r.csv"),
            "--out",
            str(tmp_path / "p.csv"),
        ]
    )
    assert code == 1
    assert "nope.csv" in capsys.readouterr().err
