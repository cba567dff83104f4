"""What the next AI refresh would cost: rows to enrich, estimated tokens and credits, computed on the
target with the planned SQL (the new views inlined as CTEs), before anything runs."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from engine.backends.base import Backend, DeployedState
from engine.compile.metrics import METRICS_VIEW
from engine.compile.objects import DesiredObject
from engine.compile.prompts import OUTPUT_COLUMNS, CompiledPrompt
from engine.compile.segments import PLANNED_METRICS, PLANNED_SEGMENTS, SEGMENTS_VIEW, with_planned_views
from engine.config.project import LoadedProject
from engine.expressions import sf_func

# Credits per million tokens (input and output alike) for Cortex COMPLETE. Defaults from Snowflake's
# Service Consumption Table (https://www.snowflake.com/legal-files/CreditConsumptionTable.pdf);
# override per model with `pricing:` in rulectl.yml, since contracts and the table change.
DEFAULT_CREDITS_PER_MILLION_TOKENS = {
    "snowflake-arctic": 0.84,
    "mistral-large2": 1.95,
    "mistral-7b": 0.12,
    "llama3.1-8b": 0.19,
    "llama3.1-70b": 1.21,
    "llama3.1-405b": 3.0,
    "llama3.3-70b": 1.21,
    "snowflake-llama-3.3-70b": 0.29,
}
FALLBACK_CREDITS_PER_MILLION_TOKENS = 2.0
DEFAULT_OUTPUT_TOKENS = 300  # when the prompt sets no max_tokens: a cautious per-row ceiling
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class AiCost:
    """What the next refresh of one prompt would spend (part of the Plan)."""

    prompt: str
    rows: int
    capped_at: int
    input_tokens: int
    output_tokens: int
    credits: float
    usd: float
    model: str



class CostUnavailable(Exception):
    """The estimate could not be computed (e.g. source tables not loaded yet)."""


def credits_per_million(loaded: LoadedProject, model: str) -> float:
    override = loaded.config.pricing.get(model)
    if override is not None:
        return override.credits_per_million_tokens
    return DEFAULT_CREDITS_PER_MILLION_TOKENS.get(model, FALLBACK_CREDITS_PER_MILLION_TOKENS)


def estimate_costs(loaded: LoadedProject, backend: Backend, desired: list[DesiredObject], deployed: DeployedState) -> list[AiCost]:
    """All prompts in one UNION ALL query, so plan's round trips do not grow with prompts — except
    where the engine plans long unions slowly (`backend.max_union_branches`), then in batches."""
    prompts: list[CompiledPrompt] = [obj.details["compiled"] for obj in desired if obj.kind == "task" and "compiled" in obj.details]
    batch = backend.max_union_branches or len(prompts) or 1
    rows: dict[int, tuple] = {}
    for first in range(0, len(prompts), batch):
        rows.update(_estimate_batch(loaded, backend, prompts, range(first, min(first + batch, len(prompts))), deployed))
    return [_cost(loaded, compiled, int(rows[i][0] or 0), int(rows[i][1] or 0)) for i, compiled in enumerate(prompts)]


def _estimate_batch(loaded: LoadedProject, backend: Backend, prompts: list[CompiledPrompt], indexes: range, deployed: DeployedState) -> dict[int, tuple]:
    parts = [
        _estimate_query(loaded, prompts[index], output_deployed=deployed.get("table", prompts[index].output_table) is not None, index=index)
        for index in indexes
    ]
    union: exp.Query = parts[0]
    for part in parts[1:]:  # built by hand: exp.union() copies both sides every time (quadratic)
        union = exp.Union(this=union, expression=part, distinct=False)
    query = with_planned_views(exp.select(exp.Star()).from_(exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier("estimates")))), loaded)
    try:
        return {int(index): (total, chars) for index, total, chars in backend.query(query)}
    except Exception as error:
        raise CostUnavailable(str(error).splitlines()[0]) from None


def _cost(loaded: LoadedProject, compiled: CompiledPrompt, total: int, chars: int) -> AiCost:
    cap = compiled.prompt.refresh.max_rows
    rows = min(total, cap)
    input_tokens = (chars * rows // total // CHARS_PER_TOKEN) if total else 0
    output_tokens = rows * (compiled.prompt.options.max_tokens or DEFAULT_OUTPUT_TOKENS)
    credits = (input_tokens + output_tokens) / 1_000_000 * credits_per_million(loaded, compiled.prompt.model)
    return AiCost(compiled.prompt.name, rows, cap, input_tokens, output_tokens, round(credits, 6), round(credits * loaded.config.credit_price_usd, 4), compiled.prompt.model)


def _empty_output_table(key: str) -> exp.Select:
    """A zero-row stand-in with the output table's columns, for a table apply has not created yet."""
    columns = [exp.cast(exp.null(), "VARCHAR").as_(key)]
    columns += [exp.cast(exp.null(), kind).as_(name) for name, kind in OUTPUT_COLUMNS]
    return exp.select(*columns).where(exp.false())


def _estimate_query(loaded: LoadedProject, compiled: CompiledPrompt, output_deployed: bool, index: int) -> exp.Select:
    """COUNT and prompt size of the pending rows, uncapped, against the planned views."""
    pending = compiled.pending_query.copy()
    pending.set("limit", None)
    pending.set("order", None)
    analytics = loaded.config.schemas.analytics
    views = {f"{analytics}.{METRICS_VIEW}".upper(): PLANNED_METRICS, f"{analytics}.{SEGMENTS_VIEW}".upper(): PLANNED_SEGMENTS}
    key = compiled.key

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db:
            name = f"{node.db}.{node.name}".upper()
            if name in views:
                return exp.alias_(exp.to_table(views[name]), node.alias, table=True)
            if name == compiled.output_table and not output_deployed:
                return exp.Subquery(this=_empty_output_table(key), alias=exp.TableAlias(this=exp.to_identifier(node.alias or "o")))
        return node

    pending = pending.transform(rewrite, copy=False)
    size = sf_func("SUM", exp.Add(this=sf_func("LENGTH", exp.column("system_text", table="x")), expression=sf_func("LENGTH", exp.column("prompt_text", table="x"))))
    return exp.select(exp.Literal.number(index).as_("prompt_index"), sf_func("COUNT", exp.Star()).as_("pending_rows"), size.as_("prompt_chars")).from_(
        exp.Subquery(this=pending, alias=exp.TableAlias(this=exp.to_identifier("x")))
    )
