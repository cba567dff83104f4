"""Comparing prompt variants: rows, length and tokens per variant, and an outcome rate with a
95% Wilson interval and a two-proportion z-test when `experiment.outcome` is set."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlglot import exp

from engine.ai.insights import find_prompt
from engine.backends.base import Backend
from engine.compile.objects import table
from engine.compile.prompts import compile_prompt, stored_outputs_query
from engine.config.project import LoadedProject
from engine.core.errors import RulectlError
from engine.config.models import Prompt
from engine.core.expressions import parse_expression, sf_func


@dataclass(frozen=True)
class VariantStats:
    variant: str
    rows: int
    mean_chars: float
    mean_input_tokens: float
    mean_output_tokens: float
    outcome_rate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None  # two-proportion z-test against the first variant
    outcome_mean: float | None = None  # when the outcome is a number output field


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (good for small n and rates near 0 or 1)."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_p_value(s1: int, n1: int, s2: int, n2: int) -> float | None:
    """Two-sided p-value of a pooled two-proportion z-test; None when it is undefined."""
    if not n1 or not n2:
        return None
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (s1 / n1 - s2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class OutcomeMeasure:
    tree: exp.Expression  # over o (this prompt's output rows) and s (its input view)
    is_mean: bool  # a number field compared by its mean, not a true/false rate


def outcome_measure(prompt: Prompt) -> OutcomeMeasure | None:
    """`experiment.outcome` rebuilt over the report's tables: output fields from o, input columns from s."""
    text = prompt.experiment.outcome if prompt.experiment else None
    if not text:
        return None
    fields = {name.lower(): field for name, field in (prompt.outputs or {}).items()}
    tree = parse_expression(text).tree.copy().transform(
        lambda node: exp.column(node.name.lower(), table="o" if node.name.lower() in fields else "s") if isinstance(node, exp.Column) else node
    )
    single = fields.get(text.strip().lower())
    return OutcomeMeasure(tree, is_mean=single is not None and single.type in ("number", "integer"))


def experiment_report(loaded: LoadedProject, backend: Backend, prompt: str) -> list[VariantStats]:
    located = find_prompt(loaded, prompt)
    compiled = compile_prompt(loaded, located)
    outcome = outcome_measure(located.item)
    o = lambda c: exp.column(c, table="o")  # noqa: E731
    items = [
        o("variant"), sf_func("COUNT", exp.Star()), sf_func("AVG", sf_func("LENGTH", o("response"))),
        sf_func("AVG", o("input_tokens")), sf_func("AVG", o("output_tokens")),
    ]
    # this prompt's rows only: several prompts may share one output table
    query = exp.select(*items).from_(exp.Subquery(this=stored_outputs_query(compiled), alias=exp.TableAlias(this=exp.to_identifier("o"))))
    if outcome:
        if outcome.is_mean:  # a number field: its mean per variant
            measure = sf_func("AVG", outcome.tree)
        else:
            measure = sf_func("SUM", exp.Case(ifs=[exp.If(this=outcome.tree, true=exp.Literal.number(1))], default=exp.Literal.number(0)))
        query = query.select(measure, copy=False).join(
            exp.alias_(table(compiled.input_view), "s", table=True), on=exp.column(compiled.key, table="s").eq(o(compiled.key)), join_type="left"
        )
    query = query.group_by(o("variant"))
    try:
        rows = {r[0]: r for r in backend.query(query)}
    except Exception as error:
        raise RulectlError(f"cannot read {compiled.output_table}: {str(error).splitlines()[0]}; run `rulectl apply` and `rulectl run` first") from None
    stats: list[VariantStats] = []
    control = None
    for spec in compiled.variants:
        row = rows.get(spec.name, (spec.name, 0, None, None, None, 0))
        n = int(row[1])
        base = dict(variant=spec.name, rows=n, mean_chars=float(row[2] or 0), mean_input_tokens=float(row[3] or 0), mean_output_tokens=float(row[4] or 0))
        if outcome and outcome.is_mean:
            stats.append(VariantStats(**base, outcome_mean=float(row[5]) if row[5] is not None else None))
        elif outcome:
            successes = int(row[5] or 0)
            low, high = wilson_interval(successes, n)
            p_value = None if control is None else two_proportion_p_value(successes, n, control[0], control[1])
            control = control or (successes, n)
            stats.append(VariantStats(**base, outcome_rate=successes / n if n else None, ci_low=low, ci_high=high, p_value=p_value))
        else:
            stats.append(VariantStats(**base))
    return stats
