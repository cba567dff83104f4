"""`rulectl spend`: tokens and credits actually spent, from rulectl's own records, beside what the
plan's ceiling said they could cost — and on Snowflake, where the role may read it, the account's
own Cortex usage view.

Each output row keeps the tokens of the reply it holds (`input_tokens`, `output_tokens`) and when it
was made; the run log (_RULECTL.RUN_LOG) says when each refresh ran. A stored reply belongs to the
latest run of its prompt that started at or before it was made. A reply replaced by a later run is
replaced in the output table too, so rulectl's records count the replies that are kept; Snowflake's
usage view counts every call (and lags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlglot import exp

from engine.backends.base import RUN_LOG, AccountUsage, Backend
from engine.compile.objects import table
from engine.compile.prompts import CompiledPrompt, compile_prompt, stored_rows
from engine.config.pricing import DEFAULT_OUTPUT_TOKENS, model_price
from engine.config.project import LoadedProject
from engine.core.errors import RulectlError
from engine.core.expressions import sf_func

GROUPINGS = ("prompt", "day", "run")
NO_RUN = "(no run logged)"


@dataclass(frozen=True)
class Spend:
    """What one prompt, day or run spent: replies kept, tokens, credits at the model's price, and
    the ceiling plan quotes before a prompt has replies (input + max_tokens per row)."""

    group: str
    replies: int
    input_tokens: int
    output_tokens: int
    credits: float
    ceiling_credits: float
    prompts: tuple[str, ...] = ()
    started_at: datetime | None = None  # --by run: when the run started


@dataclass(frozen=True)
class SpendReport:
    by: str
    since: date | None
    groups: tuple[Spend, ...]
    account: AccountUsage | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total(self) -> Spend:
        groups = self.groups
        return Spend("total", sum(g.replies for g in groups), sum(g.input_tokens for g in groups), sum(g.output_tokens for g in groups),
                     round(sum(g.credits for g in groups), 9), round(sum(g.ceiling_credits for g in groups), 9))


def _attributed_query(compiled: CompiledPrompt, since: date | None) -> exp.Select:
    """The prompt's stored replies, each with the run it belongs to (the latest run of the prompt
    that started at or before the reply was made), grouped by run and day."""
    reply = exp.column
    runs = exp.select("run_id", "started_at").from_(table(RUN_LOG)).where(
        sf_func("LOWER", exp.column("prompt")).eq(exp.Literal.string(compiled.prompt.name.lower()))
    )
    rows = exp.select(
        reply(compiled.key, table="o").as_("reply_key"), reply("generated_at", table="o").as_("generated_at"),
        reply("input_tokens", table="o").as_("input_tokens"), reply("output_tokens", table="o").as_("output_tokens"),
        reply("run_id", table="r").as_("run_id"), reply("started_at", table="r").as_("started_at"),
    ).from_(exp.Subquery(this=stored_rows(compiled.output_table, compiled.prompt.name), alias=exp.TableAlias(this=exp.to_identifier("o"))))
    rows = rows.join(
        exp.Subquery(this=runs, alias=exp.TableAlias(this=exp.to_identifier("r"))),
        on=reply("started_at", table="r") <= reply("generated_at", table="o"), join_type="left",
    ).where(exp.not_(reply("response", table="o").is_(exp.null())))
    if since is not None:
        rows = rows.where(reply("generated_at", table="o") >= exp.cast(exp.Literal.string(since.isoformat()), "DATE"))
    latest = exp.Window(this=exp.RowNumber(), partition_by=[reply("reply_key")], order=exp.Order(expressions=[exp.Ordered(this=reply("started_at"), desc=True)]))
    ranked = exp.select(exp.Star(), exp.alias_(latest, "latest")).from_(exp.Subquery(this=rows, alias=exp.TableAlias(this=exp.to_identifier("a"))))
    day = exp.cast(reply("generated_at"), "DATE")
    return (
        exp.select(
            reply("run_id"), sf_func("MIN", reply("started_at")), day.as_("day"), sf_func("COUNT", exp.Star()),
            sf_func("SUM", sf_func("COALESCE", reply("input_tokens"), exp.Literal.number(0))),
            sf_func("SUM", sf_func("COALESCE", reply("output_tokens"), exp.Literal.number(0))),
        )
        .from_(exp.Subquery(this=ranked, alias=exp.TableAlias(this=exp.to_identifier("k"))))
        .where(reply("latest").eq(1))
        .group_by(reply("run_id"), day.copy())
    )


def spend(loaded: LoadedProject, backend: Backend, by: str = "prompt", since: date | None = None, with_account: bool = True) -> SpendReport:
    """Tokens and credits per prompt, day or run (`by`), since a date, from the output tables."""
    if by not in GROUPINGS:
        raise RulectlError(f"--by takes {', '.join(GROUPINGS)}, not `{by}`")
    if not loaded.prompts:
        raise RulectlError("the project has no prompts (prompts/*.yml), so nothing was spent on replies")
    totals: dict[str, dict] = {}
    notes = []
    for located in loaded.prompts:
        compiled = compile_prompt(loaded, located)
        try:
            rows = backend.query(_attributed_query(compiled, since))
        except Exception as error:  # not applied yet, or the run log is missing
            notes.append(f"{compiled.prompt.name}: nothing to read ({str(error).splitlines()[0][:200]})")
            continue
        price = model_price(loaded.config, compiled.prompt.model) / 1_000_000
        max_tokens = compiled.prompt.options.max_tokens or DEFAULT_OUTPUT_TOKENS
        for run_id, started_at, day, replies, input_tokens, output_tokens in rows:
            group = {"prompt": compiled.prompt.name, "day": str(day), "run": run_id or NO_RUN}[by]
            entry = totals.setdefault(group, {"replies": 0, "in": 0, "out": 0, "credits": 0.0, "ceiling": 0.0, "prompts": {}, "started": started_at})
            replies, input_tokens, output_tokens = int(replies), int(input_tokens or 0), int(output_tokens or 0)
            entry["replies"] += replies
            entry["in"] += input_tokens
            entry["out"] += output_tokens
            entry["credits"] += (input_tokens + output_tokens) * price
            entry["ceiling"] += (input_tokens + replies * max_tokens) * price
            entry["prompts"][compiled.prompt.name] = None
    groups = [
        Spend(name, e["replies"], e["in"], e["out"], round(e["credits"], 9), round(e["ceiling"], 9), tuple(e["prompts"]), e["started"] if by == "run" else None)
        for name, e in totals.items()
    ]
    groups.sort(key=lambda g: (g.started_at or datetime.min) if by == "run" else g.group)
    return SpendReport(by, since, tuple(groups), backend.cortex_usage(since) if with_account else None, tuple(notes))


def run_spend(loaded: LoadedProject, backend: Backend, run_ids: set[str]) -> dict[str, Spend]:
    """Spend of the given runs (for `status`): {} when nothing can be read."""
    if not run_ids or not loaded.prompts:
        return {}
    try:
        report = spend(loaded, backend, "run", with_account=False)
    except RulectlError:
        return {}
    return {group.group: group for group in report.groups if group.group in run_ids}
