"""The report as one self-contained HTML page (charts inline), and its numbers as CSV rows."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections.abc import Iterator

from hub.reports.build import COUNT_FIGURES, DURATIONS, SHARES, PeriodReport, Report
from hub.reports.facts import ASSISTANCE_LABELS, CASE_TYPE_LABELS, GROUP_LABELS
from hub.reports.tables import HIDDEN, TOTAL, CountTable
from ops.report import charts

PROVINCE_NAMES = {
    "510000": "四川 Sichuan",
    "520000": "贵州 Guizhou",
    "530000": "云南 Yunnan",
    "450000": "广西 Guangxi",
    "410000": "河南 Henan",
    "340000": "安徽 Anhui",
    "320000": "江苏 Jiangsu",
    TOTAL: "合计 total",
}
LABELS = {
    **CASE_TYPE_LABELS,
    **GROUP_LABELS,
    **ASSISTANCE_LABELS,
    TOTAL: "合计 total",
    "forwarded": "已转预警 forwarded to an alert",
    "not_forwarded": "未转 not forwarded",
    "events": "事件 events",
}
STYLE = """
body { font-family: "Noto Sans CJK SC", "Noto Sans CJK JP", sans-serif; font-size: 10pt;
       margin: 1.5em; color: #222; }
h1 { font-size: 16pt; } h2 { font-size: 13pt; border-bottom: 1px solid #999; margin-top: 1.6em; }
h3 { font-size: 11pt; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.4em 0 1em; page-break-inside: avoid; }
th, td { border: 1px solid #bbb; padding: 2px 6px; }
td { text-align: right; } th { background: #eef2f7; text-align: left; }
td.hidden { color: #a33; } .met { color: #276b27; } .missed { color: #a33; } .open { color: #777; }
td.words { text-align: left; font-size: 8pt; }
table.long { page-break-inside: auto; }
.chart { page-break-inside: avoid; } .note { color: #555; font-size: 9pt; }
"""


def _name(code: str) -> str:
    return PROVINCE_NAMES.get(code, code)


def _cell(table: CountTable, row: str, column: str) -> str:
    klass = ' class="hidden"' if table.cell(row, column) is None else ""
    return f"<td{klass}>{html.escape(table.text(row, column))}</td>"


def _table(table: CountTable, rows_are_provinces: bool = True) -> str:
    head = "".join(f"<th>{html.escape(LABELS.get(c, c))}</th>" for c in table.column_labels)
    out = [f"<h3>{html.escape(table.title)}</h3><table><tr><th></th>{head}</tr>"]
    for row in table.row_labels:
        label = _name(row) if rows_are_provinces else LABELS.get(row, row)
        cells = "".join(_cell(table, row, column) for column in table.column_labels)
        out.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def _share_table(report: PeriodReport, key: str, label: str) -> str:
    base = report.by_case["alerts_issued"]
    columns = (*base.columns, TOTAL)
    head = "".join(f"<th>{html.escape(LABELS[c])}</th>" for c in columns)
    out = [f"<h3>{html.escape(label)}</h3><table><tr><th></th>{head}</tr>"]
    for row in base.row_labels:
        cells = "".join(
            f"<td>{html.escape(report.share(key, row, c).text())}</td>" for c in columns
        )
        out.append(f"<tr><th>{html.escape(_name(row))}</th>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def _verdict_class(met: bool | None) -> str:
    return "open" if met is None else "met" if met else "missed"


def _period_body(report: Report, part: PeriodReport, with_charts: bool) -> list[str]:
    t = report.threshold
    out = []
    if with_charts:
        out.append("<h2>图表 Charts</h2>")
        monthly = charts.monthly_chart(
            [part.monthly["alerts_issued"], part.monthly["rescued"]], t
        )
        out.append(f'<div class="chart">{monthly}</div>')
        provinces = charts.province_chart(part, PROVINCE_NAMES, t)
        out.append(f'<div class="chart">{provinces}</div>')
        out.append(f'<div class="chart">{charts.hit_time_chart(part.hit_times, t)}</div>')
    out.append("<h2>按省份和案件类型 Figures per province, by case type</h2>")
    for key, _ in COUNT_FIGURES:
        out.append(_table(part.by_case[key]))
    out.append("<h2>比率 含计数 Shares, always with their counts</h2>")
    for key, label, _, _ in SHARES:
        out.append(_share_table(part, key, label))
    tips = part.tip_share()
    out.append(_table(part.tips))
    out.append(f"<p>线索转预警 tips forwarded to an alert: {html.escape(tips.text())}</p>")
    out.append("<h2>时长 Times (days, nearest-rank percentiles)</h2>")
    for key, _ in DURATIONS:
        d = part.durations[key]
        head = "".join(f"<th>{html.escape(LABELS[c])}</th>" for c in d.columns)
        out.append(f"<h3>{html.escape(d.title)}</h3><table><tr><th></th>{head}</tr>")
        for row in d.rows:
            cells = "".join(f"<td>{html.escape(d.cells[(row, c)].text())}</td>" for c in d.columns)
            out.append(f"<tr><th>{html.escape(_name(row))}</th>{cells}</tr>")
        out.append("</table>")
    out.append("<h2>妇女 / 儿童 Women and children</h2>")
    for key, _ in COUNT_FIGURES:
        out.append(_table(part.by_group[key]))
    out.append(_table(part.assistance))
    out.append("<h2>交换运行情况 Exchange health</h2>")
    ex = part.exchange
    out.append(_table(ex.events, rows_are_provinces=False))
    out.append(_table(ex.rejected, rows_are_provinces=False))
    if ex.overdue.rows:
        out.append(_table(ex.overdue, rows_are_provinces=False))
    else:
        out.append("<p>超期未确认的比中 hits unacknowledged past their reply deadline: none</p>")
    if ex.delay_median_s is None:
        delay = "— (no hits)" if ex.delays == 0 else f"< {t} hits"
    else:
        p90 = ex.delay_p90_s or 0.0
        delay = f"median {ex.delay_median_s:.1f} s, p90 {p90:.1f} s (n = {ex.delays})"
    out.append(
        "<p>通报延迟 notification delay (from the hub holding both documents of a pair to "
        f"storing the hit): {html.escape(delay)}</p>"
    )
    return out


def render_html(report: Report, source: str) -> str:
    """The whole report as one HTML document."""
    cur = report.current
    scope = _name(report.province_filter) if report.province_filter else "全部省份 all provinces"
    baseline = report.baseline.period.text() if report.baseline else "none given"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>评估报告 evaluation report {html.escape(cur.period.text())}</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>联席会议办公室 阶段评估报告<br>Joint office: stage evaluation report</h1>",
        f"<p>期间 period <b>{html.escape(cur.period.text())}</b>; 基线 baseline "
        f"<b>{html.escape(baseline)}</b>; 范围 scope <b>{html.escape(scope)}</b>; "
        f"computed {html.escape(now)} from {html.escape(source)}.</p>",
        f"<p class='note'>Counts from 1 to {report.threshold - 1} are shown as "
        f"\"&lt; {report.threshold}\" so that no rescued person can be picked out; other cells "
        "are hidden with them and show \"hidden\" (secondary suppression) so that no hidden "
        "count can be recovered by subtracting the shown ones from a total. Chart bars marked "
        "\"hidden\" are either. Alerts are counted by the day they were "
        "reported and followed to the period's end (found, hits, confirmations by then); rescued "
        "persons by the day they were rescued, with follow-ups up to the period's end. Case "
        "types: suspected trafficking includes abduction; a rescued person takes the case type "
        "of the alert a confirmed hit links them to, and counts as suspected trafficking "
        "otherwise. Children: under 18 on the day last seen or rescued (an age range counts as a "
        "child only if its oldest bound is under 18).</p>",
        "<h2>目标与结论 Targets and verdicts</h2><table><tr><th>目标 target</th>"
        "<th>结论 verdict</th></tr>",
    ]
    for target in report.targets:
        klass = _verdict_class(target.verdict.met)
        out.append(
            f"<tr><th>{html.escape(target.words)}</th>"
            f"<td class='{klass} words'>{html.escape(target.verdict.words)}</td></tr>"
        )
    out.append("</table>")
    if report.comparisons:
        scopes = list(dict.fromkeys(c.scope for c in report.comparisons))
        head = "".join(f"<th>{html.escape(LABELS[scope])}</th>" for scope in scopes)
        out.append(
            "<h2>与基线比较 Against the baseline</h2><p class='note'>Each cell: baseline → now "
            f"(change).</p><table class='long'><tr><th>figure</th>{head}</tr>"
        )
        for figure in dict.fromkeys(c.figure for c in report.comparisons):
            cells = "".join(
                f"<td class='words'>{html.escape(c.baseline)} → {html.escape(c.now)} "
                f"({html.escape(c.change)})</td>"
                for c in report.comparisons
                if c.figure == figure
            )
            out.append(f"<tr><th>{html.escape(figure)}</th>{cells}</tr>")
        out.append("</table>")
    out += _period_body(report, cur, with_charts=True)
    if report.baseline is not None:
        out.append(f"<h1>基线期 Baseline period {html.escape(report.baseline.period.text())}</h1>")
        out += _period_body(report, report.baseline, with_charts=False)
    out.append("</body></html>")
    return "\n".join(out)


def csv_rows(report: Report) -> Iterator[list[str]]:
    """Every printed number: period, table, row, column, value (as printed, '< 5' if hidden)."""
    yield ["period", "table", "row", "column", "value"]
    parts = [("current", report.current)]
    if report.baseline is not None:
        parts.append(("baseline", report.baseline))
    for name, part in parts:
        period = f"{name} {part.period.first.isoformat()}..{part.period.last.isoformat()}"
        tables = [
            *(("by case type: " + k, part.by_case[k]) for k, _ in COUNT_FIGURES),
            *(("by woman/child: " + k, part.by_group[k]) for k, _ in COUNT_FIGURES),
            ("assistance by kind", part.assistance),
            ("tips", part.tips),
            ("events per participant", part.exchange.events),
            ("rejected by reason", part.exchange.rejected),
            ("unacknowledged past deadline", part.exchange.overdue),
        ]
        for title, table in tables:
            for row in table.row_labels:
                for column in table.column_labels:
                    yield [period, title, row, column, table.text(row, column)]
        for key, _, _, _ in SHARES:
            for row in part.by_case["alerts_issued"].row_labels:
                for column in (*part.by_case["alerts_issued"].columns, TOTAL):
                    yield [period, "share: " + key, row, column,
                           part.share(key, row, column).text()]
        for key, _ in DURATIONS:
            d = part.durations[key]
            for (row, column), cell in sorted(d.cells.items()):
                yield [period, "time: " + key, row, column, cell.text()]
        for series in (*part.monthly.values(), part.hit_times):
            for label in series.labels:
                value = series.row.cells[label]
                yield [period, series.title, TOTAL, label,
                       HIDDEN if value is None else str(value)]
    for target in report.targets:
        yield ["current", "target", target.words, "verdict", target.verdict.words]


def render_csv(report: Report) -> str:
    """The report's figures as CSV text, one figure a row."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(csv_rows(report))
    return out.getvalue()
