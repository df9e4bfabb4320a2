"""hubctl report end to end on a real PostgreSQL: every figure against an independent count,
the same numbers after a rebuild from the event store, suppression, and a PDF that renders."""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.config import Settings
from hub.projections.apply import apply_events
from hub.reasons import RejectReason
from hub.reports.build import build_report
from hub.reports.facts import Period
from hub.reports.tables import TOTAL
from hub.store import QuarantineEntry
from ops.report.html import render_csv
from ops.report.write import ReportRequest, make_report, write
from processors.operations import rebuild_projections
from processors.pg_projections import PgProjectionStore
from processors.pg_reports import read_facts
from processors.pg_store import PgEventStore
from tests.hub.reports import report_samples as samples

pytestmark = pytest.mark.services

PROJECT = Path(__file__).resolve().parents[2]
# Kept for a person to look at after the run; .data/ is ignored by git.
OUTPUT = PROJECT / ".data" / "test-output" / "report"
CURRENT = Period(*samples.CURRENT)
REJECTIONS = (
    (RejectReason.BAD_SIGNATURE, "510000-police", 6),
    (RejectReason.NOT_PERMITTED, "520000-migrant-registry", 2),
    (RejectReason.BAD_SIGNATURE, "520000-police", 1),
)
BASELINE = Period(*samples.BASELINE)


@pytest.fixture
def loaded(fresh_db_settings: Settings) -> tuple[Settings, samples.Truth]:
    truth = samples.generate()
    events, projections = PgEventStore(fresh_db_settings.pg_dsn), PgProjectionStore(
        fresh_db_settings.pg_dsn
    )
    try:
        with events.transaction() as txn:
            txn.append_many(truth.events)
            for reason, publisher, times in REJECTIONS:
                for _ in range(times):
                    txn.quarantine(QuarantineEntry(reason.value, "planted", b"w",
                                                   dt.datetime.now(dt.UTC),
                                                   publisher_id=publisher))
        with projections.transaction() as ptxn:
            apply_events(ptxn, truth.events)
    finally:
        events.close()
        projections.close()
    return fresh_db_settings, truth


def _within(moment: dt.datetime | None, period: Period) -> bool:
    return moment is not None and moment.date() <= period.last


def _independent(truth: samples.Truth, period: Period) -> dict[str, Counter[tuple[str, str, str]]]:
    """Each figure counted straight from the generated truth, by (province, case type, group)."""
    out: dict[str, Counter[tuple[str, str, str]]] = {}
    for name in ("alerts_issued", "alerts_found", "hits_notified", "hits_confirmed", "rescued",
                 "reunited", "assisted", "no_guardian", "placed"):
        out[name] = Counter()
    for a in truth.alerts:
        if not period.first <= a.reported.date() <= period.last:
            continue
        key = (a.province, a.case_type, a.group)
        out["alerts_issued"][key] += 1
        out["alerts_found"][key] += _within(a.found_at, period)
        for found, confirmed in a.hits:
            if _within(found, period):
                out["hits_notified"][key] += 1
                out["hits_confirmed"][key] += _within(confirmed, period)
    for r in truth.rescues:
        if not period.first <= r.rescued.date() <= period.last:
            continue
        key = (r.province, "trafficking", r.group)  # no confirmed rescue hit: trafficking
        out["rescued"][key] += 1
        out["reunited"][key] += r.reunited
        out["assisted"][key] += bool(r.assistance)
        out["no_guardian"][key] += r.no_guardian
        out["placed"][key] += r.placed
    return out


def _nearest(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(fraction * len(ordered)) - 1]


