"""Segment impact: who moves between segments, segment sizes before → after, and rules that match
nobody — for the segmentations the plan changes, computed on the target in one query (nothing is
created).

The query costs what changed, not the size of the project:
- only segmentations whose labels can change are compared: their label SQL changed, or a metric
  their rules read changed (column lineage of the metrics view, deployed vs planned);
- when the metrics view is unchanged, the new labels are computed over the deployed segments view,
  which already carries every metric column: one scan, the metrics computed once;
- when metrics changed, the planned metrics are one CTE shared by every compared segmentation and
  joined to the deployed segments view for the old labels.
Per customer the query keeps, for each compared segmentation, the old label and a "match mask" (one
'1'/'0' per rule: did its `when` hold); grouped by (old label, mask) in one GROUPING SETS query,
that is enough to derive moves, sizes, per-rule matches and wins in Python, for `match: first`
(first '1' wins) and `match: all` (every '1' applies) alike.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from engine.backends.base import Backend, DeployedState
from engine.compile.metrics import METRICS_VIEW, metrics_query
from engine.compile.objects import DesiredObject, table
from engine.compile.segments import METRICS_ALIAS, PLANNED_METRICS, SEGMENTS_VIEW, label_definitions, rule_condition, segmentation_columns
from engine.config.models import Segmentation
from engine.config.project import LoadedProject, display_name_column, input_view_columns, spine_name
from engine.config.segment_references import reads_of
from engine.core.expressions import DIALECT, sf_func
from engine.plan.model import Action, SegmentMove, SegmentSizeChange, Step
from engine.plan.sql_diff import output_name, top_level_parts

SEPARATOR = 31  # ASCII unit separator: joins match-all labels, never typed into a label
OLD_ALIAS = "old"
CHANGING = (Action.REPLACE, Action.DRIFT)


class ImpactUnavailable(Exception):
    """The deployed views cannot be compared with the new SQL; the plan says so and goes on."""


@dataclass(frozen=True)
class SegmentImpact:
    """What the planned segmentations change, as the plan shows it."""

    moves: tuple[SegmentMove, ...] = ()
    sizes: tuple[SegmentSizeChange, ...] = ()
    warnings: tuple[str, ...] = ()
    compared: tuple[str, ...] = field(default=())  # the segmentations the query compared
    notes: tuple[str, ...] = ()  # why a segmentation moves when its own rules did not change


def example_name_column(loaded: LoadedProject) -> str:
    """The column that names a customer in the plan's examples (`display.name`, else the key)."""
    return display_name_column(loaded)


def segment_impact(loaded: LoadedProject, backend: Backend, deployed: DeployedState, steps: Iterable[Step], desired: Iterable[DesiredObject]) -> SegmentImpact:
    """Moves, sizes and warnings for the segmentations this plan changes (empty when none)."""
    schema = loaded.config.schemas.analytics
    segments_name, metrics_name = f"{schema}.{SEGMENTS_VIEW}".upper(), f"{schema}.{METRICS_VIEW}".upper()
    actions = {s.qualified_name.upper(): s.action for s in steps}
    segments_action, metrics_action = actions.get(segments_name), actions.get(metrics_name)
    if not loaded.segmentations or deployed.get("view", segments_name) is None:
        return SegmentImpact()
    if segments_action not in CHANGING and metrics_action not in CHANGING:
        return SegmentImpact()
    segments_record = deployed.record("view", segments_name)
    old_view = DeployedSelect(segments_record.applied_sql) if segments_record and segments_record.applied_sql else None
    metrics_changed = metrics_action in CHANGING
    changed_columns: set[str] | None = set()
    if metrics_changed:
        changed_columns = None if metrics_action == Action.DRIFT else _changed_metric_columns(deployed, metrics_name, desired)
    # a rule reading another segmentation's label reads its definition: a change there is a change here
    labels = label_definitions(loaded)
    planned = _PlannedSegments(desired, segments_name)
    compared = [
        located.item for located in loaded.segmentations
        if _may_change(located.item, labels, old_view, changed_columns, trust_deployed=segments_action != Action.DRIFT, planned=planned)
    ]
    if not compared:
        return SegmentImpact()
    single_scan = not metrics_changed and segments_action == Action.REPLACE and old_view is not None
    query = _impact_query(loaded, compared, labels, old_view, segments_name, metrics_name, single_scan, metrics_changed, desired)
    if single_scan:
        query = _over_read_metrics(loaded, query, compared, old_view, segments_name, metrics_name) or query
    try:
        rows = backend.query(query)
    except Exception as error:  # e.g. the deployed view was edited by hand and no longer compiles
        raise ImpactUnavailable(str(error).splitlines()[0]) from None
    impact = _summarize(compared, rows)
    return dataclasses.replace(impact, notes=_reference_notes(loaded, impact))


