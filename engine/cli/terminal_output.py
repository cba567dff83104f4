"""How results look in a terminal (rich): insights panels, segment tables, formatted values.
The CLI calls these; they only format what the engine returned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from engine.config.models import SizeMetric
from engine.config.project import LoadedProject
from engine.config.value_formats import CURRENCY_SIGNS

OFFLINE_LABEL = "OFFLINE STAND-IN (not AI output)"


def format_value(value: Any, fmt: str = "number", currency: str = "USD") -> str:
    """A metric value for people: currency (`display.size.currency`, default USD) without cents,
    percent from a ratio, numbers grouped."""
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "as_integer_ratio"):
        return str(value)
    number = float(value)
    if fmt == "currency":
        sign = CURRENCY_SIGNS.get(currency.upper())
        return f"{'-' if number < 0 else ''}{sign}{abs(number):,.0f}" if sign else f"{number:,.0f} {currency.upper()}"
    if fmt == "percent":
        return f"{number:.1%}"
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"


def shown_formats(loaded: LoadedProject) -> dict[str, tuple[str, str]]:
    """Metric → (format, currency) for display columns: the metric's own `format:` / `currency:`,
    else the display size's for the size metric (the same precedence prompts use)."""
    size = loaded.config.display.size
    formats = {size.metric.lower(): (size.format, size.currency)} if size else {}
    for located in loaded.metrics:
        metric = located.item
        if metric.format is not None:
            formats[metric.name.lower()] = (metric.format, (metric.currency or "USD").upper())
    return formats


def size_heading(size: SizeMetric | None) -> str | None:
    return (size.label or size.metric) if size else None


def print_segment_sizes(console: Console, loaded: LoadedProject, sizes: Sequence) -> None:
    size = loaded.config.display.size
    table = Table(title="Segments")
    columns = [("segmentation", "left"), ("segment", "left"), ("customers", "right")]
    if size:
        columns.append((size_heading(size) or "", "right"))
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for row in sizes:
        cells = [row.segmentation, row.segment, f"{row.customers:,}"]
        if size:
            cells.append(format_value(row.size, size.format, size.currency))
        table.add_row(*cells)
    console.print(table)


def print_sentiment_segments(console: Console, found: Sequence) -> None:
    """Per rule that reads AI sentiment: the customers it labels because of their sentiment."""
    if found and not any(rule.customers for rule in found):
        console.print(f"no customer's segment depends on AI sentiment ({', '.join(dict.fromkeys(m for rule in found for m in rule.metrics))}) yet", markup=False)
    for rule in (rule for rule in found if rule.customers):
        metrics = ", ".join(rule.metrics)
        line = f"{rule.segmentation}: {rule.customers:,} customer{'s' if rule.customers != 1 else ''} {'is' if rule.customers == 1 else 'are'} {rule.segment} because of AI sentiment ({metrics})"
        if rule.examples:
            line += ": " + ", ".join(f"{name} ({', '.join(format_value(v) for v in values)})" for name, values in rule.examples)
        console.print(line, markup=False)


def print_insights(console: Console, loaded: LoadedProject, rows: Sequence, stale: dict[str, int] | None = None, filters: str = "") -> None:
    if not rows:
        if filters:  # the output exists; the filters leave nobody (labels and text compare case-sensitively)
            console.print(f"no customer's AI output matches {filters} (text and labels compare exactly, case included)", markup=False)
        else:
            console.print("no AI output yet; run `rulectl run` to enrich customers", markup=False)
        return
    size = loaded.config.display.size
    formats = shown_formats(loaded)
    headings = {size.metric.lower(): size_heading(size)} if size else {}
    for row in rows:
        facts = [f"{name}: {format_value(value)}" for name, value in row.segments.items()]
        facts += [f"{headings.get(name, name)}: {format_value(value, *formats.get(name, ('number', 'USD')))}" for name, value in row.shown.items()]
        body = Text(" · ".join(facts) + "\n", style="bold")
        subtitles = []
        for output in row.outputs:
            if len(row.outputs) > 1:
                body.append(f"\n{output.prompt}", style="underline")
                body.append("\n")
            if output.stale:
                body.append("[stale: made before this customer's inputs changed; `rulectl run` refreshes it] ", style="yellow")
            if output.fields:
                for name, value in output.fields.items():
                    body.append(f"{name}: ", style="bold")
                    body.append(_field_text(value) + "\n")
            else:
                body.append((output.response or "") + "\n")
            label = OFFLINE_LABEL if output.provider == "offline" else (output.provider or "")
            subtitles.append(f"{output.prompt}: variant {output.variant} · {label}")
        body.rstrip()
        title = f"{row.name} ({row.key})" if row.name and row.name != row.key else row.key
        console.print(Panel(body, title=title, title_align="left", subtitle=" | ".join(subtitles), subtitle_align="right"), soft_wrap=False)
    for prompt, count in (stale or {}).items():
        if count:
            console.print(f"note: {count:,} {prompt} output(s) are stale (inputs changed since they were made); `rulectl run` refreshes them", markup=False)


def print_search(console: Console, loaded: LoadedProject, result) -> None:
    """Nearest customers first: similarity, segments, display columns and the text that matched."""
    size = loaded.config.display.size
    formats = shown_formats(loaded)
    headings = {size.metric.lower(): size_heading(size)} if size else {}
    console.print(f"embedded by {result.embedder}", style="dim", markup=False)
    for rank, match in enumerate(result.matches, 1):
        facts = [f"{name}: {format_value(value)}" for name, value in match.segments.items()]
        facts += [f"{headings.get(name, name)}: {format_value(value, *formats.get(name, ('number', 'USD')))}" for name, value in match.shown.items()]
        body = Text(" · ".join(facts) + "\n", style="bold")
        body.append(_shortened(match.text, 400))
        title = f"{rank}. {match.name} ({match.key})" if match.name and match.name != match.key else f"{rank}. {match.key}"
        console.print(Panel(body, title=title, title_align="left", subtitle=f"similarity {match.similarity:.3f}", subtitle_align="right"), soft_wrap=False)
    for note in search_notes(result):
        console.print(note, markup=False)


def search_notes(result) -> list[str]:
    """What a search result leaves out: nothing embedded yet, no match in the segment, waiting text."""
    notes = []
    if not result.embedded:
        notes.append(f"no customer is embedded by `{result.model}` yet; run `rulectl run customer_embeddings`")
    elif not result.matches:
        notes.append(f"none of the {result.embedded:,} embedded customers is in that segment")
    if result.not_embedded is None:
        notes.append("note: could not count the customers waiting to be embedded")
    elif result.not_embedded:
        notes.append(f"note: {result.not_embedded:,} customer(s) have new or changed text not embedded yet; `rulectl run customer_embeddings` embeds them")
    return notes


def _shortened(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def json_default(value: Any) -> Any:
    """json.dumps fallback: exact numbers (Decimal) as numbers, times and the rest as text."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _field_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "".join(f"\n  • {item}" for item in value) or "none"
    return format_value(value) if not isinstance(value, str) else value