def test_every_figure_equals_an_independent_count(loaded: tuple[Settings, samples.Truth]) -> None:
    """Per province, case type and woman / child, each count is the truth's own count."""
    settings, truth = loaded
    report = build_report(read_facts(settings.pg_reader_dsn), CURRENT, baseline=BASELINE,
                          threshold=1)
    for period, part in ((CURRENT, report.current), (BASELINE, report.baseline)):
        assert part is not None
        expected = _independent(truth, period)
        for figure, counts in expected.items():
            for province in (*samples.PROVINCES, samples.SMALL_PROVINCE):
                for case in ("trafficking", "runaway", "lost", "other"):
                    want = sum(n for (p, c, _), n in counts.items() if p == province and c == case)
                    got = part.by_case[figure].cell(province, case)
                    assert got == want, (period, figure, province, case)
                for group in ("woman", "child", "unknown"):
                    want = sum(n for (p, _, g), n in counts.items() if p == province and g == group)
                    assert part.by_group[figure].cell(province, group) == want
            assert part.by_case[figure].cell(TOTAL, TOTAL) == sum(counts.values())
        assert sum(1 for a in truth.alerts if period.holds(a.reported)) > 40  # data is not thin
        kinds = Counter((r.province, k) for r in truth.rescues if period.holds(r.rescued)
                        for k in r.assistance)
        assert kinds  # the data has assistance to count
        for province in samples.PROVINCES:
            for kind in samples.ASSIST:
                assert part.assistance.cell(province, kind) == kinds[(province, kind)]
            tips = [t for t in truth.tips if t[0] == province and period.holds(t[1])]
            assert part.tips.cell(province, TOTAL) == len(tips)
            assert part.tips.cell(province, "forwarded") == sum(1 for t in tips if t[2])
        for province in (*samples.PROVINCES, TOTAL):
            for case in ("trafficking", "runaway", "lost", "other", TOTAL):
                for key, pick in (("to_first_hit", 0), ("to_confirmation", 1)):
                    days = [
                        min((h[pick] - a.reported).total_seconds() / 86400 for h in a.hits
                            if _within(h[pick], period))
                        for a in truth.alerts
                        if period.holds(a.reported)
                        and province in (TOTAL, a.province) and case in (TOTAL, a.case_type)
                        and any(_within(h[pick], period) for h in a.hits)
                    ]
                    cell = part.durations[key].cells[(province, case)]
                    assert cell.n == len(days), (key, province, case)
                    if days:
                        assert cell.median == pytest.approx(_nearest(days, 0.5))
                        assert cell.p90 == pytest.approx(_nearest(days, 0.9))
    # Events are stored today: the exchange figures of a period holding today count them all.
    today = dt.datetime.now(dt.UTC).date()
    live = build_report(read_facts(settings.pg_reader_dsn), Period(today, today), threshold=1)
    per_publisher = Counter(e.publisher_id for e in truth.events)
    for publisher, n in per_publisher.items():
        assert live.current.exchange.events.cell(publisher, "events") == n
    assert live.current.exchange.delays == sum(len(a.hits) for a in truth.alerts)
    assert live.current.exchange.overdue.rows == ()  # no hit owes a reply here
    rejected = live.current.exchange.rejected
    assert rejected.cell("BAD_SIGNATURE", "events") == 7
    assert rejected.cell("NOT_PERMITTED", "events") == 2
    sichuan = build_report(read_facts(settings.pg_reader_dsn), Period(today, today),
                           province="510000", threshold=1)
    assert sichuan.current.exchange.rejected.cell("BAD_SIGNATURE", "events") == 6
    assert sichuan.current.exchange.rejected.rows == ("BAD_SIGNATURE",)

def test_a_rebuild_from_the_event_store_gives_the_same_report(
    loaded: tuple[Settings, samples.Truth],
) -> None:
    """Empty the projections, replay the store: the CSV of the report is byte for byte equal."""
    settings, _ = loaded
    request = ReportRequest(CURRENT, Path("unused.csv"), "csv", BASELINE)
    before = render_csv(make_report(read_facts(settings.pg_reader_dsn), request))
    rebuild_projections(settings)
    after = render_csv(make_report(read_facts(settings.pg_reader_dsn), request))
    assert after == before
    assert "alerts_issued" in before and before.count("\n") > 200


def test_three_rescued_children_show_as_under_five(loaded: tuple[Settings, samples.Truth]) -> None:
    """Guangxi's 3 rescued children print as '< 5', and no subtraction gives them back."""
    settings, _ = loaded
    report = build_report(read_facts(settings.pg_reader_dsn), CURRENT, threshold=5)
    rescued = report.current.by_group["rescued"]
    assert rescued.true_cell(samples.SMALL_PROVINCE, "child") == 3
    assert rescued.cell(samples.SMALL_PROVINCE, "child") is None
    csv_text = render_csv(report)
    assert f"by woman/child: rescued,{samples.SMALL_PROVINCE},child,< 5" in csv_text
    # The Guangxi row: its total is itself small, so it is hidden too.
    assert rescued.cell(samples.SMALL_PROVINCE, TOTAL) is None
    column = [rescued.cell(p, "child") for p in rescued.rows]
    assert sum(v is None for v in column) >= 2 or rescued.cell(TOTAL, "child") is None


