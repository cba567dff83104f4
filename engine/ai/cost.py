"""What the next AI refresh would cost: rows to enrich, estimated tokens and credits, computed on the
target with the planned SQL (the new views inlined as CTEs; the deployed views where the plan
affects neither), before anything runs.

Only prompts the plan affects are estimated (their task, output table or any view upstream of their
input changes), so a plan's cost follows the size of the change, not the number of prompts.
Output tokens are estimated from the mean output length of the prompt's earlier replies where the
output table has them; `max_tokens` × rows is reported as what it is, a ceiling."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlglot import exp

from engine.backends.base import Backend, DeployedObject, DeployedState
from engine.compile.cleanup import removal_count_query
from engine.compile.metrics import METRICS_VIEW
from engine.compile.objects import DesiredObject, table
from engine.compile.prompts import OUTPUT_COLUMNS, SPEND, CompiledPrompt, compile_prompt
from engine.compile.refresh_batches import pending_subquery
from engine.compile.search import customer_text_query, embedding_merge, prompt_output_table, search_parts
from engine.compile.segments import PLANNED_METRICS, PLANNED_SEGMENTS, SEGMENTS_VIEW, with_planned_views
from engine.config.enrichments import sentiment_sources
from engine.config.project import LoadedProject
from engine.core.expressions import sf_func

# The cost table and its `pricing:` overrides: engine/config/pricing.py (compile prices a row for
# refresh.max_credits from the same numbers).
from engine.config.pricing import (  # noqa: E402 — re-exported: the cost table's names
    CHARS_PER_TOKEN,
    DEFAULT_CREDITS_PER_MILLION_TOKENS,
    DEFAULT_OUTPUT_TOKENS,
    FALLBACK_CREDITS_PER_MILLION_TOKENS,
    SENTIMENT_MODEL,
    model_price,
)


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
    output_tokens_ceiling: int = 0  # rows × max_tokens: what the replies can cost at most
    observed_replies: int = 0  # earlier replies the output estimate comes from (0: none, output_tokens is the ceiling)
    credits_ceiling: float = 0.0
    kind: str = "prompt"  # prompt (COMPLETE), score (SENTIMENT) or embed (AI_EMBED): what a row costs
    excludes: str = ""  # what the estimate cannot count yet, said beside it
    budget: float | None = None  # refresh.max_credits: credits one run may spend
    left_pending: int = 0  # rows the budget or max_rows leave for later runs
    removals: int = 0  # stored rows the run will remove: their source row or customer no longer exists

    @property
    def output_estimated(self) -> bool:
        """True when output_tokens comes from earlier replies, False when it is the ceiling."""
        return self.observed_replies > 0



class CostUnavailable(Exception):
    """The estimate could not be computed (e.g. source tables not loaded yet)."""


def credits_per_million(loaded: LoadedProject, model: str) -> float:
    return model_price(loaded.config, model)


# Up to this many prompts, plan estimates every refresh task, not only those its changes affect: a
# data-only reload (new, changed or deleted source rows) changes what the next run does, and plan
# says so. Each prompt's pending query renders and hashes every input row: measured with
# bench/plan.py, 48 prompts added ~3.5 s to a no-change plan on a loaded 2-core machine. Above the
# limit only the affected prompts are estimated, as before; `status` shows the rest.
FULL_ESTIMATE_PROMPTS = 10


def estimate_costs(
    loaded: LoadedProject, backend: Backend, desired: list[DesiredObject], deployed: DeployedState, changing: Collection[str] | None = None
) -> tuple[list[AiCost], dict[str, str]]:
    """What the next refresh of each task would do, in one UNION ALL query for the prompts, so
    plan's round trips do not grow with prompts — except where the engine plans long unions slowly
    (`backend.max_union_branches`), then in batches; then one query per sentiment or embedding task.
    With `changing` (the plan's changed objects), a task the plan does not affect is listed only
    when it has rows to enrich or remove, and in a project of more than FULL_ESTIMATE_PROMPTS
    prompts only affected prompts are estimated. Returns the costs and, per task whose own estimate
    failed, why (CostUnavailable when the prompts' query fails: then every task's estimate is unknown)."""
    tasks = [obj for obj in desired if obj.kind == "task" and "compiled" in obj.details]
    enrichments = [obj for obj in desired if obj.kind == "task" and obj.details.get("enrichment") in ("sentiment", "embedding")]
    affected = _affected(desired, {name.upper() for name in changing}) if changing is not None else {obj.qualified_name.upper() for obj in tasks + enrichments}
    if len(tasks) > FULL_ESTIMATE_PROMPTS:
        tasks = [obj for obj in tasks if obj.qualified_name.upper() in affected]
    prompts: list[CompiledPrompt] = [obj.details["compiled"] for obj in tasks]
    views = _views_read(loaded, affected if changing is not None else None)
    batch = backend.max_union_branches or len(prompts) or 1
    rows: dict[int, tuple] = {}
    for first in range(0, len(prompts), batch):
        rows.update(_estimate_batch(loaded, backend, prompts, range(first, min(first + batch, len(prompts))), deployed, views))
    costs = [(obj, _cost(loaded, compiled, *rows[i])) for i, (obj, compiled) in enumerate(zip(tasks, prompts))]
    failures: dict[str, str] = {}
    for obj in enrichments:  # each its own query: one that fails is that task's error, not every task's
        try:
            costs.append((obj, _input_only_cost(loaded, backend, obj, deployed, views)))
        except CostUnavailable as reason:
            if obj.qualified_name.upper() in affected:  # an unaffected task's estimate is extra: its failure is not the plan's
                failures[obj.qualified_name.upper()] = str(reason)
    shown = [cost for obj, cost in costs if obj.qualified_name.upper() in affected or cost.rows or cost.removals]
    return shown, failures


def _input_only_cost(loaded: LoadedProject, backend: Backend, task: DesiredObject, deployed: DeployedState, views: dict[str, str]) -> AiCost:
    """A sentiment or embedding task: rows whose text is new or changed (uncapped) and their size,
    from the task's own pending query; tables not created yet read as empty, views as `views` says."""
    embedding = task.details["enrichment"] == "embedding"
    pending, excludes = _planned_embedding_pending(loaded, task, deployed, views) if embedding else (pending_subquery(task.statement).this, "")
    pending = pending.copy()
    pending.set("limit", None)
    pending.set("order", None)
    output = task.depends_on[0].upper()
    if deployed.get("table", output) is None:
        pending = pending.transform(lambda node: _empty_like(node, output, task.details["keys"]), copy=False)
    size = sf_func("SUM", sf_func("LENGTH", exp.column("text_value", table="x")))
    analytics = loaded.config.schemas.analytics
    segments = f"{analytics}.{SEGMENTS_VIEW}".upper()
    removals = _removal_count(task.removal_statement, deployed.get("table", output) is not None, {name: to for name, to in views.items() if name == segments})
    query = _beside(exp.select(sf_func("COUNT", exp.Star()), size).from_(exp.Subquery(this=pending, alias=exp.TableAlias(this=exp.to_identifier("x")))), removals)
    if embedding:
        query = _without_absent_score_tables(_with_views(query, loaded, views), loaded, deployed)
    try:
        total, chars, removed = backend.query(query)[0]
    except Exception as error:
        raise CostUnavailable(str(error).splitlines()[0]) from None
    total, chars = int(total or 0), int(chars or 0)
    cap = int(task.details["max_rows"])
    rows = min(total, cap)
    tokens = (chars * rows // total // CHARS_PER_TOKEN) if total else 0
    # priced as Cortex would charge, like prompts: on a local target too (what Snowflake would cost)
    model = loaded.config.search.model if embedding else SENTIMENT_MODEL
    credits = tokens / 1_000_000 * credits_per_million(loaded, model)
    usd = credits * loaded.config.credit_price_usd
    return AiCost(task.details["prompt"], rows, cap, tokens, 0, round(credits, 6), round(usd, 4), model, credits_ceiling=round(credits, 6),
                  kind="embed" if embedding else "score", excludes=excludes, removals=int(removed or 0))


def _planned_embedding_pending(loaded: LoadedProject, task: DesiredObject, deployed: DeployedState, views: dict[str, str]) -> tuple[exp.Select, str]:
    """The embedding task's pending rows over the planned segments (a CTE), with prompt output
    tables not created yet contributing no text: what the task would embed right after apply."""
    segments = f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}".upper()
    reads = [name.upper() for name in task.depends_on[1:] if name.upper() != segments]
    # prompt output tables as deployed: a field apply adds (or a table it creates) has no text yet
    deployed_columns = {name: {column.lower() for column, _ in table.columns} for name in reads if (table := deployed.get("table", name)) is not None}
    texts = customer_text_query(loaded, exp.to_table(views.get(segments, segments)), output_columns=deployed_columns)
    key = task.details["keys"][0][0]
    merge = embedding_merge(texts, task.depends_on[0], key, task.details["model"], int(task.details["max_rows"]))
    waiting = [t.label for t in search_parts(loaded) if t.prompt and t.column not in deployed_columns.get(prompt_output_table(loaded, t.prompt), ())]
    excludes = f"{', '.join(waiting)} not counted: no replies stored yet" if waiting else ""
    pending = pending_subquery(merge).this
    # The run embeds after the prompts refresh (run_stage): a customer whose searched reply the same
    # run asks for again gets new text then, though its text as stored now has not changed.
    texted = {t.prompt for t in search_parts(loaded) if t.prompt and t.column in deployed_columns.get(prompt_output_table(loaded, t.prompt), ())}
    reasked = [
        exp.select(exp.column(compiled.key, table="q")).from_(exp.Subquery(this=_planned_pending(loaded, compiled, True, views, capped=True), alias=exp.TableAlias(this=exp.to_identifier("q"))))
        for compiled in (compile_prompt(loaded, located) for located in loaded.prompts if located.item.name.lower() in texted)
    ]
    if reasked:
        union: exp.Query = reasked[0]
        for part in reasked[1:]:
            union = exp.Union(this=union, expression=part, distinct=False)
        text = exp.column("text_value", table="t")
        rewritten = exp.and_(exp.func("TRIM", text).neq(exp.Literal.string("")), exp.In(this=exp.column(key, table="t"), query=exp.Subquery(this=union)))
        pending.set("where", exp.Where(this=exp.or_(pending.args["where"].this, rewritten)))
    return pending, excludes


def _without_absent_score_tables(query: exp.Select, loaded: LoadedProject, deployed: DeployedState) -> exp.Select:
    """Score tables (enrichments) that apply has not created yet read as empty: metrics over them
    are NULL until the first scoring run, which is what the planned views will show too."""
    absent = {}
    for name in sentiment_sources(loaded.config):
        source = loaded.config.sources[name]
        if deployed.get("table", source.table.upper()) is None:
            absent[source.table.upper()] = tuple(source.columns.items())
    if not absent:
        return query

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db and f"{node.db}.{node.name}".upper() in absent:
            columns = absent[f"{node.db}.{node.name}".upper()]
            empty = exp.select(*(exp.alias_(exp.cast(exp.null(), exp.DataType.build(kind, dialect="snowflake")), column) for column, kind in columns)).where(exp.false())
            return exp.Subquery(this=empty, alias=exp.TableAlias(this=exp.to_identifier(node.alias or node.name)))
        return node

    return query.transform(rewrite, copy=False)


def _empty_like(node: exp.Expression, output: str, keys: tuple[tuple[str, str], ...]) -> exp.Expression:
    """The not-yet-created score table as an empty relation with its key and input_hash columns."""
    if isinstance(node, exp.Table) and f"{node.db}.{node.name}".upper() == output:
        columns = [exp.alias_(exp.cast(exp.null(), exp.DataType.build(kind, dialect="snowflake")), name) for name, kind in keys + (("input_hash", "VARCHAR"),)]
        empty = exp.select(*columns).where(exp.false())
        return exp.Subquery(this=empty, alias=exp.TableAlias(this=exp.to_identifier(node.alias or "o")))
    return node


def _affected(desired: list[DesiredObject], changing: set[str]) -> set[str]:
    """Names of the objects that change or read, directly or through other objects, one that does."""
    by_name = {obj.qualified_name.upper(): obj for obj in desired}
    memo: dict[str, bool] = {}

    def reaches(name: str) -> bool:
        if name not in memo:
            memo[name] = False  # cycles are impossible in a valid project; this guards anyway
            obj = by_name.get(name)
            memo[name] = name in changing or (obj is not None and any(reaches(d.upper()) for d in obj.depends_on))
        return memo[name]

    return {name for name in by_name if reaches(name)}


def _estimate_batch(loaded: LoadedProject, backend: Backend, prompts: list[CompiledPrompt], indexes: range, deployed: DeployedState, views: dict[str, str]) -> dict[int, tuple]:
    parts = [_estimate_query(loaded, prompts[index], deployed.get("table", prompts[index].output_table), views, index=index) for index in indexes]
    union: exp.Query = parts[0]
    for part in parts[1:]:  # built by hand: exp.union() copies both sides every time (quadratic)
        union = exp.Union(this=union, expression=part, distinct=False)
    query = _with_views(exp.select(exp.Star()).from_(exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier("estimates")))), loaded, views)
    query = _without_absent_score_tables(query, loaded, deployed)
    try:
        return {
            int(index): (int(total or 0), int(chars or 0), int(replies or 0), float(mean_output) if mean_output is not None else None, int(in_budget or 0), int(removals or 0))
            for index, total, chars, replies, mean_output, in_budget, removals in backend.query(query)
        }
    except Exception as error:
        raise CostUnavailable(str(error).splitlines()[0]) from None


