"""Reading AI output: insights beside each customer's segments and metrics, and the comparison of
prompt variants (rows, length, tokens, and outcome rate with a confidence interval and a test)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlglot import exp

from engine.backends.base import Backend
from engine.compile.objects import table
from engine.compile.prompts import compile_prompt
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.project import LoadedProject
from engine.config.project import input_view_columns, segment_labels
from engine.errors import did_you_mean
from engine.errors import RulectlError
from engine.expressions import sf_func


@dataclass(frozen=True)
class Insight:
    key: str
    name: str | None
    segments: dict[str, str | None]
    total_arr: float | None
    modules: str | None
    variant: str
    provider: str
    response: str
    generated_at: object


def find_prompt(loaded: LoadedProject, name: str | None):
    if name is None:
        if not loaded.prompts:
            raise RulectlError("the project has no prompts (prompts/*.yml)")
        return loaded.prompts[0]
    for located in loaded.prompts:
        if located.item.name.lower() == name.lower():
            return located
    names = [p.item.name for p in loaded.prompts]
    raise RulectlError(f"unknown prompt `{name}`{did_you_mean(name, names)} (prompts: {', '.join(names) or 'none'})")


def known_segment(loaded: LoadedProject, segment: str) -> str:
    """`segment` as the project spells it; an unknown label is an error, not an empty answer."""
    labels = segment_labels(loaded)
    if segment in labels:
        return segment
    same_but_case = [label for label in labels if label.lower() == segment.lower()]
    if same_but_case:
        raise RulectlError(f"no segment is called `{segment}`; labels are case-sensitive: write --segment '{same_but_case[0]}'")
    raise RulectlError(f"no segment is called `{segment}`{did_you_mean(segment, labels)} (segments: {', '.join(labels) or 'none'})")


def insights(loaded: LoadedProject, backend: Backend, prompt: str | None = None, segment: str | None = None, customer: str | None = None, limit: int = 5) -> list[Insight]:
    compiled = compile_prompt(loaded, find_prompt(loaded, prompt))
    key = compiled.key
    tiers = [s.item.name.lower() for s in loaded.segmentations if s.item.match == "first"]
    columns = set(input_view_columns(loaded, "customer_segments"))
    name_col = exp.column("customer_name", table="s") if "customer_name" in columns else exp.null()
    arr_col = exp.column("total_arr", table="s") if "total_arr" in columns else exp.null()
    modules_col = exp.column("modules_owned", table="s") if "modules_owned" in columns else exp.null()
    query = exp.select(
        exp.column(key, table="o"), name_col, arr_col, modules_col,
        exp.column("variant", table="o"), exp.column("provider", table="o"), exp.column("response", table="o"), exp.column("generated_at", table="o"),
        *(exp.column(t, table="s") for t in tiers),
    ).from_(exp.alias_(table(compiled.output_table), "o", table=True))
    query = query.join(exp.alias_(table(f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}"), "s", table=True), on=exp.column(key, table="s").eq(exp.column(key, table="o")), join_type="left")
    if segment:
        label = exp.Literal.string(known_segment(loaded, segment))
        matches = [exp.column(t, table="s").eq(label.copy()) for t in tiers]
        matches += [
            exp.ArrayContains(this=exp.column(name, table="s"), expression=exp.cast(label.copy(), "VARIANT"))
            for name in (s.item.name.lower() for s in loaded.segmentations if s.item.match == "all")
        ]
        query = query.where(exp.or_(*matches) if matches else exp.false())
    if customer:
        match = exp.column(key, table="o").eq(exp.Literal.string(customer))
        if "customer_name" in columns:
            match = exp.or_(match, exp.ILike(this=exp.column("customer_name", table="s"), expression=exp.Literal.string(f"%{customer}%")))
        query = query.where(match)
    query = query.order_by(exp.Ordered(this=arr_col.copy(), desc=True, nulls_first=False), exp.column(key, table="o")).limit(limit)
    try:
        rows = backend.query(query)
    except Exception as error:
        raise RulectlError(f"cannot read {compiled.output_table}: {str(error).splitlines()[0]}; run `rulectl apply` and `rulectl run` first") from None
    return [
        Insight(str(r[0]), r[1], dict(zip(tiers, r[8:])), float(r[2]) if r[2] is not None else None, r[3], r[4], r[5], r[6], r[7])
        for r in rows
    ]


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


def experiment_report(loaded: LoadedProject, backend: Backend, prompt: str) -> list[VariantStats]:
    located = find_prompt(loaded, prompt)
    compiled = compile_prompt(loaded, located)
    outcome = located.item.experiment.outcome.lower() if located.item.experiment and located.item.experiment.outcome else None
    o = lambda c: exp.column(c, table="o")  # noqa: E731
    items = [
        o("variant"), sf_func("COUNT", exp.Star()), sf_func("AVG", sf_func("LENGTH", o("response"))),
        sf_func("AVG", o("input_tokens")), sf_func("AVG", o("output_tokens")),
    ]
    query = exp.select(*items).from_(exp.alias_(table(compiled.output_table), "o", table=True))
    if outcome:
        success = exp.Case(ifs=[exp.If(this=exp.column(outcome, table="s"), true=exp.Literal.number(1))], default=exp.Literal.number(0))
        query = query.select(sf_func("SUM", success), copy=False).join(
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
        if outcome:
            successes = int(row[5] or 0)
            low, high = wilson_interval(successes, n)
            p_value = None if control is None else two_proportion_p_value(successes, n, control[0], control[1])
            control = control or (successes, n)
            stats.append(VariantStats(**base, outcome_rate=successes / n if n else None, ci_low=low, ci_high=high, p_value=p_value))
        else:
            stats.append(VariantStats(**base))
    return stats
