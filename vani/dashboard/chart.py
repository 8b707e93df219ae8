"""The overview's server-rendered SVG charts (no JavaScript, no chart library): events and deliveries
per hour, latency and lag per hour, the stage funnel. Failures are hatched as well as coloured, and
lines differ in dash and point shape, so no chart depends on colour alone."""
from __future__ import annotations

from datetime import tzinfo

from markupsafe import Markup, escape

from vani.dashboard.overview import HourBucket
from vani.models import clock
from vani.models.base import as_utc

WIDTH, HEIGHT = 960, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 24
HATCH = ('<defs><pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
         '<rect class="hatch-bg" width="6" height="6"/><line class="hatch" x1="0" y1="0" x2="0" y2="6"/></pattern></defs>')


def _nice_max(value: int) -> int:
    """Round the axis maximum up to 1, 2 or 5 × a power of ten."""
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value  # pragma: no cover


def _iso(bucket) -> str:
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
    label = f"Events settled per hour over the last {len(buckets)} hours: {total} in total"
    where = where or clock.zone()
    zone = escape(getattr(where, "key", "UTC"))
    parts = [f'<svg class="chart" data-zone="{zone}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(label)}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">',
             HATCH.format(id="hatch-events")]
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
            parts.append(f'<rect class="bar-failed" fill="url(#hatch-events)" x="{x:.1f}" y="{TOP + plot_h - h_ok - h_failed:.1f}" '
                         f'width="{bar_w:.1f}" height="{h_failed:.1f}"/>')
        parts.append("</g>")
        local = as_utc(b.start).astimezone(where)
        if local.hour % 6 == 0:
            parts.append(f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{HEIGHT - 6}" data-hour="{_iso(b)}" '
                         f'text-anchor="middle">{local.strftime("%H:%M")}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


# -- the other overview charts: one frame, patterns and shapes as well as colour -------------------
def _frame(label: str, top: float, fmt, pattern: str = "", left: int = LEFT) -> list[str]:
    """The opening tag, an optional fill pattern (hatching) and the grid with its y labels."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
             f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">']
    if pattern:
        parts.append(HATCH.format(id=pattern))
    for frac in (0, 0.5, 1):
        y = TOP + plot_h * (1 - frac)
        parts.append(f'<line class="grid" x1="{left}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(top * frac)}</text>')
    return parts


def _hour_label(start, x: float, where: tzinfo) -> str:
    """Every 6th hour of the zone ``where``, labelled there (its UTC instant in ``data-hour``)."""
    local = as_utc(start).astimezone(where)
    if local.hour % 6:
        return ""
    return (f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 6}" data-hour="{start.strftime("%Y-%m-%dT%H:%M:%SZ")}" '
            f'text-anchor="middle">{local.strftime("%H:%M")}</text>')


def _count(value: float) -> str:
    return str(int(value)) if value == int(value) else ""


def duration(ms: float | None) -> str:
    """A duration for people: 840 ms, 2.5 s, 3 min, 1.2 h."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s".replace(".0 s", " s")
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min".replace(".0 min", " min")
    return f"{ms / 3_600_000:.1f} h".replace(".0 h", " h")


def delivery_chart(hours) -> Markup:
    """Deliveries per hour: delivered (solid) under failed attempts (hatched)."""
    delivered, failed = sum(h.delivered for h in hours), sum(h.failed for h in hours)
    top = _nice_max(max((h.delivered + h.failed for h in hours), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(hours), 1)
    bar_w = max(slot - 2, 1)
    label = (f"Deliveries per hour over the last {len(hours)} hours: {delivered} delivered, "
             f"{failed} failed attempts")
    parts = _frame(label, top, _count, pattern="hatch-deliveries")
    where = clock.zone()
    for i, h in enumerate(hours):
        x = LEFT + i * slot + 1
        h_ok, h_bad = plot_h * h.delivered / top, plot_h * h.failed / top
        rest = f"{h.delivered} delivered, {h.failed} failed"
        parts.append(f'<g><title data-at="{_iso(h)}" data-rest="{rest}">'
                     f'{escape(clock.describe(h.start, where=where))}: {rest}</title>')
        parts.append(f'<rect class="hit" x="{x:.1f}" y="{TOP}" width="{bar_w:.1f}" height="{plot_h}"/>')
        if h.delivered:
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h_ok:.1f}" width="{bar_w:.1f}" '
                         f'height="{h_ok:.1f}"/>')
        if h.failed:
            parts.append(f'<rect class="bar-failed" fill="url(#hatch-deliveries)" x="{x:.1f}" '
                         f'y="{TOP + plot_h - h_ok - h_bad:.1f}" width="{bar_w:.1f}" height="{h_bad:.1f}"/>')
        parts.append("</g>" + _hour_label(h.start, x + bar_w / 2, where))
    parts.append("</svg>")
    return Markup("".join(parts))


