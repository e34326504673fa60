"""Small server-side SVG charts (no JavaScript, nothing from elsewhere)."""

from __future__ import annotations

from markupsafe import Markup, escape

OK_COLOUR = "#2e7d32"
BAD_COLOUR = "#c62828"
AXIS_COLOUR = "#666"


def _nice_max(value: int) -> int:
    if value <= 5:
        return 5
    step = int(10 ** (len(str(value)) - 1))
    return ((value + step - 1) // step) * step


def day_chart(rows: list[tuple[str, int, int]], title: str) -> Markup:
    """Stacked bars per day: (label, successes, failures)."""
    width, height, left, bottom, top = 720, 240, 56, 44, 16
    plot_w, plot_h = width - left - 12, height - top - bottom
    peak = _nice_max(max((s + f for _, s, f in rows), default=0))
    n = max(len(rows), 1)
    slot = plot_w / n
    bar = max(2.0, min(36.0, slot * 0.7))
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
        f'stroke="{AXIS_COLOUR}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{AXIS_COLOUR}"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h - frac * plot_h
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{AXIS_COLOUR}">{round(peak * frac)}</text>'
        )
    label_every = max(1, n // 12)
    for i, (label, ok, bad) in enumerate(rows):
        x = left + i * slot + (slot - bar) / 2
        ok_h = plot_h * ok / peak
        bad_h = plot_h * bad / peak
        y_ok = top + plot_h - ok_h
        y_bad = y_ok - bad_h
        tip = escape(f"{label}: {ok} successful, {bad} failed")
        parts.append(
            f"<g><title>{tip}</title>"
            f'<rect x="{x:.1f}" y="{y_ok:.1f}" width="{bar:.1f}" height="{ok_h:.1f}" '
            f'fill="{OK_COLOUR}"/>'
            f'<rect x="{x:.1f}" y="{y_bad:.1f}" width="{bar:.1f}" height="{bad_h:.1f}" '
            f'fill="{BAD_COLOUR}"/></g>'
        )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'font-size="11" fill="{AXIS_COLOUR}">{escape(label[-5:])}</text>'
            )
    parts.append(_legend(left, height - 10))
    parts.append("</svg>")
    return Markup("".join(parts))


def org_chart(rows: list[tuple[str, int, int]], title: str) -> Markup:
    """Horizontal stacked bars per reporting organisation."""
    row_h, left, width = 26, 200, 720
    height = 30 + row_h * max(len(rows), 1) + 20
    plot_w = width - left - 80
    peak = _nice_max(max((s + f for _, s, f in rows), default=0))
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, ok, bad) in enumerate(rows):
        y = 10 + i * row_h
        ok_w = plot_w * ok / peak
        bad_w = plot_w * bad / peak
        tip = escape(f"{label}: {ok} successful, {bad} failed")
        shown = label if len(label) <= 28 else label[:27] + "…"
        parts.append(
            f"<g><title>{tip}</title>"
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12" '
            f'fill="#222">{escape(shown)}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{ok_w:.1f}" height="{row_h - 8}" '
            f'fill="{OK_COLOUR}"/>'
            f'<rect x="{left + ok_w:.1f}" y="{y + 3}" width="{bad_w:.1f}" height="{row_h - 8}" '
            f'fill="{BAD_COLOUR}"/>'
            f'<text x="{left + ok_w + bad_w + 6:.1f}" y="{y + 15}" font-size="11" '
            f'fill="{AXIS_COLOUR}">{ok}/{bad}</text></g>'
        )
    parts.append(_legend(left, height - 8))
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend(x: int, y: int) -> str:
    return (
        f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{OK_COLOUR}"/>'
        f'<text x="{x + 14}" y="{y}" font-size="11" fill="#222">successful</text>'
        f'<rect x="{x + 90}" y="{y - 9}" width="10" height="10" fill="{BAD_COLOUR}"/>'
        f'<text x="{x + 104}" y="{y}" font-size="11" fill="#222">failed</text>'
    )
