"""`rulectl report` as one self-contained HTML page: styles inline, charts as inline SVG
(svg_charts.py), no script, nothing fetched, so it opens from file:// and as a CI artifact. Every
chart has its data as a table beside it. Sections say what is missing rather than draw empty charts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from engine.features import svg_charts as charts
from engine.features.report_data import PromptActivity, ReportData, Run
from engine.lint.findings import Finding

ENRICHED, FAILED = "#59a14f", "#e15759"
TOKENS_IN, TOKENS_OUT = "#4e79a7", "#f28e2b"

STYLE = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --card:#fff; --bg:#f5f7fa; --accent:#4e79a7; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1f2933; color:#fff; padding:22px 32px 16px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header p { margin:0; color:#cbd2d9; }
nav { margin-top:12px; display:flex; flex-wrap:wrap; gap:6px; }
nav a { color:#fff; text-decoration:none; background:rgba(255,255,255,.12); padding:3px 10px; border-radius:12px; font-size:13px; }
nav a:hover, nav a:focus { background:rgba(255,255,255,.28); }
main { max-width:1240px; margin:0 auto; padding:20px 32px 40px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:18px 22px; margin:0 0 18px; }
h2 { margin:0 0 4px; font-size:18px; }
h3 { margin:16px 0 6px; font-size:15px; }
.lead { color:var(--muted); margin:0 0 10px; }
.empty { color:var(--muted); font-style:italic; margin:8px 0; }
.row { display:flex; flex-wrap:wrap; gap:8px 32px; align-items:flex-start; }
figure.chart { margin:6px 0 10px; }
figcaption { font-weight:600; font-size:13px; color:var(--muted); margin-bottom:4px; }
.chart-svg { max-width:100%; height:auto; overflow:visible; }
.chart-svg .t { font-size:12px; fill:var(--ink); }
.chart-svg .s { font-size:11px; fill:var(--muted); }
.chart-svg .v { font-weight:600; }
.chart-svg .head { font-weight:600; text-transform:uppercase; letter-spacing:.04em; font-size:10px; }
.chart-svg .axis { stroke:#9aa5b1; }
.chart-svg .grid { stroke:var(--line); }
.chart-svg .edge { fill:none; stroke:#9aa5b1; stroke-width:1.4; opacity:.8; }
details { margin:2px 0 8px; }
summary { cursor:pointer; color:var(--accent); font-size:13px; }
table { border-collapse:collapse; margin:6px 0; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left; vertical-align:top; }
th { color:var(--muted); font-weight:600; }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; }
.badge { display:inline-block; padding:0 8px; border-radius:10px; font-size:12px; font-weight:600; }
.warning { background:#fde8e8; color:#9b1c1c; } .info { background:#e1effe; color:#1e429f; } .ok { background:#def7ec; color:#03543f; }
.result { margin:6px 0; }
footer { color:var(--muted); text-align:center; font-size:12px; padding-bottom:24px; }
"""

SECTIONS = (("segments", "Segments"), ("history", "Segment history"), ("refreshes", "AI refreshes and spend"), ("experiments", "Experiments"), ("lineage", "Lineage"), ("lint", "Lint"))


def render_report(data: ReportData) -> str:
    """The whole page."""
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title in SECTIONS)
    body = "".join((_segments(data), _history(data), _refreshes(data), _experiments(data), _lineage(data), _lint(data.findings)))
    title = f"rulectl report: {data.project} on {data.target}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(data.project)}</h1><p>target <strong>{escape(data.target)}</strong> ({escape(data.engine)}) · "
        f"generated {escape(_when(data.generated_at))}</p><nav aria-label=\"sections\">{nav}</nav></header>"
        f"<main>{body}</main><footer>Made by <code>rulectl report</code>. One file: no script, nothing fetched.</footer></body></html>"
    )


# ------------------------------------------------------------------------------------- pieces


def _section(key: str, lead: str, content: str) -> str:
    title = dict(SECTIONS)[key]
    return f'<section id="{key}" data-section="{key}" aria-labelledby="{key}-h"><h2 id="{key}-h">{escape(title)}</h2><p class="lead">{lead}</p>{content}</section>'


