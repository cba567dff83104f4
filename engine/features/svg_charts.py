"""Charts as inline SVG text for `rulectl report`: horizontal bars, lines over applies, stacked
columns, proportions with intervals, and a layered graph. No library and no script: the page must
open from file:// and as a CI artifact with nothing to fetch (docs/decisions.md, "rulectl report").

Every mark carries `data-label` / `data-value` (the exact number) so the browser test reads what was
drawn; every function escapes every text it is given. Each chart has a data table beside it in the
page (report_html.py), so nothing is only in a picture."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from engine.features.lineage import KINDS, Lineage

# Tableau 10: distinct, colour-blind-aware hues, readable on white
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
KIND_COLOURS = dict(zip(KINDS, ("#4e79a7", "#59a14f", "#f28e2b", "#b07aa1", "#9c755f", "#76b7b2")))
FONT = 12
Format = Callable[[float], str]


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_ticks(high: float) -> list[float]:
    """Round axis ticks from 0 past `high`: steps of 1, 2 or 5 × 10^k, at most ~5 of them, whole
    numbers when the values are counts."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if high >= 1:
        step = max(step, 1.0)
    ticks = [0.0]
    while ticks[-1] < high - 1e-9:
        ticks.append(ticks[-1] + step)
    return ticks


def _svg(chart_id: str, title: str, width: float, height: float, body: str) -> str:
    return (
        f'<svg class="chart-svg" role="img" aria-labelledby="{chart_id}-title" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title>{body}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "t", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}"{extra}>{escape(text)}</text>'


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(chart_id: str, title: str, rows: Sequence[tuple[str, float]], fmt: Format, width: int = 460) -> str:
    """One horizontal bar per (label, value), value printed at its end."""
    label_width, row, top = 150, 26, 6
    plot = width - label_width - 90
    high = max((value for _, value in rows), default=0) or 1
    marks = []
    for index, (label, value) in enumerate(rows):
        y = top + index * row
        length = max(0.0, value) / high * plot
        marks.append(
            _text(label_width - 8, y + 16, _clip(label, 22), "end")
            + f'<rect class="bar" x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" rx="3" fill="{colour(index)}"'
            f' data-label="{escape(label)}" data-value="{value!r}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
            + _text(label_width + length + 6, y + 16, fmt(value), cls="t v")
        )
    return _svg(chart_id, title, width, top * 2 + row * max(1, len(rows)), "".join(marks))


def line_chart(chart_id: str, title: str, x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], fmt: Format, width: int = 620) -> str:
    """One line per series over the x labels (e.g. segment sizes after each apply), with a legend."""
    left, right, top, bottom = 56, 150, 14, 46
    height = 240
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max((v for _, values in series for v in values), default=0))
    high = ticks[-1]
    step = plot_w / max(1, len(x_labels) - 1)
    x = lambda i: left + (i * step if len(x_labels) > 1 else plot_w / 2)  # noqa: E731
    y = lambda v: top + plot_h - v / high * plot_h  # noqa: E731
    parts = [f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"/>']
    for tick in ticks[1:]:
        parts.append(f'<line class="grid" x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}"/>' + _text(left - 6, y(tick) + 4, fmt(tick), "end", "t s"))
    parts.append(_text(left - 6, y(0) + 4, fmt(0), "end", "t s"))
    for i, label in enumerate(x_labels):
        parts.append(_text(x(i), top + plot_h + 16, _clip(label, 18), "middle", "t s"))
    for index, (name, values) in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="line" points="{points}" fill="none" stroke="{colour(index)}" stroke-width="2.5"/>')
        for i, value in enumerate(values):
            parts.append(
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(value):.1f}" r="4" fill="{colour(index)}" data-label="{escape(name)}"'
                f' data-x="{escape(x_labels[i])}" data-value="{value!r}"><title>{escape(name)}, {escape(x_labels[i])}: {escape(fmt(value))}</title></circle>'
            )
        legend_y = top + 6 + index * 18
        parts.append(f'<rect x="{width - right + 14}" y="{legend_y - 9}" width="12" height="12" rx="2" fill="{colour(index)}"/>' + _text(width - right + 32, legend_y + 1, _clip(name, 16)))
    return _svg(chart_id, title, width, height, "".join(parts))


def column_chart(chart_id: str, title: str, x_labels: Sequence[str], parts: Sequence[tuple[str, str, Sequence[float]]], fmt: Format, width: int = 500) -> str:
    """Stacked columns: one per x label, one coloured part per (name, colour, values)."""
    left, top, bottom, legend = 56, 14, 46, 20
    height = 220
    plot_w, plot_h = width - left - 10, height - top - bottom - legend
    totals = [sum(values[i] for _, _, values in parts) for i in range(len(x_labels))]
    ticks = nice_ticks(max(totals, default=0))
    high = ticks[-1]
    slot = plot_w / max(1, len(x_labels))
    bar = min(46.0, slot * 0.7)
    y = lambda v: top + legend + plot_h - v / high * plot_h  # noqa: E731
    marks = [f'<line class="axis" x1="{left}" y1="{y(0):.1f}" x2="{left + plot_w}" y2="{y(0):.1f}"/>']
    for tick in ticks[1:]:
        marks.append(f'<line class="grid" x1="{left}" y1="{y(tick):.1f}" x2="{left + plot_w}" y2="{y(tick):.1f}"/>' + _text(left - 6, y(tick) + 4, fmt(tick), "end", "t s"))
    every = max(1, round(len(x_labels) / 10))  # at most ~10 x labels
    for i, label in enumerate(x_labels):
        x0 = left + i * slot + (slot - bar) / 2
        base = 0.0
        for name, fill, values in parts:
            value = values[i]
            marks.append(
                f'<rect class="bar" x="{x0:.1f}" y="{y(base + value):.1f}" width="{bar:.1f}" height="{(value / high * plot_h):.1f}" fill="{fill}"'
                f' data-label="{escape(name)}" data-x="{escape(label)}" data-value="{value!r}"><title>{escape(label)}: {escape(fmt(value))} {escape(name)}</title></rect>'
            )
            base += value
        if i % every == 0:
            marks.append(_text(x0 + bar / 2, y(0) + 16, _clip(label, 16), "middle", "t s"))
    x_legend = left
    for name, fill, _ in parts:
        marks.append(f'<rect x="{x_legend}" y="{top - 4}" width="12" height="12" rx="2" fill="{fill}"/>' + _text(x_legend + 17, top + 6, name))
        x_legend += 30 + 7 * len(name)
    return _svg(chart_id, title, width, height, "".join(marks))