def _cost(loaded: LoadedProject, compiled: CompiledPrompt, total: int, chars: int, replies: int, mean_output: float | None, in_budget: int, removals: int = 0) -> AiCost:
    cap = compiled.prompt.refresh.max_rows
    rows = min(total, cap, in_budget)
    input_tokens = (chars * rows // total // CHARS_PER_TOKEN) if total else 0
    max_tokens = compiled.prompt.options.max_tokens or DEFAULT_OUTPUT_TOKENS
    ceiling = rows * max_tokens
    observed = replies if mean_output is not None else 0
    output_tokens = min(ceiling, round(rows * mean_output)) if observed else ceiling
    rate = credits_per_million(loaded, compiled.prompt.model) / 1_000_000
    credits, credits_ceiling = (input_tokens + output_tokens) * rate, (input_tokens + ceiling) * rate
    return AiCost(
        compiled.prompt.name, rows, cap, input_tokens, output_tokens, round(credits, 6), round(credits * loaded.config.credit_price_usd, 4),
        compiled.prompt.model, ceiling, observed, round(credits_ceiling, 6),
        budget=compiled.prompt.refresh.max_credits, left_pending=total - rows, removals=removals,
    )


def _removal_count(removal: exp.Delete | None, output_deployed: bool, views: dict[str, str]) -> exp.Subquery:
    """One row, `removals`: how many rows a task's removal would delete, against the planned views
    (0 when the task has none or its table does not exist yet), to cross-join beside the estimate."""
    if removal is None or not output_deployed:
        return exp.Subquery(this=exp.select(exp.Literal.number(0).as_("removals")), alias=exp.TableAlias(this=exp.to_identifier("r")))

    def planned(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db and f"{node.db}.{node.name}".upper() in views:
            return exp.alias_(exp.to_table(views[f"{node.db}.{node.name}".upper()]), node.alias, table=True)
        return node

    count = removal_count_query(removal).transform(planned, copy=False)
    count.expressions[0].replace(exp.alias_(count.expressions[0].copy(), "removals"))
    return exp.Subquery(this=count, alias=exp.TableAlias(this=exp.to_identifier("r")))


def _beside(estimate: exp.Select, removals: exp.Subquery) -> exp.Select:
    """The estimate's one row (an aggregate without GROUP BY) with the removal count after it: joined
    outside the aggregate, so no pending rows still gives one row with the count."""
    return (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("e")), exp.column("removals", table="r"))
        .from_(exp.Subquery(this=estimate, alias=exp.TableAlias(this=exp.to_identifier("e"))), copy=False)
        .join(removals, join_type="cross", copy=False)
    )


