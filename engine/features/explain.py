"""`rulectl explain CUSTOMER`: why a customer has the metrics, segments and AI output it has.

Metrics and rule verdicts come from the views as the YAML defines them now (the planned-views
CTEs over the target's source tables), so explain answers for the rules you are reading even before
they are applied; the AI output is what the target's output tables hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from engine.backends.base import Backend
from engine.backends.registry import engine_errors
from engine.compile.metrics import metrics_query
from engine.compile.objects import table
from engine.compile.prompts import compile_prompt
from engine.compile.segments import PLANNED_SEGMENTS, with_planned_views
from engine.config.models import Metric, Segmentation
from engine.compile.source_rows import source_relation
from engine.config.source_keys import scope_columns
from engine.config.project import Located, LoadedProject, display_name_column, entity_key, input_view_columns, spine_columns, spine_name
from engine.core.errors import RulectlError
from engine.core.expressions import parse_expression, sf_func
from engine.features.rule_tests import plain

SAMPLE_ROWS = 5  # rows shown for a metric when its source has at most this many for the customer
CANDIDATES_SHOWN = 10


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: Any
    definition: str  # expr, source and filter as written
    source: str | None  # None: derived from other metrics
    rows: int | None = None  # source rows aggregated for this customer
    sample: list[dict[str, Any]] = field(default_factory=list)  # those rows, when few
    same_rows_as: str | None = None  # an earlier metric over the same source and filter


@dataclass(frozen=True)
class RuleVerdict:
    segment: str
    when: str
    at: str  # file:line
    inputs: dict[str, Any]
    result: bool | None  # None: the condition is NULL (an input was missing)
    why: str
    won: bool
    because: tuple[str, ...] = ()  # for each other segmentation's label the rule reads: why the customer has it


@dataclass(frozen=True)
class SegmentationVerdict:
    name: str
    match: str
    label: Any  # a label, a list of labels (match: all), or None
    rules: list[RuleVerdict]
    default: str | None


@dataclass(frozen=True)
class AiOutput:
    prompt: str
    variant: str | None = None
    prompt_version: str | None = None
    current: bool | None = None  # the stored version is the prompt's version now
    response: str | None = None
    model: str | None = None
    provider: str | None = None
    generated_at: Any = None
    missing: str | None = None  # why there is nothing to show
    stale: bool | None = None  # made from inputs that have changed since (as insights marks it); None: unknown


@dataclass(frozen=True)
class Explanation:
    key: str
    name: Any
    columns: dict[str, Any]
    metrics: list[MetricValue]
    segmentations: list[SegmentationVerdict]
    ai: list[AiOutput]


def explain(loaded: LoadedProject, backend: Backend, customer: str) -> Explanation:
    """Everything rulectl knows about one customer, found by key or by part of its display name."""
    key = find_customer(loaded, backend, customer)
    row, verdicts = _row_and_verdicts(loaded, backend, key)
    name_column = display_name_column(loaded)
    return Explanation(
        key=key,
        name=row.get(name_column),
        columns={c: plain(row.get(c)) for c in spine_columns(loaded)},
        metrics=_metric_values(loaded, backend, key, row),
        segmentations=_with_label_reasons([_segmentation_verdict(i, located, row, verdicts) for i, located in enumerate(loaded.segmentations)]),
        ai=[_ai_output(loaded, backend, located, key) for located in loaded.prompts],
    )


def find_customer(loaded: LoadedProject, backend: Backend, text: str) -> str:
    """The key of the customer whose key is `text`, else whose display name contains it (one only)."""
    key, name = entity_key(loaded), display_name_column(loaded)
    relation: exp.Expression
    if name in spine_columns(loaded):
        relation = table(loaded.config.sources[spine_name(loaded)].table)
    else:  # the display name is a metric: search the metrics as the YAML defines them
        relation = metrics_query(loaded).subquery("m")
    # Compared as text: a typed name ("Zürich") must not be converted to an integer key's type.
    found = exp.cast(exp.column(key), "VARCHAR").eq(exp.Literal.string(text))
    if name != key:
        found = exp.or_(found, exp.ILike(this=exp.cast(exp.column(name), "VARCHAR"), expression=exp.Literal.string(f"%{text}%")))
    query = exp.select(exp.column(key), exp.column(name)).from_(relation).where(found).order_by(exp.column(key)).limit(1000)
    rows = backend.query(query)
    exact = [r for r in rows if str(r[0]) == text]
    if exact:
        return str(exact[0][0])
    same_name = [r for r in rows if str(r[1]).lower() == text.lower()]
    if len(same_name) == 1:  # "kingston county" picks Kingston County over Kingston County Schools
        return str(same_name[0][0])
    if len(rows) == 1:
        return str(rows[0][0])
    if not rows:
        raise RulectlError(f"no customer has the key `{text}` or a {name} containing it")
    shown = "; ".join(f"{r[0]} ({r[1]})" for r in rows[:CANDIDATES_SHOWN])
    more = f" and {len(rows) - CANDIDATES_SHOWN} more" if len(rows) > CANDIDATES_SHOWN else ""
    raise RulectlError(f"{len(rows)} customers match `{text}`: {shown}{more}; pass the key")


def _rule_column(segmentation: int, rule: int) -> str:
    return f"rulectl_rule_{segmentation}_{rule}"


def _row_and_verdicts(loaded: LoadedProject, backend: Backend, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The customer's row of the segments view, and each rule's condition evaluated on it."""
    columns = input_view_columns(loaded, "customer_segments")
    conditions = [
        exp.alias_(parse_expression(rule.when).copy(), _rule_column(s, r))
        for s, located in enumerate(loaded.segmentations)
        for r, rule in enumerate(located.item.rules)
    ]
    select = exp.select(*(exp.column(c) for c in columns), *conditions).from_(exp.to_table(PLANNED_SEGMENTS))
    select = select.where(exp.column(entity_key(loaded)).eq(exp.Literal.string(key)))
    rows = backend.query(with_planned_views(select, loaded))
    if not rows:
        raise RulectlError(f"customer `{key}` is not in the source `{spine_name(loaded)}`")
    values = dict(zip(columns + [c.alias for c in conditions], rows[0]))
    return {c: values[c] for c in columns}, {c.alias: values[c.alias] for c in conditions}


