"""hubctl dna tables, match --allele-table, match-eval with the lab's and a wrong table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ops.cli import main


def test_match_eval_prints_both_tables_and_writes_the_lab_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Per kind figures and DNA-notified false hits, with the lab's table and the wrong one; the
    lab's table is written beside the data and `hubctl dna tables` reads it back."""
    assert main(["match-eval", "--size", "600", "--seed", "4", "--write-data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "-- lab's table (lab-4)" in out and "-- wrong table (shipped-han-approx)" in out
    for kind in ("record", "accompanying child", "rescue"):
        assert f"  {kind}" in out
    assert "per 1,000 rescue notices" in out
    table_dir = tmp_path / "allele-table"
    assert main(["dna", "tables", "--allele-table", str(table_dir)]) == 0
    listed = capsys.readouterr().out
    assert "table lab-4" in listed and "5/2N" in listed


def test_match_uses_the_table_given(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """hubctl match --allele-table DIR scores DNA with that table (its name in the explanation)."""
    assert main(["match-eval", "--size", "600", "--seed", "4", "--write-data", str(tmp_path)]) == 0
    capsys.readouterr()
    out = tmp_path / "pairs.csv"
    code = main(
        [
            "match",
            "--alerts", str(tmp_path / "alerts.jsonl"),
            "--records", str(tmp_path / "records.jsonl"),
            "--rescues", str(tmp_path / "rescues.jsonl"),
            "--out", str(out),
            "--allele-table", str(tmp_path / "allele-table"),
        ]
    )
    assert code == 0
    rows = [r for r in csv.DictReader(out.open(encoding="utf-8")) if r["dna"]]
    assert rows and all("(table lab-4)" in r["explanation"] for r in rows)


def test_a_bad_table_is_refused_naming_file_locus_and_allele(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "str_allele_frequencies.csv").write_text(
        "locus,allele,frequency\nTH01,6,0.5\nTH01,x7,0.5\n", encoding="utf-8"
    )
    (tmp_path / "table.json").write_text('{"sample_size": 300}', encoding="utf-8")
    assert main(["dna", "tables", "--allele-table", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "str_allele_frequencies.csv row 3: locus TH01 allele 'x7'" in err