def _non_blank(png: Path) -> float:
    import matplotlib.image

    pixels: Any = matplotlib.image.imread(png)
    ink = (pixels[..., :3].mean(axis=2) < 0.9).mean()
    return float(ink)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_the_pdf_renders_pages_that_are_not_blank(loaded: tuple[Settings, samples.Truth],
                                                  tmp_path: Path) -> None:
    """The PDF's pages, turned into PNG by pdftoppm, carry text and charts; kept for review."""
    settings, _ = loaded
    request = ReportRequest(CURRENT, tmp_path / "report.pdf", "pdf", BASELINE)
    report = make_report(read_facts(settings.pg_reader_dsn), request)
    write(report, request.out, "pdf", "test database")
    html_file = write(report, tmp_path / "report.html", "html", "test database")
    assert "<svg" in html_file.read_text(encoding="utf-8")
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir(parents=True)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(request.out), str(OUTPUT / "page")],
                   check=True, timeout=120)
    pages = sorted(OUTPUT.glob("page-*.png"))
    assert len(pages) >= 3
    for page in pages:
        assert _non_blank(page) > 0.005, page
    shutil.copy(request.out, OUTPUT / "report.pdf")
    shutil.copy(html_file, OUTPUT / "report.html")


def test_a_tip_the_matcher_forwarded_to_an_alert_counts_as_forwarded(
    loaded: tuple[Settings, samples.Truth],
) -> None:
    """Besides tips that name an alert, those the matcher fitted to one (tip_forwards)."""
    settings, truth = loaded
    province, received, _ = next(t for t in truth.tips if not t[2] and CURRENT.holds(t[1]))
    tip_id = f"T-{truth.tips.index((province, received, False))}"
    before = build_report(read_facts(settings.pg_reader_dsn), CURRENT, threshold=1)
    with psycopg.connect(settings.pg_dsn) as conn:
        # Sent to the place's police only: not forwarded to an alert.
        conn.execute("INSERT INTO tip_forwards (tip_event_id, tip_id, recipient, role) "
                     "VALUES ('e1', %s, '510000-police', 'PLACE_POLICE')", (tip_id,))
    unchanged = build_report(read_facts(settings.pg_reader_dsn), CURRENT, threshold=1)
    with psycopg.connect(settings.pg_dsn) as conn:
        conn.execute("INSERT INTO tip_forwards (tip_event_id, tip_id, recipient, role, alert_ids) "
                     "VALUES ('e1', %s, '530000-police', 'ALERT_ISSUER', '{A-7}')", (tip_id,))
    after = build_report(read_facts(settings.pg_reader_dsn), CURRENT, threshold=1)
    count = lambda report: report.current.tips.cell(province, "forwarded")  # noqa: E731
    assert count(unchanged) == count(before)
    assert count(after) == count(before) + 1


def test_hits_unacknowledged_past_their_deadline_are_counted_per_unit(
    loaded: tuple[Settings, samples.Truth],
) -> None:
    """Late or missing acknowledgements count on the day they fell due; timely ones do not."""
    settings, _ = loaded
    now = dt.datetime.now(dt.UTC)
    due = now - dt.timedelta(hours=2)
    duties = [
        ("m1", "ACK", "510000-police", due, None),  # never acknowledged
        ("m2", "ACK", "510000-police", due, now),  # acknowledged late
        ("m3", "ACK", "520000-police", due, due - dt.timedelta(minutes=5)),  # in time
        ("m4", "ACK", "530000-police", now + dt.timedelta(hours=1), None),  # not yet due
        ("m5", "DECISION", "*", due, None),  # a decision overdue is not a missing ack
    ]
    with psycopg.connect(settings.pg_dsn) as conn:
        for match_id, duty, unit, due_at, done_at in duties:
            conn.execute(
                "INSERT INTO proj_match_duties (match_id, duty, unit, owed_by, due_at, done_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (match_id, duty, unit, unit, due_at, done_at),
            )
    period = Period(due.date(), now.date())
    overdue = build_report(read_facts(settings.pg_reader_dsn), period,
                           threshold=1).current.exchange.overdue
    assert overdue.rows == ("510000-police",)
    assert overdue.cell("510000-police", "hits") == 2
