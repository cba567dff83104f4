"""Type checks over the whole project: every metric, filter, rule and experiment outcome typed against
the declared source column types and the metrics' inferred types. Mistakes are Problems (errors);
a division that can meet a zero divisor is a warning naming DIV0, DIV0NULL and NULLIF."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.config.expression_types import (
    BOOLEAN,
    NUMBER,
    TEXT,
    UNKNOWN,
    ExpressionTypeError,
    TypeEnv,
    declared_category,
    expression_type,
    require_condition,
    risky_divisions,
)
from engine.config.project import Located, LoadedProject, spine_name
from engine.config.source_keys import scope_columns
from engine.core import text_facts
from engine.core.errors import Problem
from engine.core.expressions import ExpressionError, ParsedExpression, parse_expression


@dataclass
class TypeReport:
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    metric_types: TypeEnv = field(default_factory=dict)  # each metric's type, for checks that follow


def type_check(loaded: LoadedProject, metrics: TypeReport | None = None) -> TypeReport:
    """Type every expression of the project; run after names resolve (unknown names are `unknown`).
    `metrics`: what `metric_type_report` found for this project, when the caller has it already."""
    metrics = metrics if metrics is not None else metric_type_report(loaded)
    report = TypeReport(list(metrics.errors), list(metrics.warnings), dict(metrics.metric_types))
    metric_types = report.metric_types
    view_types = {**_source_env(loaded, spine_name(loaded)), **metric_types}
    # a rule may compare another segmentation's label (config/segment_references.py)
    view_types.update({s.item.name.lower(): TEXT for s in loaded.segmentations})
    for located in loaded.segmentations:
        for index, rule in enumerate(located.item.rules):
            when = _parsed(rule.when)
            if when is not None:
                _check_rule(located, ("rules", index, "when"), when, view_types, report)
    for located in loaded.prompts:
        experiment = located.item.experiment
        if experiment and experiment.outcome:
            fields = {name.lower(): OUTPUT_FIELD_TYPES[f.type] for name, f in (located.item.outputs or {}).items()}
            parsed = _parsed(experiment.outcome)
            try:
                kind = expression_type(parsed.tree, {**view_types, **fields}) if parsed is not None else UNKNOWN
            except ExpressionTypeError as error:
                report.errors.append(located.problem(f"`outcome`: {error}", "experiment", "outcome"))
                continue
            if kind == NUMBER and experiment.outcome.strip().lower() in fields:
                continue  # a number field: the report compares its mean per variant
            if kind not in (BOOLEAN, UNKNOWN):
                report.errors.append(located.problem(
                    f"`outcome`: `{experiment.outcome}` is {'text' if kind == TEXT else 'a ' + kind}, but an outcome must be true or false per customer; "
                    f"define a metric that is a condition (e.g. `expr: {experiment.outcome} {_example_test(kind)}`) and name it here",
                    "experiment", "outcome",
                ))
    return report


def metric_type_report(loaded: LoadedProject) -> TypeReport:
    """The metrics' types, and the type errors and warnings of their expressions and formats: what
    type_check finds from the project's settings and metrics alone (config/semantics.py keeps it
    across commands under a key of those)."""
    report = TypeReport()
    report.metric_types = _metric_types(loaded, report)
    _check_number_formats(loaded, report.metric_types, report)
    return report


def _check_number_formats(loaded: LoadedProject, metric_types: TypeEnv, report: TypeReport) -> None:
    """`format:` / `decimals:` say how a number is written into prompts: on a text or date metric they
    would be silently ignored."""
    for located in loaded.metrics:
        metric = located.item
        kind = metric_types.get(metric.name.lower(), UNKNOWN)
        key = "format" if metric.format is not None else "decimals" if metric.decimals is not None else None
        if key is not None and kind not in (NUMBER, UNKNOWN):
            report.errors.append(located.problem(
                f"`{key}:` writes numbers, but `{metric.name}` is {'text' if kind == TEXT else 'a ' + kind}; remove `{key}:` (text reaches prompts as it is)",
                key,
            ))


# output field type (prompts' `outputs:`) → expression type
OUTPUT_FIELD_TYPES = {"text": TEXT, "label": TEXT, "number": NUMBER, "integer": NUMBER, "boolean": BOOLEAN, "list": UNKNOWN}


def input_view_types(loaded: LoadedProject) -> TypeEnv:
    """Type of each spine column and metric (the columns a prompt's input view shares)."""
    return {**_source_env(loaded, spine_name(loaded)), **metric_types(loaded)}


def metric_types(loaded: LoadedProject) -> TypeEnv:
    """Each metric's type (number, text, date, timestamp, boolean or unknown), problems ignored."""
    return _metric_types(loaded, TypeReport())


def _metric_types(loaded: LoadedProject, report: TypeReport) -> TypeEnv:
    """Each metric's type, derived metrics after the metrics they read (cycles stay unknown)."""
    by_name = {m.item.name.lower(): m for m in loaded.metrics}
    spine_env = _source_env(loaded, spine_name(loaded))
    types: TypeEnv = {}
    active: set[str] = set()

    def resolve(name: str) -> str:
        if name in types or name in active:
            return types.get(name, UNKNOWN)
        active.add(name)
        located = by_name[name]
        metric = located.item
        expr = _parsed(metric.expr)
        if metric.source is None:
            env = {**spine_env, **{ref: resolve(ref) for ref in (expr.column_names if expr else []) if ref in by_name}}
        else:
            env = _source_env(loaded, metric.source)
            row_filter = _parsed(metric.filter) if metric.filter else None
            if row_filter is not None:
                _check(located, ("filter",), "filter", row_filter, env, report, condition=True)
        types[name] = _check(located, ("expr",), "expr", expr, env, report) if expr is not None else UNKNOWN
        active.discard(name)
        return types[name]

    for name in by_name:
        resolve(name)
    return types


def _check(located: Located, path: tuple, field_name: str, parsed: ParsedExpression, env: TypeEnv, report: TypeReport, condition: bool = False) -> str:
    for division in risky_divisions(parsed.tree):
        if division.always_zero:  # not a risk but a certainty: every customer's value fails
            report.errors.append(located.problem(
                f"`{field_name}`: `{division.dividend} / {division.divisor}` divides by zero for every customer, and Snowflake fails the whole view; "
                f"divide by the quantity you meant", *path,
            ))
            continue
        report.warnings.append(located.problem(
            f"`{field_name}`: the divisor `{division.divisor}` can be zero, and Snowflake then fails the whole view (\"Division by zero\"); "
            f"write DIV0({division.dividend}, {division.divisor}) for 0, DIV0NULL(…) for 0 also when it is NULL, "
            f"or {division.dividend} / NULLIF({division.divisor}, 0) for NULL",
            *path,
        ))
    try:
        if condition:
            require_condition(parsed.tree, env)
            return BOOLEAN
        return expression_type(parsed.tree, env)
    except ExpressionTypeError as error:
        report.errors.append(located.problem(f"`{field_name}`: {error}", *path))
        return UNKNOWN


def _check_rule(located: Located, path: tuple, when: ParsedExpression, env: TypeEnv, report: TypeReport) -> None:
    """_check of a rule's condition, its verdict kept with the text's facts (core/text_facts.py):
    the same text reading names of the same types has the same type, errors and warnings (their
    file:line are the rule's, found again), so an edit types the rules it changed."""
    key = (when.text, tuple((name, env.get(name)) for name in when.column_names), True)
    kept = text_facts.verdict(key)
    if kept is None:
        found = TypeReport()
        kind = _check(located, path, "when", when, env, found, condition=True)
        kept = (kind, tuple(p.message for p in found.errors), tuple(p.message for p in found.warnings))
        text_facts.remember_verdict(key, *kept)
    report.errors.extend(located.problem(message, *path) for message in kept[1])
    report.warnings.extend(located.problem(message, *path) for message in kept[2])


def _source_env(loaded: LoadedProject, source: str) -> TypeEnv:
    columns = scope_columns(loaded.config, source) if source in loaded.config.sources else {}
    return {name.lower(): declared_category(type_text) for name, type_text in columns.items()}


def _parsed(text: str | None) -> ParsedExpression | None:
    try:
        return parse_expression(text) if text else None
    except ExpressionError:
        return None  # reported by the name checks


def _example_test(kind: str) -> str:
    return {TEXT: "= 'yes'", "date": "<= CURRENT_DATE"}.get(kind, "> 0")
