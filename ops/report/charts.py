"""The report's charts as inline SVG, with Chinese labels drawn in a CJK font.

Glyphs are written into the SVG as paths, so the HTML and the PDF show the same letters on a
machine without the font. Hidden (suppressed) values are not drawn: their bar is left out and
marked "< N", so no small count can be read off a chart either.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: charts are files

import matplotlib.font_manager as font_manager
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hub.reports.build import PeriodReport, Series
from hub.reports.tables import TOTAL
from ops.errors import ReportError

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei")


def cjk_family() -> str:
    """The installed CJK font family the charts use, or a ReportError saying what to install."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            return family
    raise ReportError(
        "no CJK font for the charts' Chinese labels: install fonts-noto-cjk "
        "(bash ops/bootstrap does), then run the report again"
    )


def _style() -> None:
    plt.rcParams.update(
        {
            "font.family": [cjk_family(), "DejaVu Sans"],
            "svg.fonttype": "path",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 9,
        }
    )


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = out.getvalue()
    return text[text.index("<svg") :]


def _bars(ax: Axes, labels: Sequence[str], values: Sequence[int | None], threshold: int,
          color: str) -> None:
    positions = range(len(labels))
    heights = [v or 0 for v in values]
    ax.bar(positions, heights, color=color)
    top = max(heights, default=0) or 1
    ax.set_ylim(0, top * 1.1)  # counts: never a negative axis, even when every bar is hidden
    for x, value in zip(positions, values, strict=True):
        if value is None:
            # Small or hidden to protect a small one: a chart cannot tell them apart.
            ax.text(x, top * 0.02, "hidden", ha="center", va="bottom", fontsize=6,
                    rotation=90, color="#a33")


def monthly_chart(series: Sequence[Series], threshold: int) -> str:
    """Monthly trends: one panel per series, months along the bottom."""
    _style()
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.3 * len(series)), squeeze=False)
    for ax, one in zip(axes[:, 0], series, strict=True):
        values = [one.row.cells[label] for label in one.labels]
        _bars(ax, one.labels, values, threshold, "#3b6ea8")
        ax.set_title(one.title, loc="left")
        step = max(1, len(one.labels) // 12)
        ax.set_xticks(range(0, len(one.labels), step))
        ax.set_xticklabels(one.labels[::step], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("人数 persons")
    fig.tight_layout()
    return _svg(fig)


def province_chart(report: PeriodReport, names: dict[str, str], threshold: int) -> str:
    """Per-province bars: alerts issued, closed as found, rescued persons registered."""
    _style()
    keys = (
        ("alerts_issued", "发布预警 alerts issued", "#3b6ea8"),
        ("alerts_found", "已找到 found", "#5a9e5a"),
        ("rescued", "获救登记 rescued", "#c07a2c"),
    )
    provinces = [p for p in report.by_case["alerts_issued"].rows]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.8 / len(keys)
    for i, (key, label, color) in enumerate(keys):
        values = [report.by_case[key].cell(p, TOTAL) for p in provinces]
        xs = [n + (i - 1) * width for n in range(len(provinces))]
        ax.bar(xs, [v or 0 for v in values], width, label=label, color=color)
        for x, value in zip(xs, values, strict=True):
            if value is None:
                ax.text(x, 0, "hidden", ha="center", va="bottom", fontsize=6,
                        rotation=90, color="#a33")
    ax.set_xticks(range(len(provinces)))
    ax.set_xticklabels([names.get(p, p) for p in provinces], fontsize=8)
    ax.set_title("各省比较 per province", loc="left")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def hit_time_chart(series: Series, threshold: int) -> str:
    """The distribution of the time from alert to first hit, in fixed bins."""
    _style()
    fig, ax = plt.subplots(figsize=(8, 2.6))
    values = [series.row.cells[label] for label in series.labels]
    _bars(ax, series.labels, values, threshold, "#7a5aa8")
    ax.set_xticks(range(len(series.labels)))
    ax.set_xticklabels(series.labels)
    ax.set_title(series.title, loc="left")
    ax.set_ylabel("预警数 alerts")
    fig.tight_layout()
    return _svg(fig)