def _metric_values(loaded: LoadedProject, backend: Backend, key: str, row: dict[str, Any]) -> list[MetricValue]:
    """Each metric's value; the rows behind it are read once per source and filter."""
    values: list[MetricValue] = []
    first_of_group: dict[tuple[str | None, str | None], MetricValue] = {}
    for located in loaded.metrics:
        metric = located.item
        group = (metric.source, metric.filter)
        earlier = first_of_group.get(group) if metric.source else None
        if earlier is None:
            value = _metric_value(loaded, backend, located, key, row)
            first_of_group[group] = value
        else:
            value = _metric_value(loaded, backend, located, key, row, earlier)
        values.append(value)
    return values


def _metric_value(loaded: LoadedProject, backend: Backend, located: Located[Metric], key: str, row: dict[str, Any], earlier: MetricValue | None = None) -> MetricValue:
    metric = located.item
    definition = metric.expr + (f" over {metric.source}" if metric.source else "") + (f" where {metric.filter}" if metric.filter else "")
    value = plain(row.get(metric.name.lower()))
    if metric.source is None:
        return MetricValue(metric.name, value, definition, None)
    if earlier is not None:
        return MetricValue(metric.name, value, definition, metric.source, earlier.rows, [], earlier.name)
    condition = exp.column(entity_key(loaded)).eq(exp.Literal.string(key))
    if metric.filter:
        condition = exp.and_(condition, parse_expression(metric.filter).copy())
    relation = source_relation(loaded.config, metric.source)  # its joined columns and customer key too
    count = backend.query(exp.select(sf_func("COUNT", exp.Star())).from_(relation).where(condition))[0][0]
    sample: list[dict[str, Any]] = []
    if 0 < count <= SAMPLE_ROWS:
        names = [c.lower() for c in scope_columns(loaded.config, metric.source)]  # with what its joins add (a line's order status)
        query = exp.select(*(exp.column(c) for c in names)).from_(relation.copy()).where(condition.copy()).order_by(*(exp.column(c) for c in names))
        sample = [{c: plain(v) for c, v in zip(names, r)} for r in backend.query(query)]
    return MetricValue(metric.name, value, definition, metric.source, int(count), sample)