def _reference_notes(loaded: LoadedProject, impact: SegmentImpact) -> tuple[str, ...]:
    """A sentence for each segmentation with moves that reads the label of another changing one."""
    moving = {move.segmentation.lower() for move in impact.moves}
    names = {located.item.name.lower(): located.item.name for located in loaded.segmentations}
    notes = []
    for name, reads in reads_of(loaded).items():
        changed = [names[read] for read in reads if read in moving and read != name]
        if name in moving and changed:
            notes.append(
                f"`{names[name]}` reads the label{'s' if len(changed) > 1 else ''} of {', '.join(f'`{c}`' for c in changed)}: "
                f"customers moving there move in `{names[name]}` too, even where its own rules did not change"
            )
    return tuple(notes)


# ------------------------------------------------------------ which segmentations can change


@dataclass(frozen=True)
class DeployedSelect:
    """The compact SQL rulectl applied for a view, asked about its output columns by text search.

    Both that text and the planned columns come from the same generator, so a column whose planned
    `<expression> AS <name>` occurs verbatim is unchanged; anything else (another sqlglot version, a
    reformatted text) reads as changed, which costs a comparison but never hides a move. No parse:
    the deployed view of 100 segmentations is 40,000 characters."""

    sql: str

    def defines(self, name: str, expression_sql: str | None = None) -> bool:
        """Whether the view has output column `name` (computed as `expression_sql`, if given)."""
        if expression_sql is None:
            return name.lower() in self.columns
        return any(f"{expression_sql} AS {name}{tail}" in self.sql for tail in (",", " FROM "))

    @functools.cached_property
    def columns(self) -> frozenset[str]:
        """The output column names, from the top-level select items (the cut plan's SQL diff makes
        anyway): in any layout, and never a name a string literal holds (`'billed as annual, …'`)."""
        return frozenset(self.items)

    @functools.cached_property
    def items(self) -> dict[str, str | None]:
        """Each output column's select item as written (`<expression> AS <name>`, the last one with
        the FROM clause), by lowercased name."""
        return named_parts(self.sql)


def named_parts(sql: str) -> dict[str, str | None]:
    """The top-level parts of a compact SELECT (or CREATE VIEW … AS SELECT) by the output name each
    defines; a part defining no name (the statement head) is left out, a name two parts define maps
    to None (no text stands for it: the comparison then takes the column as changed)."""
    parts: dict[str, str | None] = {}
    for part in top_level_parts(sql):
        if (name := output_name(part)) is not None:
            parts[name.lower()] = None if name.lower() in parts else part
    return parts


class _PlannedSegments:
    """The planned segments view, asked per column: its select item as text (cut from the canonical
    SQL plan has generated and diffed: no label is generated again) and, only where a metric
    changed, the column's expression tree (compile built it already)."""

    def __init__(self, desired: Iterable[DesiredObject], segments_name: str):
        self.desired, self.segments_name = list(desired), segments_name

    @functools.cached_property
    def items(self) -> dict[str, str | None]:
        view = next((obj for obj in self.desired if obj.kind == "view" and obj.qualified_name.upper() == self.segments_name), None)
        return named_parts(view.canonical_sql) if view is not None else {}

    @functools.cached_property
    def columns(self) -> dict[str, exp.Expression]:
        return _planned_columns(self.desired, self.segments_name)