def _empty_output_table(key: str) -> exp.Select:
    """A zero-row stand-in with the output table's columns, for a table apply has not created yet."""
    columns = [exp.cast(exp.null(), "VARCHAR").as_(key)]
    columns += [exp.cast(exp.null(), kind).as_(name) for name, kind in OUTPUT_COLUMNS]
    return exp.select(*columns).where(exp.false())


HISTORY_COLUMNS = {"prompt_name", "response", "output_tokens"}


def _history(compiled: CompiledPrompt, output: DeployedObject | None) -> exp.Select:
    """One row: how many replies the prompt has stored, and their mean output tokens (the
    provider's count, else the reply's length at CHARS_PER_TOKEN) — NULL without history."""
    if output is None or not HISTORY_COLUMNS <= {name.lower() for name, _ in output.columns}:
        return exp.select(exp.Literal.number(0).as_("replies"), exp.cast(exp.null(), "DOUBLE").as_("mean_output"))
    tokens = sf_func(
        "COALESCE",
        exp.column("output_tokens", table="h"),
        exp.Div(this=sf_func("LENGTH", exp.column("response", table="h")), expression=exp.Literal.number(CHARS_PER_TOKEN)),
    )
    mine = exp.and_(
        exp.column("prompt_name", table="h").eq(exp.Literal.string(compiled.prompt.name)),
        exp.not_(exp.column("response", table="h").is_(exp.null())),
    )
    return exp.select(sf_func("COUNT", exp.Star()).as_("replies"), sf_func("AVG", tokens).as_("mean_output")).from_(
        exp.alias_(table(compiled.output_table), "h", table=True)
    ).where(mine)