def _segmentation_verdict(index: int, located: Located[Segmentation], row: dict[str, Any], verdicts: dict[str, Any]) -> SegmentationVerdict:
    seg = located.item
    rules: list[RuleVerdict] = []
    decided = False
    for r, rule in enumerate(seg.rules):
        result = verdicts[_rule_column(index, r)]
        inputs = {name: plain(row.get(name)) for name in parse_expression(rule.when).column_names}
        won = bool(result) and (seg.match == "all" or not decided)
        decided = decided or bool(result)
        file, line = located.at("rules", r, "when")
        rules.append(RuleVerdict(rule.segment, rule.when, f"{file}:{line}", inputs, None if result is None else bool(result), _why(result, inputs), won))
    return SegmentationVerdict(seg.name, seg.match, plain(row.get(seg.name.lower())), rules, seg.default)


def _with_label_reasons(verdicts: list[SegmentationVerdict]) -> list[SegmentationVerdict]:
    """Each rule that reads another segmentation's label (`risk <> 'Churn risk'`) told why the
    customer holds that label: the rule of `risk` that decided it, or its default."""
    by_name = {verdict.name.lower(): verdict for verdict in verdicts}
    result = []
    for verdict in verdicts:
        rules = []
        for rule in verdict.rules:
            read = [by_name[name] for name in rule.inputs if name in by_name and name != verdict.name.lower()]
            rules.append(replace(rule, because=tuple(_label_reason(other) for other in read)) if read else rule)
        result.append(replace(verdict, rules=rules))
    return result


def _label_reason(verdict: SegmentationVerdict) -> str:
    """`risk = Churn risk: rule `Churn risk` is true (rules/x.yml:9: days_idle >= 60)`, or the default."""
    winner = next((rule for rule in verdict.rules if rule.won), None)
    if winner is not None:
        return f"{verdict.name} = {winner.segment}: its rule `{winner.segment}` is the first true one ({winner.at}: {winner.when})"
    if verdict.default is not None:
        return f"{verdict.name} = {verdict.default}: no rule of {verdict.name} is true, so its default applies"
    return f"{verdict.name} is NULL: no rule of {verdict.name} is true and it has no default"


def _why(result: Any, inputs: dict[str, Any]) -> str:
    if result is None:
        missing = [name for name, value in inputs.items() if value is None]
        if missing:
            return f"NULL because {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} NULL (a comparison with NULL is never true)"
        return "NULL (part of the condition is NULL)"
    return "true" if result else "false"


def _ai_output(loaded: LoadedProject, backend: Backend, located, key: str) -> AiOutput:
    compiled = compile_prompt(loaded, located)
    name = compiled.prompt.name
    columns = ["variant", "prompt_version", "response", "model", "provider", "generated_at"]
    query = (
        exp.select(*(exp.column(c) for c in columns))
        .from_(table(compiled.output_table))
        .where(exp.and_(exp.column(compiled.key).eq(exp.Literal.string(key)), exp.column("prompt_name").eq(exp.Literal.string(name))))
        .order_by(exp.Ordered(this=exp.column("generated_at"), desc=True))
        .limit(1)
    )
    try:
        rows = backend.query(query)
    except engine_errors():
        return AiOutput(name, missing=f"{compiled.output_table} is not on the target yet: run `rulectl apply`, then `rulectl run`")
    if not rows:
        return AiOutput(name, missing="no output for this customer yet: run `rulectl run`")
    values = dict(zip(columns, rows[0]))
    versions = {spec.name: spec.version for spec in compiled.variants}
    current = versions.get(values["variant"]) == values["prompt_version"]
    stale = _stale(loaded, backend, name, key)
    return AiOutput(name, values["variant"], values["prompt_version"], current, values["response"], values["model"], values["provider"], plain(values["generated_at"]), stale=stale)


def _stale(loaded: LoadedProject, backend: Backend, prompt: str, key: str) -> bool | None:
    """The insights view's verdict: the stored output was made from inputs that changed since
    (same prompt version, other data). None when the view is not built yet."""
    from engine.compile.insights_view import prompt_column
    from engine.config.project import INSIGHTS_VIEW

    query = (
        exp.select(exp.column(prompt_column(prompt, "stale")))
        .from_(table(f"{loaded.config.schemas.ai}.{INSIGHTS_VIEW}"))
        .where(exp.cast(exp.column(entity_key(loaded)), "VARCHAR").eq(exp.Literal.string(key)))
    )
    try:
        rows = backend.query(query)
    except engine_errors():
        return None
    return bool(rows[0][0]) if rows and rows[0][0] is not None else None