def _unaliased(item: exp.Expression) -> exp.Expression:
    return item.this if isinstance(item, exp.Alias) else item


def _planned_columns(desired: Iterable[DesiredObject], segments_name: str) -> dict[str, exp.Expression]:
    """The planned segments view's output columns by name (compile built them already: reading
    them here costs no second build of every segmentation's label)."""
    planned = next((obj for obj in desired if obj.kind == "view" and obj.qualified_name.upper() == segments_name), None)
    query = planned.statement.expression if planned is not None and isinstance(planned.statement, exp.Create) else None
    return {item.alias_or_name.lower(): _unaliased(item) for item in query.expressions} if isinstance(query, exp.Select) else {}


def _may_change(
    segmentation: Segmentation, labels: dict[str, exp.Expression], old_view: DeployedSelect | None, changed_columns: set[str] | None, trust_deployed: bool,
    planned: _PlannedSegments | None = None,
) -> bool:
    """False only when provably unchanged: same label SQL as deployed, over unchanged metric columns
    (the metrics read through another segmentation's label included). `planned`: the planned view,
    when at hand (else the label is built and generated again)."""
    if not trust_deployed or old_view is None or changed_columns is None:
        return True
    name = segmentation.name.lower()
    item = planned.items.get(name) if planned is not None else None
    if item is not None:  # both texts come from one generator: the same item is the same label
        if old_view.items.get(name) != item:  # (a deployed name two parts define is None: changed)
            return True
        if not changed_columns:
            return False
    label = planned.columns.get(name) if planned is not None else None
    if label is None:
        label = _unaliased(segmentation_columns(segmentation, labels)[0])
    if item is None and not old_view.defines(name, label.sql(dialect=DIALECT)):
        return True
    # the label holds every rule's condition (other labels inlined), so it reads what the rules read
    read = {column.name.lower() for column in label.find_all(exp.Column)}
    return bool(read & changed_columns)


def _changed_metric_columns(deployed: DeployedState, metrics_name: str, desired: Iterable[DesiredObject]) -> set[str] | None:
    """Metrics-view columns whose lineage differs between the deployed and the planned view; None
    when the deployed definition is unknown or was edited by hand (then every column may differ)."""
    record = deployed.record("view", metrics_name)
    planned = next((obj for obj in desired if obj.kind == "view" and obj.qualified_name.upper() == metrics_name), None)
    if record is None or not record.applied_sql or planned is None:
        return None
    try:
        old = sqlglot.parse_one(record.applied_sql, read=DIALECT)
    except Exception:
        return None
    old_lineage, new_lineage = _column_lineage(old), _column_lineage(planned.statement)
    if old_lineage is None or new_lineage is None:
        return None
    return {name for name in old_lineage.keys() | new_lineage.keys() if old_lineage.get(name) != new_lineage.get(name)}


def _column_lineage(statement: exp.Expression) -> dict[str, str] | None:
    """For each output column of a metrics view: its expression plus, for every CTE column it reads,
    that column's expression, the CTE's FROM / WHERE / GROUP BY and its join condition — what decides
    the column's values. Two views give a column the same values when the strings are equal."""
    query = statement.expression if isinstance(statement, exp.Create) else statement
    if not isinstance(query, exp.Select):
        return None
    ctes = {cte.alias_or_name.lower(): cte.this for cte in query.find_all(exp.CTE)}
    joins = {join.this.alias_or_name.lower(): join.args.get("on") for join in query.args.get("joins") or []}
    lineage = {}
    for item in query.expressions:
        parts = [_unaliased(item).sql(dialect=DIALECT)]
        for column in sorted({(c.table.lower(), c.name.lower()) for c in item.find_all(exp.Column)}):
            cte = ctes.get(column[0])
            if not isinstance(cte, exp.Select):
                continue
            source = next((_unaliased(e).sql(dialect=DIALECT) for e in cte.expressions if e.alias_or_name.lower() == column[1]), "?")
            clauses = [cte.args.get(k).sql(dialect=DIALECT) for k in ("from_", "where", "group") if cte.args.get(k) is not None]
            on = joins.get(column[0])
            parts.append("|".join([".".join(column), source, *clauses, on.sql(dialect=DIALECT) if on is not None else ""]))
        lineage[item.alias_or_name.lower()] = "\n".join(parts)
    return lineage