def interval_chart(chart_id: str, title: str, rows: Sequence[tuple[str, float | None, float, float]], width: int = 560) -> str:
    """A proportion per row (a dot) with its interval (a whisker), on a 0–100% axis."""
    label_width, row, top, bottom = 130, 34, 8, 30
    plot = width - label_width - 30
    x = lambda v: label_width + v * plot  # noqa: E731
    height = top + bottom + row * max(1, len(rows))
    parts = []
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line class="grid" x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{height - bottom}"/>' + _text(x(tick), height - bottom + 16, f"{tick:.0%}", "middle", "t s"))
    for index, (label, rate, low, high) in enumerate(rows):
        y = top + index * row + row / 2
        parts.append(_text(label_width - 10, y + 4, _clip(label, 18), "end"))
        if rate is None:
            parts.append(_text(x(0) + 6, y + 4, "no rows yet", cls="t s"))
            continue
        parts.append(
            f'<line class="whisker" x1="{x(low):.1f}" y1="{y:.1f}" x2="{x(high):.1f}" y2="{y:.1f}" stroke="{colour(index)}" stroke-width="3"'
            f' data-label="{escape(label)}" data-low="{low!r}" data-high="{high!r}"/>'
            f'<line x1="{x(low):.1f}" y1="{y - 7:.1f}" x2="{x(low):.1f}" y2="{y + 7:.1f}" stroke="{colour(index)}" stroke-width="2"/>'
            f'<line x1="{x(high):.1f}" y1="{y - 7:.1f}" x2="{x(high):.1f}" y2="{y + 7:.1f}" stroke="{colour(index)}" stroke-width="2"/>'
            f'<circle class="point" cx="{x(rate):.1f}" cy="{y:.1f}" r="6" fill="{colour(index)}" data-label="{escape(label)}" data-value="{rate!r}">'
            f"<title>{escape(label)}: {rate:.1%} (95% CI {low:.1%}–{high:.1%})</title></circle>"
        )
    return _svg(chart_id, title, width, height, "".join(parts))


def lineage_graph(chart_id: str, title: str, lineage: Lineage) -> str:
    """Columns of boxes (Lineage.layers), edges as curves from each box's right side to the next's left."""
    layers = lineage.layers()
    box_w, box_h, gap_x, gap_y, pad = 196, 28, 52, 12, 12
    width = pad * 2 + len(layers) * box_w + (len(layers) - 1) * gap_x
    tallest = max((len(layer) for layer in layers), default=1)
    height = pad * 2 + tallest * (box_h + gap_y) + 18
    where: dict[str, tuple[float, float]] = {}
    for column, layer in enumerate(layers):
        x = pad + column * (box_w + gap_x)
        offset = (tallest - len(layer)) * (box_h + gap_y) / 2
        for row, node in enumerate(layer):
            where[node.id] = (x, pad + 18 + offset + row * (box_h + gap_y))
    edges = []
    for source, target in lineage.edges:
        (x1, y1), (x2, y2) = where[source], where[target]
        x1, y1, y2 = x1 + box_w, y1 + box_h / 2, y2 + box_h / 2
        middle = (x1 + x2) / 2
        edges.append(f'<path class="edge" d="M{x1:.1f},{y1:.1f} C{middle:.1f},{y1:.1f} {middle:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" data-from="{escape(source)}" data-to="{escape(target)}"/>')
    boxes = []
    for node in lineage.nodes:
        x, y = where[node.id]
        fill = KIND_COLOURS[node.kind]
        boxes.append(
            f'<g class="node" data-id="{escape(node.id)}" data-kind="{node.kind}"><title>{node.kind}: {escape(node.name)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="6" fill="#fff"/>'  # opaque: edges pass behind boxes
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="6" fill="{fill}" fill-opacity="0.14" stroke="{fill}" stroke-width="1.5"/>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="5" height="{box_h}" rx="2" fill="{fill}"/>'
            + _text(x + 12, y + 18, _clip(node.name, 28))
            + "</g>"
        )
    heads = []
    for column, layer in enumerate(layers):
        kinds = list(dict.fromkeys(node.kind for node in layer))
        heads.append(_text(pad + column * (box_w + gap_x) + 2, pad + 6, " / ".join(f"{k}s" for k in kinds), cls="t s head"))
    return _svg(chart_id, title, width, height, "".join(heads) + "".join(edges) + "".join(boxes))
