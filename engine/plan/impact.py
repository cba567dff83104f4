"""Segment impact: how many customers move between segments, computed on the target by comparing
the deployed CUSTOMER_SEGMENTS view with the new SQL (inlined as CTEs, nothing is created)."""

from __future__ import annotations

from collections import Counter

import sqlglot
from sqlglot import exp

from engine.expressions import sf_func

from engine.backends.base import Backend, DeployedState
from engine.compile.objects import table
from engine.compile.segments import PLANNED_SEGMENTS, SEGMENTS_VIEW, with_planned_views
from engine.config.project import LoadedProject
from engine.config.project import spine_name
from engine.plan.model import Action, SegmentMove, Step

SEPARATOR = 31  # ASCII unit separator: joins match-all labels, never typed into a label


def segment_moves(loaded: LoadedProject, backend: Backend, deployed: DeployedState, steps: list[Step]) -> list[SegmentMove]:
    schema = loaded.config.schemas.analytics
    segments_name = f"{schema}.{SEGMENTS_VIEW}".upper()
    changed = {s.qualified_name.upper() for s in steps if s.action in (Action.REPLACE, Action.DRIFT)}
    record = deployed.record("view", segments_name)
    if deployed.get("view", segments_name) is None or not changed & {segments_name, f"{schema}.CUSTOMER_METRICS".upper()}:
        return []
    if not loaded.segmentations:
        return []
    old_columns = _deployed_columns(record.applied_sql if record else None)
    key = loaded.config.sources[spine_name(loaded)].key.lower()
    select_items: list[exp.Expression] = []
    for located in loaded.segmentations:
        name = located.item.name.lower()
        old = exp.column(name, table="old") if name in old_columns else exp.null()
        select_items += [_as_text(old, located.item.match), _as_text(exp.column(name, table="new"), located.item.match)]
    label = "customer_name" if "customer_name" in {c.lower() for c in loaded.config.sources[spine_name(loaded)].columns} else key
    who = sf_func("COALESCE", exp.column(label, table="new"), exp.column(label, table="old"))
    # two example customers per group, in a way every engine computes the same: MIN and MAX
    examples = [sf_func("MIN", who), sf_func("MAX", who.copy())]
    query = (
        exp.select(*select_items, *examples, sf_func("COUNT", exp.Star()))
        .from_(exp.alias_(table(segments_name), "old", table=True))
        .join(exp.alias_(exp.to_table(PLANNED_SEGMENTS), "new", table=True), on=exp.column(key, table="old").eq(exp.column(key, table="new")), join_type="full outer")
        .group_by(*(exp.Literal.number(i + 1) for i in range(len(select_items))))
    )
    query = with_planned_views(query, loaded)
    try:
        rows = backend.query(query)
    except Exception as error:  # e.g. the deployed view was edited by hand and no longer compiles
        raise ImpactUnavailable(str(error).splitlines()[0]) from None
    return _moves(loaded, rows)


class ImpactUnavailable(Exception):
    """The deployed views cannot be compared with the new SQL; the plan says so and goes on."""


def _as_text(column: exp.Expression, match: str) -> exp.Expression:
    if match == "all":
        return sf_func("ARRAY_TO_STRING", column, sf_func("CHR", exp.Literal.number(SEPARATOR)))
    return column


def _deployed_columns(applied_sql: str | None) -> set[str]:
    if not applied_sql:
        return set()
    try:
        create = sqlglot.parse_one(applied_sql, read="snowflake")
    except Exception:
        return set()
    query = create.expression if isinstance(create, exp.Create) else create
    return {name.lower() for name in getattr(query, "named_selects", [])}


def _moves(loaded: LoadedProject, rows: list[tuple]) -> list[SegmentMove]:
    moves: list[SegmentMove] = []
    for index, located in enumerate(loaded.segmentations):
        seg = located.item
        counter: Counter[tuple[str | None, str | None]] = Counter()
        examples: dict[tuple[str | None, str | None], set[str]] = {}
        for row in rows:
            old, new, count = row[2 * index], row[2 * index + 1], row[-1]
            names = {n for n in row[-3:-1] if n is not None}
            if seg.match == "first":
                if old != new:
                    counter[(old, new)] += count
                    examples.setdefault((old, new), set()).update(names)
                continue
            old_labels = set(old.split(chr(SEPARATOR))) - {""} if old is not None else set()
            new_labels = set(new.split(chr(SEPARATOR))) - {""} if new is not None else set()
            for label in new_labels - old_labels:
                counter[(None, label)] += count
                examples.setdefault((None, label), set()).update(names)
            for label in old_labels - new_labels:
                counter[(label, None)] += count
                examples.setdefault((label, None), set()).update(names)
        moves += [
            SegmentMove(seg.name, old, new, count, tuple(sorted(examples.get((old, new), ()))[:3]))
            for (old, new), count in sorted(counter.items(), key=lambda kv: -kv[1])
        ]
    return moves
