"""Small bar charts drawn on the server as inline SVG: no script, nothing fetched."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD = 360, 90, 18


def bar_chart(title: str, per_minute: list[int]) -> str:
    """One bar per minute, oldest left; the scale and the total are written on it."""
    top = max(per_minute, default=0) or 1
    step = WIDTH / max(len(per_minute), 1)
    bars = []
    for i, value in enumerate(per_minute):
        h = (HEIGHT - PAD) * value / top
        bars.append(
            f'<rect x="{i * step:.1f}" y="{HEIGHT - h:.1f}" width="{max(step - 1, 1):.1f}" '
            f'height="{h:.1f}"><title>{len(per_minute) - i} min ago: {value}</title></rect>'
        )
    total, peak = sum(per_minute), max(per_minute, default=0)
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}: {total} in the last hour">'
        f'<text x="0" y="12">{escape(title)}: {total} in the last hour, peak {peak}/min</text>'
        f'<line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" />'
        + "".join(bars)
        + "</svg>"
    )