# ------------------------------------------------------------ the one query


def _impact_query(
    loaded: LoadedProject,
    compared: list[Segmentation],
    labels: dict[str, exp.Expression],
    old_view: DeployedSelect | None,
    segments_name: str,
    metrics_name: str,
    single_scan: bool,
    metrics_changed: bool,
    desired: Iterable[DesiredObject],
) -> exp.Select:
    key = (loaded.config.sources[spine_name(loaded)].key or "").lower()
    name_column = example_name_column(loaded)
    # single scan: the deployed segments view is both the old labels and the metrics the new rules read
    old_alias = METRICS_ALIAS if single_scan else OLD_ALIAS
    items: list[exp.Expression] = []
    sets: list[exp.Expression] = []
    for index, segmentation in enumerate(compared):
        name = segmentation.name.lower()
        old = exp.column(name, table=old_alias) if old_view is None or old_view.defines(name) else exp.null()
        if not single_scan:
            # a customer the new metrics no longer list has no new labels (not the default)
            missing_old = exp.column(key, table=OLD_ALIAS).is_(exp.null())
            old = exp.Case(ifs=[exp.If(this=missing_old, true=exp.null())], default=old)
        mask = _match_mask(segmentation, labels)
        if not single_scan:
            mask = exp.Case(ifs=[exp.If(this=exp.column(key, table=METRICS_ALIAS).is_(exp.null()), true=exp.null())], default=mask)
        items += [_as_text(old, segmentation.match).as_(f"old_{index}"), mask.as_(f"mask_{index}")]
        sets.append(exp.Tuple(expressions=[exp.column(f"old_{index}"), exp.column(f"mask_{index}")]))
    who: exp.Expression = exp.column(name_column, table=METRICS_ALIAS)
    if not single_scan:
        who = sf_func("COALESCE", who, exp.column(name_column, table=OLD_ALIAS))
    grouping = [sf_func("GROUPING", exp.column(f"old_{index}")).as_(f"g_{index}") for index in range(len(compared))]
    per_customer = exp.select(*items, who.as_("who"))
    if single_scan:
        per_customer = per_customer.from_(exp.alias_(table(segments_name), METRICS_ALIAS, table=True))
    else:
        new_metrics: exp.Expression = table(metrics_name)
        if metrics_changed:
            new_metrics = exp.to_table(PLANNED_METRICS)
        per_customer = per_customer.from_(exp.alias_(new_metrics, METRICS_ALIAS, table=True)).join(
            exp.alias_(table(segments_name), OLD_ALIAS, table=True),
            on=exp.column(key, table=OLD_ALIAS).eq(exp.column(key, table=METRICS_ALIAS)),
            join_type="full outer",
        )
    # two example customers per group, in a way every engine computes the same: MIN and MAX
    query = exp.select(
        *grouping,
        *(exp.column(f"{part}_{index}") for index in range(len(compared)) for part in ("old", "mask")),
        sf_func("MIN", exp.column("who")), sf_func("MAX", exp.column("who")), sf_func("COUNT", exp.Star()),
    ).from_(exp.Subquery(this=per_customer, alias=exp.TableAlias(this=exp.to_identifier("c"))))
    query.set("group", exp.Group(expressions=[exp.GroupingSets(expressions=sets)]))
    if metrics_changed:
        planned = next(obj for obj in desired if obj.kind == "view" and obj.qualified_name.upper() == metrics_name)
        query = query.with_(PLANNED_METRICS, as_=planned.statement.expression.copy(), copy=False)
    return query


