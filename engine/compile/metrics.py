"""Metrics → the CUSTOMER_METRICS view, grain-aware.

Every source is aggregated to the customer key in its own CTE (one per source and filter) before
any join, so a customer with four modules is never counted four times, and every customer of the
spine source appears exactly once, also with no rows elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlglot import exp

from engine.compile.objects import DesiredObject, referenced_tables, table
from engine.compile.source_rows import source_relation
from engine.config.project import LoadedProject
from engine.config.models import Metric
from engine.config.project import spine_name
from engine.core.aggregate_order import compiled_with_tie_break, mode_argument, ranked_pick
from engine.core.expressions import WINDOWS_WITH_TIES, sf_func, parse_expression, utc_calendar

METRICS_VIEW = "CUSTOMER_METRICS"


@dataclass(frozen=True)
class MetricGroup:
    """Metrics that share a source and a filter, so they come from one aggregated CTE."""

    cte: str
    source: str
    filter: str | None
    metrics: tuple[Metric, ...]
    mode: bool = False  # one `MODE(x)` / `MIN_BY` / `MAX_BY` metric, compiled with its tie-break (core/aggregate_order.py)


def metrics_view(loaded: LoadedProject) -> DesiredObject:
    """The CUSTOMER_METRICS view: spine columns, then every metric in the order declared."""
    schema = loaded.config.schemas.analytics
    query = metrics_query(loaded)
    statement = exp.Create(this=table(f"{schema}.{METRICS_VIEW}"), kind="VIEW", expression=query)
    return DesiredObject("view", schema, METRICS_VIEW, statement, referenced_tables(statement))


def metrics_query(loaded: LoadedProject, only: Collection[str] | None = None) -> exp.Select:
    """The view's SELECT; `only`: just these metrics (lowercased names) and the metrics they are
    computed from, each with the value the whole view gives it (plan's segment impact reads a few
    metrics of a thousand without computing the rest)."""
    spine = spine_name(loaded)
    spine_source = loaded.config.sources[spine]
    key = (spine_source.key or "").lower()
    metrics = [m.item for m in loaded.metrics]
    if only is not None:
        metrics = _with_inputs(metrics, only)
    groups = _group_metrics(loaded, metrics)
    columns = [col.lower() for col in spine_source.columns]
    in_scope: dict[str, exp.Expression] = {col: exp.column(col, table=spine) for col in columns}
    query = exp.select(*(exp.column(col, table=spine).as_(col) for col in columns))
    spine_cte = _row_level_cte(loaded, spine, [m for m in metrics if m.source == spine])
    query.with_(spine, as_=spine_cte, copy=False).from_(exp.to_table(spine), copy=False)
    for group in groups:
        query.with_(group.cte, as_=_group_cte(loaded, group), copy=False)
        on = exp.column(key, table=group.cte).eq(exp.column(key, table=spine))
        query.join(exp.to_table(group.cte), on=on, join_type="left", copy=False)
    for metric in dependency_order(metrics):
        in_scope[metric.name.lower()] = _metric_in_scope(metric, groups, spine, in_scope, key)
    for metric in metrics:  # columns in the order declared
        query.select(exp.alias_(in_scope[metric.name.lower()].copy(), metric.name.lower(), copy=False), copy=False)
    return utc_calendar(query)  # one calendar for every session that reads the view


def dependency_order(metrics: list[Metric]) -> list[Metric]:
    """Metrics ordered so each derived metric follows the metrics it reads, whatever the file order
    (a derived metric may use one defined further down). Cycles are validate errors; here a cycle's
    metrics simply keep their file order."""
    by_name = {metric.name.lower(): metric for metric in metrics}
    ordered: dict[str, Metric] = {}
    visiting: set[str] = set()

    def visit(metric: Metric) -> None:
        name = metric.name.lower()
        if name in ordered or name in visiting:
            return
        visiting.add(name)
        if metric.source is None:
            for used in parse_expression(metric.expr).column_names:
                if used in by_name:
                    visit(by_name[used])
        visiting.discard(name)
        ordered[name] = metric

    for metric in metrics:
        visit(metric)
    return list(ordered.values())


def _with_inputs(metrics: list[Metric], names: Collection[str]) -> list[Metric]:
    """`names` and every metric a derived one among them reads, in declared order."""
    by_name = {metric.name.lower(): metric for metric in metrics}
    wanted: set[str] = set()
    pending = [name for name in names if name in by_name]
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        metric = by_name[name]
        if metric.source is None:
            pending += [used for used in parse_expression(metric.expr).column_names if used in by_name]
    return [metric for metric in metrics if metric.name.lower() in wanted]


def _group_metrics(loaded: LoadedProject, metrics: list[Metric]) -> list[MetricGroup]:
    spine = spine_name(loaded)
    grouped: dict[tuple[str, str | None, str | None], list[Metric]] = {}
    for metric in metrics:
        if metric.source is None or metric.source == spine:
            continue
        filter_sql = parse_expression(metric.filter).tree.sql(dialect="snowflake") if metric.filter else None
        mode_of = metric.name.lower() if compiled_with_tie_break(parse_expression(metric.expr).tree) else None
        grouped.setdefault((metric.source, filter_sql, mode_of), []).append(metric)
    groups = []
    counters: dict[str, int] = {}
    for (source, filter_sql, mode_of), members in grouped.items():
        counters[source] = counters.get(source, 0) + 1
        suffix = "" if counters[source] == 1 else f"_{counters[source]}"
        groups.append(MetricGroup(f"{source}_by_customer{suffix}", source, filter_sql, tuple(members), mode=mode_of is not None))
    return groups


def _row_level_cte(loaded: LoadedProject, source_name: str, metrics: list[Metric]) -> exp.Select:
    """Key-grain source: its columns plus row-level metrics, one row per customer."""
    source = loaded.config.sources[source_name]
    select = exp.select(*(exp.column(col.lower()) for col in source.columns))
    for metric in metrics:
        select.select(exp.alias_(parse_expression(metric.expr).copy(), metric.name.lower(), copy=False), copy=False)
    return select.from_(source_relation(loaded.config, source_name), copy=False)


def _group_cte(loaded: LoadedProject, group: MetricGroup) -> exp.Select:
    source = loaded.config.sources[group.source]
    key = (loaded.config.sources[spine_name(loaded)].key or "").lower()
    if group.mode:
        return _mode_cte(loaded, group, key)
    select = exp.select(exp.column(key))
    for metric in group.metrics:
        select.select(exp.alias_(parse_expression(metric.expr).copy(), metric.name.lower(), copy=False), copy=False)
    select.from_(source_relation(loaded.config, group.source), copy=False)
    if group.filter:
        select.where(parse_expression(group.filter).copy(), copy=False)
    if source.key:  # another key-grain source: already one row per customer
        return select
    return select.group_by(exp.column(key), copy=False)


def _mode_cte(loaded: LoadedProject, group: MetricGroup, key: str) -> exp.Select:
    """`MODE(x)` with its documented tie-break (core/aggregate_order.py), the same SQL on both targets:
    count each customer's non-NULL values, keep the most frequent, the smallest value among ties.
    Snowflake's own MODE returns "one of" the tied values, DuckDB's one that follows its thread count."""
    (metric,) = group.metrics
    if ranked_pick(parse_expression(metric.expr).tree) is not None:
        return _pick_cte(loaded, group, key)
    value = mode_argument(parse_expression(metric.expr).copy())
    counts = exp.select(exp.column(key), exp.alias_(value.copy(), "rulectl_value"), exp.alias_(exp.Count(this=exp.Star()), "rulectl_rows"))
    counts.from_(source_relation(loaded.config, group.source), copy=False)
    counts.where(exp.Not(this=exp.Is(this=value.copy(), expression=exp.null())), copy=False)
    if group.filter:
        counts.where(parse_expression(group.filter).copy(), copy=False)
    counts.group_by(exp.column(key), value.copy(), copy=False)
    ranked = exp.Window(
        this=exp.RowNumber(),
        partition_by=[exp.column(key)],
        order=exp.Order(expressions=[exp.Ordered(this=exp.column("rulectl_rows"), desc=True), exp.Ordered(this=exp.column("rulectl_value"))]),
    )
    select = exp.select(exp.column(key), exp.alias_(exp.column("rulectl_value"), metric.name.lower()))
    select.from_(counts.subquery("rulectl_counts"), copy=False)
    return select.qualify(ranked.eq(1), copy=False)


def _pick_cte(loaded: LoadedProject, group: MetricGroup, key: str) -> exp.Select:
    """`MIN_BY(x, k)` / `MAX_BY(x, k)` with the documented tie-break (core/aggregate_order.py), the
    same SQL on both targets: x of the row with the smallest (largest) non-NULL k, the smallest x
    among rows that tie on k. Snowflake's own picks any of the tied rows; DuckDB's ARG_MIN one that
    follows its thread count, and skips rows whose x is NULL."""
    (metric,) = group.metrics
    value, order_key, descending = ranked_pick(parse_expression(metric.expr).copy())  # type: ignore[misc]
    rows = exp.select(exp.column(key), exp.alias_(value, "rulectl_value"), exp.alias_(order_key.copy(), "rulectl_order"))
    rows.from_(source_relation(loaded.config, group.source), copy=False)
    rows.where(exp.Not(this=exp.Is(this=order_key.copy(), expression=exp.null())), copy=False)
    if group.filter:
        rows.where(parse_expression(group.filter).copy(), copy=False)
    ranked = exp.Window(
        this=exp.RowNumber(),
        partition_by=[exp.column(key)],
        order=exp.Order(expressions=[
            exp.Ordered(this=exp.column("rulectl_order"), desc=descending, nulls_first=False),
            exp.Ordered(this=exp.column("rulectl_value"), desc=False, nulls_first=False),
        ]),
    )
    select = exp.select(exp.column(key), exp.alias_(exp.column("rulectl_value"), metric.name.lower()))
    select.from_(rows.subquery("rulectl_rows"), copy=False)
    return select.qualify(ranked.eq(1), copy=False)


def _with_tie_break(tree: exp.Expression, key: exp.Expression) -> exp.Expression:
    """NTILE and ROW_NUMBER split customers that tie on the ordering in whatever order the engine
    reads them (different between DuckDB thread counts, and between targets); the customer key as
    the last ordering key makes every customer's score the same on every run and both targets.
    RANK, DENSE_RANK, PERCENT_RANK and CUME_DIST give ties one value by definition: left as written."""
    for window in tree.find_all(exp.Window):
        if isinstance(window.this, WINDOWS_WITH_TIES):
            window.args["order"].append("expressions", exp.Ordered(this=key.copy(), desc=False, nulls_first=False))
    return tree


def _metric_in_scope(metric: Metric, groups: list[MetricGroup], spine: str, in_scope: dict[str, exp.Expression], key: str) -> exp.Expression:
    """The expression that yields `metric` in the final SELECT of the view."""
    if metric.source == spine:
        return exp.column(metric.name.lower(), table=spine)
    if metric.source is None:
        return exp.paren(_with_tie_break(_substitute(parse_expression(metric.expr).copy(), in_scope), in_scope[key]))
    group = next(g for g in groups if any(m is metric for m in g.metrics))
    value: exp.Expression = exp.column(metric.name.lower(), table=group.cte)
    fallback = _no_rows_value(metric)
    if fallback is not None:
        value = sf_func("COALESCE", value, fallback)
    return value


def _no_rows_value(metric: Metric) -> exp.Expression | None:
    """What a customer with no rows gets: `default:` if given, 0 for counts, else NULL."""
    if metric.default is not None:
        return exp.Literal.number(metric.default)
    tree = parse_expression(metric.expr).tree
    if isinstance(tree, (exp.Count, exp.CountIf)):
        return exp.Literal.number(0)
    return None


def _substitute(tree: exp.Expression, in_scope: dict[str, exp.Expression]) -> exp.Expression:
    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name.lower() in in_scope:
            return in_scope[node.name.lower()].copy()
        return node

    return tree.transform(replace, copy=False)  # the caller passes its own copy
