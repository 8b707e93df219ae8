"""Server-rendered SVG bar chart of events per hour (no JavaScript, no chart library)."""
from __future__ import annotations

from datetime import tzinfo

from markupsafe import Markup, escape

from vani.dashboard.overview import HourBucket
from vani.models import clock
from vani.models.base import as_utc

WIDTH, HEIGHT = 960, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 24


def _nice_max(value: int) -> int:
    """Round the axis maximum up to 1, 2 or 5 × a power of ten."""
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value  # pragma: no cover


def _iso(bucket: HourBucket) -> str:
    return bucket.start.strftime("%Y-%m-%dT%H:%M:%SZ")


def events_chart(buckets: list[HourBucket], where: tzinfo | None = None) -> Markup:
    """Stacked bars (processed and other vs failed) with hour labels every 6 hours, in the
    organisation's time zone (or ``where``; each label and tooltip carries its UTC instant too:
    ``data-hour``, ``data-at``)."""
    total = sum(b.total for b in buckets)
    top = _nice_max(max((b.total for b in buckets), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(buckets), 1)
    bar_w = max(slot - 2, 1)
    label = f"Events per hour over the last {len(buckets)} hours: {total} in total"
    where = where or clock.zone()
    zone = escape(getattr(where, "key", "UTC"))
    parts = [f'<svg class="chart" data-zone="{zone}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(label)}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">']
    for frac in (0, 0.5, 1):
        y = TOP + plot_h * (1 - frac)
        value = top * frac
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        if value == int(value):  # no label on a fractional midline
            parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{int(value)}</text>')
    for i, b in enumerate(buckets):
        x = LEFT + i * slot + 1
        ok = b.total - b.failed
        h_ok = plot_h * ok / top
        h_failed = plot_h * b.failed / top
        when = clock.describe(b.start, where=where)
        counts = f"{b.total} events" + (f", {b.failed} failed" if b.failed else "")
        parts.append(f'<g><title data-at="{_iso(b)}" data-rest="{escape(counts)}">{escape(when)}: {escape(counts)}</title>')
        parts.append(f'<rect class="hit" x="{x:.1f}" y="{TOP}" width="{bar_w:.1f}" height="{plot_h}"/>')
        if ok:
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h_ok:.1f}" '
                         f'width="{bar_w:.1f}" height="{h_ok:.1f}"/>')
        if b.failed:
            parts.append(f'<rect class="bar-failed" x="{x:.1f}" y="{TOP + plot_h - h_ok - h_failed:.1f}" '
                         f'width="{bar_w:.1f}" height="{h_failed:.1f}"/>')
        parts.append("</g>")
        local = as_utc(b.start).astimezone(where)
        if local.hour % 6 == 0:
            parts.append(f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{HEIGHT - 6}" data-hour="{_iso(b)}" '
                         f'text-anchor="middle">{local.strftime("%H:%M")}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
