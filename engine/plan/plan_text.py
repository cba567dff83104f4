"""The plan for people (terraform-like symbols, colour, SQL diffs, segment moves, AI cost) and for
machines (JSON). Rendering never decides anything."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from engine.ai.cost import AiCost
from engine.config.cortex import EMBED_MAX_CHARS, SENTIMENT_MAX_CHARS
from engine.plan.model import SYMBOLS, Action, Plan, SegmentMove


def render_plan(plan: Plan, console: Console, show_noop: bool = False) -> None:
    console.print(Text(f"rulectl plan {plan.plan_id} — project {plan.project}, target {plan.target}", style="bold"))
    console.print(Text(f"read the deployed state in {plan.introspection_queries} queries", style="dim"))
    console.print()
    for step in plan.steps:
        if step.action is Action.NOOP and not show_noop:
            continue
        symbol, style = SYMBOLS[step.action]
        line = Text(f"  {symbol} ", style=style)
        line.append(f"{step.action.value:<8}", style=style)
        line.append(f" {step.kind:<6} {step.qualified_name}", style="bold")
        line.append(f"  ({step.reason})", style="dim")
        if step.destructive:
            line.append("  DESTRUCTIVE", style="bold red")
        console.print(line)
        # a changed prompt reads better as its template, system text and options than as the
        # task's MERGE (where it is a hash and a string literal); JSON keeps both
        shown_diff = step.prompt_diff or step.sql_diff
        if shown_diff:
            from rich.syntax import Syntax  # pulls in pygments (~7 ms): only a plan with SQL diffs needs it

            console.print(Syntax(shown_diff, "diff", theme="ansi_dark", background_color="default"), soft_wrap=True)
    render_segment_impact(plan, console)
    if plan.ai_costs:
        console.print()
        console.print(Text("Next AI refresh (tasks this plan affects, and any with rows waiting):", style="bold"))
        for cost in plan.ai_costs:
            console.print(f"  {cost.prompt}: {cost_text(cost)}", markup=False)
    for note in plan.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    console.print()
    unchanged = sum(1 for step in plan.steps if step.action is Action.NOOP)
    if unchanged and not show_noop:
        console.print(Text(f"{unchanged} object(s) up to date (--all lists them)", style="dim"))
    console.print(summary_line(plan))


def render_segment_impact(plan: Plan, console: Console) -> None:
    """Sizes before → after, who moves (gains and losses for match: all), and rules that match nobody."""
    if plan.segment_sizes:
        console.print()
        console.print(Text("Segment sizes (customers, deployed → planned):", style="bold"))
        for segmentation in dict.fromkeys(size.segmentation for size in plan.segment_sizes):
            console.print(f"  {segmentation}:", markup=False)
            for size in (s for s in plan.segment_sizes if s.segmentation == segmentation):
                delta = size.after - size.before
                change = f" ({delta:+,})" if delta else ""
                label = size.segment if size.segment is not None else "(none)"
                console.print(f"    {label}: {size.before:,} → {size.after:,}{change}", markup=False)
    if plan.segment_moves:
        console.print()
        console.print(Text("Customers moving between segments:", style="bold"))
        for move in plan.segment_moves:
            console.print(f"  {move.segmentation}: {move_text(move)}", markup=False)
    for warning in plan.segment_warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))


def move_text(move: SegmentMove) -> str:
    """One move as a sentence: `5 customers: Growth → Strategic (e.g. …)`, or a gain / loss of a label."""
    customers = f"{move.customers} customer{'s' if move.customers != 1 else ''}"
    example = f" (e.g. {', '.join(move.examples)})" if move.examples else ""
    if move.kind == "gain":
        return f"{customers} gain {move.to_label}{example}"
    if move.kind == "loss":
        return f"{customers} lose {move.from_label}{example}"
    source = move.from_label if move.from_label is not None else "(none)"
    target = move.to_label if move.to_label is not None else "(none)"
    return f"{customers}: {source} → {target}{example}"


def _input_cap(chars: int) -> str:
    """The cut every text gets before a Cortex function with a 512-token input limit (config/cortex.py)."""
    return f"each text cut at {chars:,} characters (Cortex's 512-token input limit)"


def cost_text(cost: AiCost) -> str:
    """One prompt's (or score / embedding task's) next-refresh estimate as a sentence, with its budget
    and the stored rows its task will remove."""
    if not cost.removals:
        return _spend_text(cost) + _budget_text(cost)
    removals = f"{cost.removals:,} stored row{'s' if cost.removals != 1 else ''} to remove (source row or customer gone, or text emptied)"
    return f"nothing to enrich; {removals}" if not cost.rows else f"{_spend_text(cost)}{_budget_text(cost)}; {removals}"


def _budget_text(cost: AiCost) -> str:
    """The budget beside the estimate, and what a run leaves for the next ones."""
    if cost.budget is None:
        return ""
    return f"; budget {cost.budget:g} credits a run (max_credits): {cost.rows:,} row{'s' if cost.rows != 1 else ''} fit, {cost.left_pending:,} left pending"


def _spend_text(cost: AiCost) -> str:
    rows = f"{cost.rows:,} row{'s' if cost.rows != 1 else ''} to enrich"
    capped = f" (capped at max_rows {cost.capped_at:,})" if cost.rows >= cost.capped_at else ""
    if cost.kind == "embed":
        customers = f"{cost.rows:,} customer{'s' if cost.rows != 1 else ''} to embed{capped}"
        excludes = f" ({cost.excludes})" if cost.excludes else ""
        return f"{customers}, ~{cost.input_tokens:,} input tokens on {cost.model}, ~{cost.credits:.4f} credits (~${cost.usd:.2f}){excludes}; {_input_cap(EMBED_MAX_CHARS)}"
    if cost.kind == "score":  # a score function: input tokens only
        return f"{cost.rows:,} row{'s' if cost.rows != 1 else ''} to score{capped}, ~{cost.input_tokens:,} input tokens on {cost.model}, ~{cost.credits:.4f} credits (~${cost.usd:.2f}); {_input_cap(SENTIMENT_MAX_CHARS)}"
    if cost.output_estimated:
        return (
            f"{rows}{capped}, ~{cost.input_tokens:,} input + ~{cost.output_tokens:,} output tokens on {cost.model} "
            f"(output from the mean of {cost.observed_replies:,} earlier replies), ~{cost.credits:.4f} credits (~${cost.usd:.2f}); "
            f"ceiling at max_tokens: {cost.output_tokens_ceiling:,} output tokens, {cost.credits_ceiling:.4f} credits"
        )
    return (
        f"{rows}{capped}, ~{cost.input_tokens:,} input tokens + at most {cost.output_tokens_ceiling:,} output tokens on {cost.model} "
        f"(max_tokens ceiling: no earlier replies to estimate from), at most ~{cost.credits_ceiling:.4f} credits (~${cost.usd:.2f})"
    )


def summary_line(plan: Plan) -> Text:
    return Text(summary_text(plan), style="bold" if plan.has_changes else "green")


def summary_text(plan: Plan) -> str:
    """`Plan: 1 to create, 2 to replace.` or `No changes. …`: the last line of every rendering."""
    counts = plan.summary()
    if not plan.has_changes:
        return "No changes. The target matches the project."
    parts = [f"{counts.get(a.value, 0)} to {a.value}" for a in (Action.CREATE, Action.REPLACE, Action.ALTER, Action.DROP) if counts.get(a.value)]
    if counts.get(Action.DRIFT.value):
        parts.append(f"{counts[Action.DRIFT.value]} drifted (changed by hand)")
    if counts.get(Action.ERROR.value):
        parts.append(f"{counts[Action.ERROR.value]} error(s)")
    return "Plan: " + ", ".join(parts) + "."