def _planned_pending(loaded: LoadedProject, compiled: CompiledPrompt, output_deployed: bool, views: dict[str, str], capped: bool = False) -> exp.Select:
    """The prompt's pending rows against the views as `views` says (an output table not created
    yet reads as empty); uncapped and unordered unless `capped`."""
    pending = compiled.pending_query.copy()
    budget = compiled.prompt.refresh.max_credits
    if not capped:
        if budget is not None:  # every pending row, each with the running cost the budget is held to
            pending = pending.args["from_"].this.this
        pending.set("limit", None)
        pending.set("order", None)
    key = compiled.key
    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db:
            name = f"{node.db}.{node.name}".upper()
            if name in views:
                return exp.alias_(exp.to_table(views[name]), node.alias, table=True)
            if name == compiled.output_table and not output_deployed:
                return exp.Subquery(this=_empty_output_table(key), alias=exp.TableAlias(this=exp.to_identifier(node.alias or "o")))
        return node

    return pending.transform(rewrite, copy=False)


def _planned_view_names(loaded: LoadedProject) -> dict[str, str]:
    analytics = loaded.config.schemas.analytics
    return {f"{analytics}.{METRICS_VIEW}".upper(): PLANNED_METRICS, f"{analytics}.{SEGMENTS_VIEW}".upper(): PLANNED_SEGMENTS}


