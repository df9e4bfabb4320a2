"""hubctl report's arguments: bad dates, names and thresholds are refused in one plain line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["report", *args])
    return code, capsys.readouterr().err


class TestReportArguments:
    def test_help_names_every_option(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--help lists the period, province, baseline, output, format and threshold options."""
        with pytest.raises(SystemExit):
            main(["report", "--help"])
        text = capsys.readouterr().out
        for option in ("--from", "--to", "--province", "--baseline-from", "--baseline-to",
                       "--out", "--format", "--suppress-below"):
            assert option in text

    def test_a_period_ending_before_it_starts_is_refused(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """--to before --from says which dates and why."""
        code, err = _run(capsys, "--from", "2025-02-01", "--to", "2025-01-01",
                         "--out", str(tmp_path / "r.html"))
        assert code == 1 and "ends (2025-01-01) before it starts (2025-02-01)" in err

    def test_an_impossible_date_is_refused(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """A date like 2025-02-30 names the option and the text."""
        code, err = _run(capsys, "--from", "2025-02-30", "--to", "2025-03-01",
                         "--out", str(tmp_path / "r.html"))
        assert code == 1 and "--from: '2025-02-30' is not a date" in err

    def test_an_unknown_output_kind_is_refused(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """--out report.docx asks for html, pdf or csv."""
        code, err = _run(capsys, "--from", "2025-01-01", "--to", "2025-03-01",
                         "--out", str(tmp_path / "r.docx"))
        assert code == 1 and "report.html, report.pdf or report.csv" in err
        assert not (tmp_path / "r.docx").exists()

    def test_half_a_baseline_is_refused(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """--baseline-from without --baseline-to is an error, not a silent no-baseline report."""
        code, err = _run(capsys, "--from", "2025-01-01", "--to", "2025-03-01",
                         "--baseline-from", "2020-01-01", "--out", str(tmp_path / "r.csv"))
        assert code == 1 and "both --baseline-from and --baseline-to" in err

    def test_threshold_below_one_is_refused(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """--suppress-below 0 would print everything and say it hid small counts: refused."""
        code, err = _run(capsys, "--from", "2025-01-01", "--to", "2025-03-01",
                         "--suppress-below", "0", "--out", str(tmp_path / "r.csv"))
        assert code == 1 and "--suppress-below must be at least 1" in err