def _match_mask(segmentation: Segmentation, labels: dict[str, exp.Expression]) -> exp.Expression:
    """'1' or '0' per rule, in order: whether the rule's `when` holds for the customer (another
    segmentation's label computed from the new metrics, never read from the deployed view)."""
    bits = [
        exp.Case(ifs=[exp.If(this=rule_condition(rule.when, labels), true=exp.Literal.string("1"))], default=exp.Literal.string("0"))
        for rule in segmentation.rules
    ]
    mask = bits[0]
    for bit in bits[1:]:
        mask = exp.DPipe(this=mask, expression=bit, safe=True)
    return mask


def _as_text(column: exp.Expression, match: str) -> exp.Expression:
    if match == "all":
        return sf_func("ARRAY_TO_STRING", column, sf_func("CHR", exp.Literal.number(SEPARATOR)))
    return column


def _over_read_metrics(
    loaded: LoadedProject, query: exp.Select, compared: list[Segmentation], old_view: DeployedSelect, segments_name: str, metrics_name: str,
) -> exp.Select | None:
    """The single-scan query reading only the metrics it needs: the deployed segments view's scan
    replaced by the metrics that the compared segmentations' old labels (their deployed SQL) and
    new rules read, computed as the unchanged metrics view computes them.

    Scanning the deployed view computes every metric it carries (1,000 metrics × 100,000 customers:
    the query took ~190 ms; over the few it reads, ~100 ms). None when the deployed text is not the compact SELECT rulectl writes over the metrics
    view (another version's text, an unexpected shape) or a label reads what the metrics view does
    not have: the deployed view is scanned then, by `query` as it was (this works on a copy)."""
    old_labels = _deployed_labels(old_view, {s.name.lower() for s in compared}, segments_name, metrics_name)
    if old_labels is None:
        return None
    query = query.copy()
    per_customer = query.args["from_"].this.this
    for index, segmentation in enumerate(compared):
        name = segmentation.name.lower()
        old = per_customer.expressions[2 * index]  # the items are (old_i, mask_i) pairs, then who
        for column in list(old.find_all(exp.Column)):  # the label itself, or inside ARRAY_TO_STRING (match: all)
            if column.table.lower() == METRICS_ALIAS and column.name.lower() == name:
                if name not in old_labels:
                    return None
                column.replace(exp.Paren(this=old_labels[name].copy()))
    read = {column.name.lower() for column in per_customer.find_all(exp.Column) if column.table.lower() == METRICS_ALIAS}
    if not read <= set(input_view_columns(loaded, "customer_metrics")):
        return None
    narrowed = metrics_query(loaded, only=read)
    per_customer.set("from_", exp.From(this=exp.Subquery(this=narrowed, alias=exp.TableAlias(this=exp.to_identifier(METRICS_ALIAS)))))
    return query


def _deployed_labels(old_view: DeployedSelect, names: set[str], segments_name: str, metrics_name: str) -> dict[str, exp.Expression] | None:
    """Each of `names`' label expression in the deployed view's text (absent when it has no such
    column), or None when the text is not `CREATE VIEW <segments> AS SELECT … FROM <metrics> AS m`."""
    parts = top_level_parts(old_view.sql)
    head, tail = f"CREATE VIEW {segments_name} AS SELECT ", f" FROM {metrics_name} AS {METRICS_ALIAS}"
    if not parts[0].upper().startswith(head) or not parts[-1].upper().endswith(tail.upper()):
        return None
    parts[0], parts[-1] = parts[0][len(head):], parts[-1][: -len(tail)]
    labels: dict[str, exp.Expression] = {}
    for part in parts:
        name = output_name(part)
        if name is not None and name.lower() in names:
            try:
                labels[name.lower()] = _unaliased(sqlglot.parse_one(f"SELECT {part}", read=DIALECT).expressions[0])
            except Exception:
                return None
    return labels


# ------------------------------------------------------------ rows → moves, sizes, warnings


