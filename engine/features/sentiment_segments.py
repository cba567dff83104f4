"""Customers that AI sentiment put in a segment, for `rulectl demo`: for every rule whose condition
reads a metric over a `<source>_sentiment` score table (directly or through derived metrics), the
customers holding the rule's label for whom the rule holds with their sentiment and would not hold
without it: each sentiment metric read as its `default:` (what a customer with no scored text
gets), else as NULL. Names come from the project (its metrics, `display:`), never from the example."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from engine.backends.base import Backend
from engine.compile.objects import table
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.enrichments import sentiment_sources
from engine.config.project import LoadedProject, display_name_column, entity_key
from engine.core.expressions import parse_expression


@dataclass(frozen=True)
class SentimentSegment:
    """One rule's customers that sentiment decided, the largest first."""

    segmentation: str
    segment: str
    metrics: tuple[str, ...]  # the sentiment metrics the rule reads
    customers: int
    examples: tuple[tuple[str, tuple[object, ...]], ...]  # (customer name, the metrics' values)


def sentiment_metrics(loaded: LoadedProject) -> set[str]:
    """Metrics over a sentiment score table, and derived metrics that read them (to a fixed point)."""
    scored = set(sentiment_sources(loaded.config))
    names = {m.item.name.lower() for m in loaded.metrics if (m.item.source or "").lower() in scored}
    derived = {m.item.name.lower(): set(parse_expression(m.item.expr).column_names) for m in loaded.metrics if m.item.source is None}
    grown = True
    while grown:
        reading = {name for name, reads in derived.items() if reads & names} - names
        names |= reading
        grown = bool(reading)
    return names


def sentiment_segments(loaded: LoadedProject, backend: Backend, examples: int = 3) -> list[SentimentSegment]:
    """Per rule that reads sentiment: how many customers it labels because of sentiment, and a few."""
    metrics = sentiment_metrics(loaded)
    view = table(f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}")
    found = []
    for located in loaded.segmentations:
        segmentation = located.item
        for rule in segmentation.rules:
            condition = parse_expression(rule.when)
            read = tuple(name for name in condition.column_names if name in metrics)
            if not read:
                continue
            without = exp.func("COALESCE", _without_sentiment(condition.copy(), loaded, metrics), exp.false())
            where = exp.and_(_holds(segmentation.name, segmentation.match, rule.segment), condition.copy(), exp.not_(without))
            count = backend.query(exp.select(exp.func("COUNT", exp.Star())).from_(view.copy()).where(where.copy()))[0][0]
            shown = backend.query(exp.select(exp.column(display_name_column(loaded)), *map(exp.column, read)).from_(view.copy()).where(where).order_by(*_largest_first(loaded)).limit(examples))
            found.append(SentimentSegment(segmentation.name, rule.segment, read, int(count), tuple((str(row[0]), tuple(row[1:])) for row in shown)))
    return found


def _holds(segmentation: str, match: str, label: str) -> exp.Expression:
    column = exp.column(segmentation.lower())
    if match == "all":  # an array of labels
        return exp.func("ARRAY_CONTAINS", exp.cast(exp.Literal.string(label), exp.DataType.build("VARIANT", dialect="snowflake")), column)
    return exp.EQ(this=column, expression=exp.Literal.string(label))


def _without_sentiment(condition: exp.Expression, loaded: LoadedProject, metrics: set[str]) -> exp.Expression:
    """The condition with every sentiment metric at its no-text value: what it says without sentiment."""
    defaults = {m.item.name.lower(): m.item.default for m in loaded.metrics}

    def no_text(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name.lower() in metrics:
            value = defaults.get(node.name.lower())
            return exp.null() if value is None else exp.Literal.number(value)
        return node

    return condition.transform(no_text)


def _largest_first(loaded: LoadedProject) -> list[exp.Ordered]:
    size = loaded.config.display.size
    order = [exp.Ordered(this=exp.column(size.metric.lower()), desc=True, nulls_first=False)] if size else []
    return order + [exp.Ordered(this=exp.column(entity_key(loaded)))]