def duration_chart(hours, what: str) -> Markup:
    """p50 (solid line, round points) and p95 (dashed line, square points) per hour, each line
    named at its end; hours with nothing measured leave a gap."""
    values = [v for h in hours for v in (h.p50, h.p95) if v is not None]
    top = _nice_max(int(max(values, default=0)) + 1) if values else 1000
    left = LEFT + 24  # room for "500 ms"
    plot_w, plot_h = WIDTH - left - RIGHT - 30, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(hours), 1)
    label = f"{what} per hour over the last {len(hours)} hours, p50 and p95"
    parts = _frame(label, top, lambda v: duration(v) if v else "0", left=left)
    where = clock.zone()
    for i, h in enumerate(hours):
        parts.append(_hour_label(h.start, left + (i + 0.5) * slot, where))
    for name, attr, mark in (("p50", "p50", "dot"), ("p95", "p95", "square")):
        points, last = [], None
        for i, h in enumerate(hours):
            value = getattr(h, attr)
            if value is None:
                points.append(None)
                continue
            x, y = left + (i + 0.5) * slot, TOP + plot_h * (1 - min(value, top) / top)
            points.append((x, y))
            last = (x, y)
            shape = (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/>' if mark == "dot" else
                     f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6"/>')
            parts.append(f'<g class="point point-{name}"><title data-at="{_iso(h)}" data-rest="{name} '
                         f'{duration(value)}">{escape(clock.describe(h.start, where=where))}: {name} {duration(value)}'
                         f'</title>{shape}</g>')
        for run in _runs(points):
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            parts.append(f'<polyline class="line line-{name}" points="{path}"/>')
        if last is not None:
            parts.append(f'<text class="axis line-label" x="{last[0] + 6:.1f}" y="{last[1] + 4:.1f}">{name}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _runs(points: list) -> list[list]:
    """The stretches of two points or more between gaps (None)."""
    runs, run = [], []
    for point in points + [None]:
        if point is not None:
            run.append(point)
            continue
        if len(run) > 1:
            runs.append(run)
        run = []
    return runs


FUNNEL_HEIGHT = 34  # per step


def funnel_chart(steps) -> Markup:
    """Horizontal bars, one per stage, as long as the prospects that reached it; each bar is
    named on its left and numbered on its right."""
    total = max((s.reached for s in steps), default=0) or 1
    height = FUNNEL_HEIGHT * len(steps) + 8
    label = "Stage funnel: " + ", ".join(f"{s.stage} {s.reached}" for s in steps)
    parts = [f'<svg class="chart funnel" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    name_w, bar_max = 110, WIDTH - 110 - 150
    for i, s in enumerate(steps):
        y = 4 + i * FUNNEL_HEIGHT
        w = max(bar_max * s.reached / total, 1 if s.reached else 0)
        share = f"{100 * s.reached / total:.0f}%"
        name = str(s.stage).replace("_", "-").capitalize()
        parts.append(f'<g><title>{escape(name)}: {s.reached} reached, {s.here} there now</title>')
        parts.append(f'<text class="axis funnel-name" x="{name_w - 8}" y="{y + 20}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect class="bar funnel-{s.stage}" x="{name_w}" y="{y + 4}" width="{w:.1f}" height="{FUNNEL_HEIGHT - 10}"/>')
        parts.append(f'<text class="axis" x="{name_w + w + 8:.1f}" y="{y + 20}">{s.reached} ({share})</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