def _new_labels(segmentation: Segmentation, mask: str | None) -> tuple[str, ...] | None:
    if mask is None:
        return None
    matched = [rule.segment for rule, bit in zip(segmentation.rules, mask) if bit == "1"]
    if segmentation.match == "all":
        return tuple(dict.fromkeys(matched))
    return (matched[0],) if matched else ((segmentation.default,) if segmentation.default is not None else (None,))


def _old_labels(segmentation: Segmentation, old: str | None) -> tuple[str | None, ...] | None:
    if segmentation.match == "all":
        return tuple(label for label in old.split(chr(SEPARATOR)) if label) if old is not None else ()
    return (old,)


def _summarize(compared: list[Segmentation], rows: list[tuple]) -> SegmentImpact:
    count = len(compared)
    moves: list[SegmentMove] = []
    sizes: list[SegmentSizeChange] = []
    warnings: list[str] = []
    for index, segmentation in enumerate(compared):
        groups = [(row[count + 2 * index], row[count + 2 * index + 1], row[-1], {str(n) for n in row[-3:-1] if n is not None}) for row in rows if row[index] == 0]
        counter: Counter[tuple[str, str | None, str | None]] = Counter()
        examples: dict[tuple[str, str | None, str | None], set[str]] = {}
        before: Counter[str | None] = Counter()
        after: Counter[str | None] = Counter()
        matched: Counter[int] = Counter()
        wins: Counter[int] = Counter()
        for old, mask, customers, names in groups:
            old_labels, new_labels = _old_labels(segmentation, old), _new_labels(segmentation, mask)
            for label in old_labels:
                before[label] += customers
            for label in new_labels or ():
                after[label] += customers
            if mask is not None:
                hits = [r for r, bit in enumerate(mask) if bit == "1"]
                matched.update({r: customers for r in hits})
                if hits:
                    wins[hits[0]] += customers
            for change in _changes(segmentation, old_labels, new_labels):
                counter[change] += customers
                examples.setdefault(change, set()).update(names)
        moves += [
            SegmentMove(segmentation.name, old, new, customers, tuple(sorted(examples.get((kind, old, new), ()))[:3]), kind)
            for (kind, old, new), customers in sorted(counter.items(), key=lambda kv: -kv[1])
        ]
        sizes += _sizes(segmentation, before, after)
        warnings += _warnings(segmentation, matched, wins)
    return SegmentImpact(tuple(moves), tuple(sizes), tuple(warnings), tuple(s.name for s in compared))


def _changes(segmentation: Segmentation, old: tuple, new: tuple | None) -> list[tuple[str, str | None, str | None]]:
    if new is None:  # the customer is gone from the new metrics
        new = () if segmentation.match == "all" else (None,)
    if segmentation.match == "first":
        return [("move", old[0], new[0])] if old[0] != new[0] else []
    return [("gain", None, label) for label in new if label not in old] + [("loss", label, None) for label in old if label not in new]


def _sizes(segmentation: Segmentation, before: Counter, after: Counter) -> list[SegmentSizeChange]:
    declared = [rule.segment for rule in segmentation.rules] + ([segmentation.default] if segmentation.match == "first" and segmentation.default is not None else [])
    labels = list(dict.fromkeys(declared + sorted((set(before) | set(after)) - set(declared), key=lambda label: (label is None, label or ""))))
    return [SegmentSizeChange(segmentation.name, label, before.get(label, 0), after.get(label, 0)) for label in labels]


def _warnings(segmentation: Segmentation, matched: Counter, wins: Counter) -> list[str]:
    warnings = []
    for position, rule in enumerate(segmentation.rules):
        where = f"{segmentation.name}: rule {position + 1} ({rule.segment}, `{rule.when}`)"
        if not matched[position]:
            warnings.append(f"{where} matches no customer after this change; check its thresholds")
        elif segmentation.match == "first" and not wins[position]:
            warnings.append(
                f"{where} matches {matched[position]} customer{'s' if matched[position] != 1 else ''}, but earlier rules take every one "
                f"of them, so {rule.segment} gets nobody from it; narrow the earlier rules or move this one up"
            )
    return warnings
