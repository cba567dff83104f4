"""Segmentations → the CUSTOMER_SEGMENTS view over CUSTOMER_METRICS.

`match: first` gives one label column (CASE, first matching rule wins, else the default) plus a
`<name>_action` column when rules carry actions; `match: all` gives an array of every matching label.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping

from sqlglot import exp

from engine.compile.metrics import METRICS_VIEW
from engine.compile.objects import DesiredObject, referenced_tables, table
from engine.config.project import LoadedProject
from engine.config.models import Segmentation
from engine.config.project import input_view_columns
from engine.config.segment_references import dependency_order, reads_of
from engine.core import project_cache, wide_select
from engine.core.expressions import sf_func, parse_expression, utc_calendar

SEGMENTS_VIEW = "CUSTOMER_SEGMENTS"
METRICS_ALIAS = "m"


def segments_view(loaded: LoadedProject) -> DesiredObject:
    """The view, its statement built only when asked for: its SQL is made item by item
    (`_items`), so a one-rule edit builds and generates that segmentation's columns only."""
    schema = loaded.config.schemas.analytics

    def build() -> exp.Create:
        query = segments_query(loaded, table(f"{schema}.{METRICS_VIEW}"))
        return exp.Create(this=table(f"{schema}.{SEGMENTS_VIEW}"), kind="VIEW", expression=query)

    outline = exp.Create(this=table(f"{schema}.{SEGMENTS_VIEW}"), kind="VIEW", expression=exp.select("*").from_(exp.alias_(table(f"{schema}.{METRICS_VIEW}"), METRICS_ALIAS, table=True)))
    skeleton = wide_select.skeleton(outline, outline.expression)
    items, keys = _items(loaded)
    details = {"segmentations": [s.item.model_dump() for s in loaded.segmentations]}
    return DesiredObject("view", schema, SEGMENTS_VIEW, build, referenced_tables(skeleton), details=details, wide=wide_select.WideSelect.of(skeleton, items, keys))


def _items(loaded: LoadedProject) -> tuple[tuple[wide_select.Item, ...], tuple[str, ...]]:
    """The view's select items in order — each metric column, then each segmentation's columns —
    each a function building its tree and the key of what decides its text: rulectl's code and
    sqlglot's version (`code_stamp`), the column's name, or the segmentation as validated with every
    segmentation its rules read, followed through, since a read label is inlined."""
    stamp = project_cache.code_stamp()
    items: list[wide_select.Item] = []
    keys: list[str] = []
    for column in input_view_columns(loaded, "customer_metrics"):
        items.append(lambda column=column: exp.column(column, table=METRICS_ALIAS))
        keys.append(_item_key(stamp, "column", column))
    by_name = {located.item.name.lower(): located.item for located in loaded.segmentations}
    reads = reads_of(loaded)  # the labels each segmentation's rules read, as rule_condition matches them
    for located in loaded.segmentations:
        segmentation = located.item
        columns = functools.cache(lambda segmentation=segmentation: segmentation_columns(segmentation, label_definitions(loaded)))
        inputs = [segmentation.model_dump(mode="json")] + [by_name[name].model_dump(mode="json") for name in _read_closure(segmentation.name.lower(), reads)]
        count = 1 if segmentation.match == "all" or not any(rule.action for rule in segmentation.rules) else 2
        for index in range(count):
            items.append(lambda columns=columns, index=index: columns()[index])
            keys.append(_item_key(stamp, "segmentation", index, inputs))
    return tuple(items), tuple(keys)


def _item_key(*parts: object) -> str:
    return "item:" + hashlib.sha256(json.dumps(parts, separators=(",", ":"), default=str).encode()).hexdigest()


def _read_closure(name: str, reads: dict[str, list[str]]) -> list[str]:
    """The segmentations `name` reads (config/segment_references.py `reads_of`: its rules' parsed
    column names, so `RISK` spelled with a Kelvin sign reads `risk`), and those they read, sorted."""
    found: set[str] = set()
    pending = [name]
    while pending:
        for other in reads.get(pending.pop(), []):
            if other != name and other not in found:
                found.add(other)
                pending.append(other)
    return sorted(found)


def segments_query(loaded: LoadedProject, metrics_relation: exp.Expression) -> exp.Select:
    """SELECT over `metrics_relation` (the deployed view, or a CTE with new SQL for impact)."""
    metric_columns = input_view_columns(loaded, "customer_metrics")
    labels = label_definitions(loaded)
    query = exp.select(*(exp.column(col, table=METRICS_ALIAS) for col in metric_columns))
    for located in loaded.segmentations:
        query.select(*segmentation_columns(located.item, labels), copy=False)
    return query.from_(exp.alias_(metrics_relation, METRICS_ALIAS, table=True), copy=False)


