"""One call from the database to a report file: what `hubctl report` and the demo use."""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hub.reports.build import Report, build_report
from hub.reports.facts import Facts, Period
from hub.reports.suppression import DEFAULT_THRESHOLD
from ops.errors import ReportError
from ops.report.html import render_csv, render_html
from ops.report.pdf import html_to_pdf
from processors.pg_reports import read_facts

FORMATS = ("html", "pdf", "csv")


@dataclass(frozen=True)
class ReportRequest:
    """What `hubctl report` was asked for: period, output, format, baseline, province."""
    period: Period
    out: Path
    fmt: str
    baseline: Period | None = None
    province: str | None = None
    threshold: int = DEFAULT_THRESHOLD


def parse_day(text: str, option: str) -> dt.date:
    """A date given as YYYY-MM-DD, or a ReportError naming the option."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{option}: {text!r} is not a date like 2026-01-31") from None


def period_of(first: str, last: str, options: str) -> Period:
    """The period between two dates given as options; refused when it ends before it starts."""
    start, end = parse_day(first, options.split()[0]), parse_day(last, options.split()[-1])
    if end < start:
        raise ReportError(f"{options}: the period ends ({end}) before it starts ({start})")
    return Period(start, end)


def format_of(out: Path, fmt: str | None) -> str:
    """The explicit format, or the one the file name says."""
    chosen = fmt or out.suffix.lstrip(".").lower()
    if chosen not in FORMATS:
        raise ReportError(
            f"--out {out}: say report.html, report.pdf or report.csv (or --format csv)"
        )
    return chosen


def write(report: Report, out: Path, fmt: str, source: str) -> Path:
    """Write the report as CSV, HTML or PDF (HTML printed by Chromium) and return its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        out.write_text(render_csv(report), encoding="utf-8")
        return out
    page = render_html(report, source)
    if fmt == "html":
        out.write_text(page, encoding="utf-8")
        return out
    with tempfile.TemporaryDirectory(prefix="hub-report-") as tmp:
        html_file = Path(tmp) / "report.html"
        html_file.write_text(page, encoding="utf-8")
        html_to_pdf(html_file, out)
    return out


def make_report(facts: Facts, request: ReportRequest) -> Report:
    """Build the report the request asks for from the facts, checking the province code."""
    if request.province is not None and not (
        len(request.province) == 6 and request.province.isdigit()
    ):
        raise ReportError(f"--province: {request.province!r} is not a six-digit code like 510000")
    return build_report(
        facts,
        request.period,
        baseline=request.baseline,
        province=request.province[:2] + "0000" if request.province else None,
        threshold=request.threshold,
    )


def report_from_database(dsn: str, request: ReportRequest, source: str) -> Path:
    """Read the facts, build the report and write it where the request says."""
    return write(make_report(read_facts(dsn), request), request.out, request.fmt, source)