def _views_read(loaded: LoadedProject, affected: set[str] | None) -> dict[str, str]:
    """The analytics views the estimate reads as planned, each → the CTE holding its planned SQL
    (`with_planned_views`): both when the plan affects the metrics or the segments view (`affected`:
    the objects that change or read, transitively, one that does — e.g. a sentiment score table
    apply creates or rebuilds, which the estimate reads as empty: `_without_absent_score_tables`
    needs the views' SQL inlined to see it), or no plan is given; else none, the deployed views
    being the planned ones. A no-change plan of the example spent ~0.1 s building, rendering and
    binding the inlined views for its estimate."""
    planned = _planned_view_names(loaded)
    if affected is None or any(name in affected for name in planned):
        return planned
    return {}


def _with_views(query: exp.Select, loaded: LoadedProject, views: dict[str, str]) -> exp.Select:
    """`query` with the planned views as CTEs, where `views` reads them (see `_views_read`)."""
    return with_planned_views(query, loaded) if views else query


def _estimate_query(loaded: LoadedProject, compiled: CompiledPrompt, output: DeployedObject | None, views: dict[str, str], index: int) -> exp.Select:
    """COUNT and prompt size of the pending rows, uncapped, against the views as `views` says (the
    planned ones, or the deployed ones where they are the same), beside the prompt's reply history
    and the rows its removal would delete."""
    output_deployed = output is not None
    pending = _planned_pending(loaded, compiled, output_deployed, views)
    removals = _removal_count(compiled.removal, output_deployed, views)
    size = sf_func("SUM", exp.Add(this=sf_func("LENGTH", exp.column("system_text", table="x")), expression=sf_func("LENGTH", exp.column("prompt_text", table="x"))))
    history = exp.Subquery(this=_history(compiled, output), alias=exp.TableAlias(this=exp.to_identifier("h")))
    budget = compiled.prompt.refresh.max_credits
    fits = exp.column(SPEND, table="x") <= exp.Literal.number(repr(budget)) if budget is not None else exp.true()
    in_budget = sf_func("SUM", exp.Case(ifs=[exp.If(this=fits, true=exp.Literal.number(1))], default=exp.Literal.number(0)))
    estimate = exp.select(
        exp.Literal.number(index).as_("prompt_index"), sf_func("COUNT", exp.Star()).as_("pending_rows"), size.as_("prompt_chars"),
        sf_func("MAX", exp.column("replies", table="h")).as_("replies"), sf_func("MAX", exp.column("mean_output", table="h")).as_("mean_output"),
        in_budget.as_("in_budget"),
    ).from_(exp.Subquery(this=pending, alias=exp.TableAlias(this=exp.to_identifier("x"))), copy=False).join(history, join_type="cross", copy=False)
    return _beside(estimate, removals)  # (all built here: no builder copies them again)