def label_definitions(loaded: LoadedProject) -> dict[str, exp.Expression]:
    """Each `match: first` segmentation's label as an expression over the metrics relation, by
    lowercased name, its references to other labels already inlined (segment_references.py).

    A rule reading `risk` reads this CASE rather than a column of an inner view: compile, plan's
    impact masks and the probes that run rules against the metrics alone then all agree, with no
    second definition; the cost is a longer view text where labels are read.

    Built once per loaded project (compile and plan's impact both ask): the trees are shared, and
    every reader copies what it puts in another tree (`rule_condition`)."""
    signature = tuple(id(located.item) for located in loaded.segmentations)
    kept = _LABELS.get(id(loaded))
    if kept is not None and kept[0] is loaded and kept[1] == signature:
        return kept[2]
    labels = _label_definitions(loaded)
    if len(_LABELS) >= 8:
        _LABELS.pop(next(iter(_LABELS)))
    _LABELS[id(loaded)] = (loaded, signature, labels)  # holding the project keeps its id from being reused
    return labels


_LABELS: dict[int, tuple[LoadedProject, tuple[int, ...], dict[str, exp.Expression]]] = {}


def _label_definitions(loaded: LoadedProject) -> dict[str, exp.Expression]:
    read = {name for names in reads_of(loaded).values() for name in names}  # only these are needed
    labels: dict[str, exp.Expression] = {}
    for located in dependency_order(loaded):
        segmentation = located.item
        if segmentation.match == "first" and segmentation.name.lower() in read:
            labels[segmentation.name.lower()] = _label(segmentation, labels)
    return labels


def _label(segmentation: Segmentation, labels: Mapping[str, exp.Expression]) -> exp.Case:
    default = exp.Literal.string(segmentation.default) if segmentation.default is not None else exp.null()
    return exp.Case(
        ifs=[exp.If(this=rule_condition(rule.when, labels), true=exp.Literal.string(rule.segment)) for rule in segmentation.rules],
        default=default,
    )


def segmentation_columns(segmentation: Segmentation, labels: Mapping[str, exp.Expression] | None = None) -> list[exp.Expression]:
    """The SELECT items one segmentation adds: its label (or label array) and its action.
    `labels`: the label definitions of the segmentations its rules may read."""
    labels = labels or {}
    if segmentation.match == "all":
        matched = [
            exp.Case(ifs=[exp.If(this=rule_condition(rule.when, labels), true=exp.Literal.string(rule.segment))])
            for rule in segmentation.rules
        ]
        return [exp.alias_(sf_func("ARRAY_CONSTRUCT_COMPACT", *matched), segmentation.name.lower(), copy=False)]
    columns = [exp.alias_(_label(segmentation, labels), segmentation.name.lower(), copy=False)]  # built here: no copy
    if any(rule.action for rule in segmentation.rules):
        action = exp.Case(
            ifs=[
                exp.If(this=rule_condition(rule.when, labels), true=exp.Literal.string(rule.action) if rule.action else exp.null())
                for rule in segmentation.rules
            ]
        )
        columns.append(exp.alias_(action, f"{segmentation.name.lower()}_action", copy=False))
    return columns


def rule_condition(when: str, labels: Mapping[str, exp.Expression] | None = None) -> exp.Expression:
    """A rule's `when`, its columns read from the metrics relation aliased METRICS_ALIAS and another
    segmentation's label (`risk`) replaced by its definition from `labels`."""
    labels = labels or {}

    def qualify(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            if node.name.lower() in labels:
                return exp.Paren(this=labels[node.name.lower()].copy())
            return exp.column(node.name, table=METRICS_ALIAS)
        return node

    # UTC forms first: an inlined label already has them
    return utc_calendar(parse_expression(when).copy()).transform(qualify, copy=False)  # copied just above


PLANNED_METRICS, PLANNED_SEGMENTS = "rulectl_new_metrics", "rulectl_new_segments"


def with_planned_views(query: exp.Select, loaded: LoadedProject) -> exp.Select:
    """`query` with the new metrics and segments SQL as CTEs (PLANNED_METRICS, PLANNED_SEGMENTS), so
    plan can compare or estimate against what apply would create without creating anything."""
    from engine.compile.metrics import metrics_query

    return query.with_(PLANNED_METRICS, as_=metrics_query(loaded), copy=False).with_(
        PLANNED_SEGMENTS, as_=segments_query(loaded, exp.to_table(PLANNED_METRICS)), copy=False
    )