def _figure(chart_id: str, caption: str, svg: str, table: str, open_table: bool = False) -> str:
    """A chart and its data table (the table is what screen readers and the tests read)."""
    opened = " open" if open_table else ""
    return (
        f'<figure class="chart" id="{chart_id}" data-chart="{chart_id}"><figcaption>{escape(caption)}</figcaption>{svg}'
        f"<details{opened}><summary>Data table: {escape(caption)}</summary>{table}</details></figure>"
    )


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    """Cells are (text, exact value) pairs or plain text; exact values go to data-value."""
    head = "".join(f'<th scope="col"{" class=n" if i in numeric else ""}>{escape(h)}</th>' for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text, value = cell if isinstance(cell, tuple) else (cell, None)
            attributes = (' class="n"' if i in numeric else "") + (f' data-value="{escape(repr(value))}"' if value is not None else "")
            cells.append(f"<td{attributes}>{escape(str(text))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table data-table="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _size_formatter(data: ReportData):
    if data.size_format == "currency":
        return lambda v: f"${v:,.0f}"
    if data.size_format == "percent":
        return lambda v: f"{v:.1%}"
    return lambda v: f"{v:,.2f}".rstrip("0").rstrip(".")


def _not_deployed(data: ReportData) -> str:
    return f'<p class="empty">Nothing is deployed on target {escape(data.target)} yet: run <code>rulectl apply</code>.</p>'


# ------------------------------------------------------------------------------------- sections


def _segments(data: ReportData) -> str:
    lead = "Customers per segment now" + (f", and {escape(data.size_label)} per segment (<code>display.size</code>)." if data.size_label else " (<code>display.size</code> names no metric, so sizes are counts).")
    if not data.deployed:
        return _section("segments", lead, _not_deployed(data))
    size_fmt = _size_formatter(data)
    parts = []
    for segmentation in dict.fromkeys(s.segmentation for s in data.segments):
        rows = [s for s in data.segments if s.segmentation == segmentation]
        total = sum(s.customers for s in rows)
        slug = _slug(segmentation)
        charts_html = charts.bar_chart(f"seg-{slug}-customers-svg", f"Customers per {segmentation} segment", [(s.segment, s.customers) for s in rows], _count)
        figures = _figure_only(f"seg-{slug}-customers", "Customers", charts_html)
        if data.size_label:
            sized = charts.bar_chart(f"seg-{slug}-size-svg", f"{data.size_label} per {segmentation} segment", [(s.segment, s.size or 0.0) for s in rows], size_fmt)
            figures += _figure_only(f"seg-{slug}-size", data.size_label, sized)
        headers = ["segment", "customers", "share"] + ([data.size_label] if data.size_label else [])
        table_rows = [
            [s.segment, (_count(s.customers), s.customers), f"{s.customers / total:.1%}" if total else "–"] + ([(size_fmt(s.size or 0), s.size)] if data.size_label else [])
            for s in rows
        ]
        table = _table(f"seg-{slug}", headers, table_rows, numeric=(1, 2, 3))
        parts.append(f'<h3>{escape(segmentation)}</h3><div class="row">{figures}</div><details><summary>Data table: {escape(segmentation)}</summary>{table}</details>')
    return _section("segments", lead, "".join(parts) or '<p class="empty">This project declares no segmentation.</p>')


def _figure_only(chart_id: str, caption: str, svg: str) -> str:
    """A chart whose table is shared with the chart beside it (one table per segmentation)."""
    return f'<figure class="chart" id="{chart_id}" data-chart="{chart_id}"><figcaption>{escape(caption)}</figcaption>{svg}</figure>'


def _history(data: ReportData) -> str:
    lead = "What each apply did to the segments: sizes before and after, and who moved (recorded from the plan when the apply landed; between applies, segments also follow the source data)."
    if not data.deployed:
        return _section("history", lead, _not_deployed(data))
    if not data.history:
        return _section("history", lead, '<p class="empty">No apply has changed a segmentation on this target yet. Each one that does is recorded from now on.</p>')
    parts = []
    segmentations = list(dict.fromkeys(s.segmentation for applied in data.history for s in applied.change.sizes))
    for segmentation in segmentations:
        applies = [a for a in data.history if any(s.segmentation == segmentation for s in a.change.sizes)]
        labels = list(dict.fromkeys(s.segment or "(none)" for a in applies for s in a.change.sizes if s.segmentation == segmentation))
        x_labels = ["before"] + [_when(a.change.applied_at)[5:16] for a in applies]
        series = []
        for label in labels:
            sizes = [next((s for s in a.change.sizes if s.segmentation == segmentation and (s.segment or "(none)") == label), None) for a in applies]
            first = next(s.before for s in sizes if s is not None)
            values, last = [float(first)], float(first)
            for size in sizes:
                last = float(size.after) if size is not None else last
                values.append(last)
            series.append((label, values))
        slug = _slug(segmentation)
        svg = charts.line_chart(f"hist-{slug}-svg", f"{segmentation}: customers per segment before and after each apply", x_labels, series, _count)
        rows = [
            [_when(a.change.applied_at), a.change.plan_id[:12], a.applied_by or "", s.segment or "(none)", (_count(s.before), s.before), (_count(s.after), s.after), f"{s.after - s.before:+,}"]
            for a in applies for s in a.change.sizes if s.segmentation == segmentation
        ]
        table = _table(f"hist-{slug}", ["applied", "plan", "by", "segment", "before", "after", "change"], rows, numeric=(4, 5, 6))
        parts.append(f"<h3>{escape(segmentation)}</h3>" + _figure(f"hist-{slug}", f"{segmentation}: customers per segment, before the first change and after each apply", svg, table))
    moves = [
        [_when(a.change.applied_at), a.applied_by or "", m.segmentation, _move_text(m), (_count(m.customers), m.customers), ", ".join(m.examples)]
        for a in data.history for m in a.change.moves
    ]
    if moves:
        parts.append("<h3>Customers moved</h3>" + _table("moves", ["applied", "by", "segmentation", "move", "customers", "e.g."], moves, numeric=(4,)))
    return _section("history", lead, "".join(parts))


def _move_text(move) -> str:
    if move.kind == "gain":
        return f"gain {move.to_label}"
    if move.kind == "loss":
        return f"lose {move.from_label}"
    return f"{move.from_label or '(none)'} → {move.to_label or '(none)'}"


def _refreshes(data: ReportData) -> str:
    lead = "Each refresh task's latest runs (rows enriched and failed calls, from the run log) and the tokens of the replies stored now, by the day they were generated."
    if not data.declared_prompts and not data.declared_enrichments:
        return _section("refreshes", lead, '<p class="empty">This project has no prompts and no enrichments: there are no AI refreshes, spend or experiments to show.</p>')
    if not data.deployed:
        return _section("refreshes", lead, _not_deployed(data))
    parts = [_prompt_activity(activity) for activity in data.prompts]
    if not data.prompts:
        parts.append('<p class="empty">This project has no prompts.</p>')
    if data.enrichment_runs:
        parts.append("<h3>Enrichment tasks (sentiment, search)</h3>" + _runs_figure("enrichment-runs", "Enrichment runs", data.enrichment_runs))
    return _section("refreshes", lead, "".join(parts))


def _runs_figure(chart_id: str, caption: str, runs: list[Run]) -> str:
    labels = [f"{_when(r.started_at)[5:16]}" for r in runs]
    svg = charts.column_chart(
        f"{chart_id}-svg", caption, labels, [("enriched", ENRICHED, [float(r.enriched) for r in runs]), ("failed calls", FAILED, [float(r.failed) for r in runs])], _count
    )
    rows = [
        [r.task, _when(r.started_at), _when(r.finished_at) or "not finished", (_count(r.pending), r.pending), (_count(r.enriched), r.enriched), (_count(r.failed), r.failed), r.error or ""]
        for r in runs
    ]
    table = _table(chart_id, ["task", "started", "finished", "pending", "enriched", "failed", "error"], rows, numeric=(3, 4, 5))
    return _figure(chart_id, caption, svg, table)


def _prompt_activity(activity: PromptActivity) -> str:
    slug = _slug(activity.prompt)
    totals_in = sum(d.input_tokens for d in activity.spend)
    totals_out = sum(d.output_tokens for d in activity.spend)
    credits = sum(d.credits for d in activity.spend)
    providers = ", ".join(sorted({d.provider for d in activity.spend})) or "none yet"
    head = (
        f"<h3>{escape(activity.prompt)} <small>({escape(activity.model)})</small></h3>"
        f'<p data-summary="{escape(activity.prompt)}">{len(activity.runs)} run(s) shown · {sum(r.enriched for r in activity.runs):,} rows enriched · '
        f"{sum(r.failed for r in activity.runs):,} failed calls · stored replies: {totals_in:,} input + {totals_out:,} output tokens, "
        f"{credits:,.4f} credits billed (answered by {escape(providers)}; only Cortex replies are billed in credits)</p>"
    )
    if activity.unavailable:
        return head + f'<p class="empty">{escape(activity.unavailable)}: run <code>rulectl apply</code>.</p>'
    runs = _runs_figure(f"runs-{slug}", f"{activity.prompt}: runs", activity.runs) if activity.runs else '<p class="empty">No run yet: <code>rulectl run</code> starts one.</p>'
    if activity.spend:
        days = list(dict.fromkeys(str(d.day) for d in activity.spend))
        by_day = lambda attr: [float(sum(getattr(d, attr) for d in activity.spend if str(d.day) == day)) for day in days]  # noqa: E731
        svg = charts.column_chart(f"spend-{slug}-svg", f"{activity.prompt}: tokens of stored replies per day", days, [("input tokens", TOKENS_IN, by_day("input_tokens")), ("output tokens", TOKENS_OUT, by_day("output_tokens"))], _count)
        rows = [[str(d.day), d.provider, (_count(d.rows), d.rows), (_count(d.input_tokens), d.input_tokens), (_count(d.output_tokens), d.output_tokens), (f"{d.credits:.4f}", d.credits)] for d in activity.spend]
        spend = _figure(f"spend-{slug}", f"{activity.prompt}: tokens per day", svg, _table(f"spend-{slug}", ["day (UTC)", "provider", "replies", "input tokens", "output tokens", "credits"], rows, numeric=(2, 3, 4, 5)))
    else:
        spend = '<p class="empty">No stored replies yet.</p>'
    return head + f'<div class="row">{runs}{spend}</div>'


def _experiments(data: ReportData) -> str:
    lead = "Each experiment's variants: replies, length and tokens, and with <code>experiment.outcome</code> the outcome rate with its 95% Wilson interval and a two-proportion z-test against the first variant."
    if not data.declared_prompts:
        return _section("experiments", lead, '<p class="empty">This project has no prompts, so no experiments.</p>')
    if not data.declared_experiments:
        return _section("experiments", lead, '<p class="empty">No prompt declares an experiment.</p>')
    if not data.deployed:
        return _section("experiments", lead, _not_deployed(data))
    parts = []
    for experiment in data.experiments:
        slug = _slug(experiment.prompt)
        parts.append(f"<h3>{escape(experiment.prompt)}</h3>")
        if experiment.unavailable:
            parts.append(f'<p class="empty">{escape(experiment.unavailable)}</p>')
            continue
        variants = experiment.variants
        rated = experiment.outcome is not None and any(v.outcome_rate is not None for v in variants)
        if rated:
            svg = charts.interval_chart(f"exp-{slug}-svg", f"{experiment.prompt}: rate of {experiment.outcome} per variant, 95% Wilson interval", [(v.variant, v.outcome_rate, v.ci_low or 0.0, v.ci_high or 0.0) for v in variants])
            caption = f"Rate of {experiment.outcome} per variant (95% Wilson interval)"
        else:
            svg = charts.bar_chart(f"exp-{slug}-svg", f"{experiment.prompt}: replies per variant", [(v.variant, float(v.rows)) for v in variants], _count)
            caption = "Replies per variant" + ("" if experiment.outcome else " (no experiment.outcome declared: no rate to compare)")
        headers = ["variant", "replies", "mean characters", "mean input tokens", "mean output tokens"]
        rows = []
        for v in variants:
            row: list[Any] = [v.variant, (_count(v.rows), v.rows), f"{v.mean_chars:,.0f}", f"{v.mean_input_tokens:,.1f}", f"{v.mean_output_tokens:,.1f}"]
            if rated:
                rate = "–" if v.outcome_rate is None else f"{v.outcome_rate:.1%}"
                row += [(rate, v.outcome_rate), (f"{v.ci_low:.1%}", v.ci_low), (f"{v.ci_high:.1%}", v.ci_high), ("–" if v.p_value is None else f"{v.p_value:.3f}", v.p_value)]
            elif v.outcome_mean is not None:
                row += [(f"{v.outcome_mean:,.3f}", v.outcome_mean)]
            rows.append(row)
        if rated:
            headers += ["rate", "CI low", "CI high", "p (vs first)"]
        elif any(v.outcome_mean is not None for v in variants):
            headers += [f"mean {experiment.outcome}"]
        table = _table(f"exp-{slug}", headers, rows, numeric=tuple(range(1, len(headers))))
        parts.append(_figure(f"exp-{slug}", caption, svg, table, open_table=True) + _test_result(experiment, rated))
    return _section("experiments", lead, "".join(parts))


def _test_result(experiment, rated: bool) -> str:
    if not rated:
        return ""
    tested = [v for v in experiment.variants[1:] if v.p_value is not None]
    if not tested:
        return '<p class="result" data-result="none"><span class="badge info">no test</span> Not enough replies with and without the outcome to compare the variants yet.</p>'
    first = experiment.variants[0].variant
    lines = []
    for v in tested:
        significant = v.p_value < 0.05
        badge = '<span class="badge warning">significant</span>' if significant else '<span class="badge ok">no significant difference</span>'
        verdict = "differs from" if significant else "does not differ significantly from"
        lines.append(f'<p class="result" data-result="{escape(v.variant)}" data-p="{v.p_value!r}">{badge} {escape(v.variant)} {verdict} {escape(first)} at the 5% level (p = {v.p_value:.3f}).</p>')
    return "".join(lines)


def _lineage(data: ReportData) -> str:
    lead = "What feeds what, as the project's YAML declares it: sources → metrics → segmentations → prompts → tasks → output tables."
    lineage = data.lineage
    if lineage is None or not lineage.nodes:
        return _section("lineage", lead, '<p class="empty">Nothing declared.</p>')
    svg = charts.lineage_graph("lineage-graph-svg", f"Lineage of {data.project}", lineage)
    kinds = {node.id: node for node in lineage.nodes}
    rows = [[kinds[a].kind, kinds[a].name, kinds[b].kind, kinds[b].name] for a, b in lineage.edges]
    table = _table("lineage", ["from (kind)", "from", "to (kind)", "to"], rows)
    legend = " ".join(f'<span class="badge" style="background:{charts.KIND_COLOURS[k]}22;color:{charts.KIND_COLOURS[k]}">{k}</span>' for k in charts.KINDS if any(n.kind == k for n in lineage.nodes))
    return _section("lineage", lead, f"<p>{legend}</p>" + _figure("lineage-graph", f"{len(lineage.nodes)} objects, {len(lineage.edges)} links", svg, table))


def _lint(findings: list[Finding]) -> str:
    lead = "<code>rulectl lint</code> with this target: solver-proved overlaps, gaps and unreachable rules, and rules that match no customer here."
    if not findings:
        return _section("lint", lead, '<p class="empty" data-findings="0"><span class="badge ok">clean</span> No findings.</p>')
    rows = [[(f.severity, f.severity), f.kind, f"{f.file}:{f.line}", f.message + (f" ({f.example_text()})" if f.example else "")] for f in findings]
    counts = {severity: sum(f.severity == severity for f in findings) for severity in ("warning", "info")}
    summary = f'<p data-findings="{len(findings)}">{counts["warning"]} warning(s), {counts["info"]} note(s).</p>'
    return _section("lint", lead, summary + _table("lint", ["severity", "kind", "where", "finding"], rows))
