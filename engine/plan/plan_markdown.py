"""The plan as a pull-request comment (GitHub-flavoured Markdown): a summary line, the changes by
kind, the SQL diff folded in a <details> block, segment sizes, customers moving, and what the next AI
refresh would cost. Like plan_text, it renders the Plan and decides nothing.

A comment has a size limit, so every part that grows with the project has a cap and says how much it
left out; the SQL diff gets what the other parts leave of the budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.ai.cost import AiCost
from engine.plan.model import SYMBOLS, Action, Plan, SegmentMove, Step
from engine.plan.plan_text import summary_text

# GitHub refuses a longer comment body: "Body is too long (maximum is 65536 characters)" (422 from
# https://docs.github.com/en/rest/issues/comments#create-an-issue-comment). Keep a margin for the
# footer a CI step may add.
COMMENT_LIMIT = 65_536
BUDGET = 60_000
MAX_TABLE_ROWS = 60  # per table: objects, segment sizes, moves, AI costs
MAX_TABLE_CHARS = 8_000  # per table, so four full tables and the notes still leave room for the diff
MAX_NOTES = 20  # warnings and notes
MAX_NOTE = 500  # characters of one warning or note
MAX_CELL = 200  # characters of one table cell
MAX_DIFF_LINE = 300  # characters of one diff line
ACTION_ORDER = (Action.ERROR, Action.DROP, Action.CREATE, Action.REPLACE, Action.ALTER, Action.DRIFT)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def render_markdown(plan: Plan) -> str:
    """The whole comment, at most BUDGET characters."""
    head = [_header(plan), _changes_table(plan)]
    tail = [_sizes_table(plan), _moves_table(plan.segment_moves), _costs_table(plan.ai_costs), _notes(plan)]
    others = sum(len(part) + 2 for part in (*head, *tail))
    diff = _diff_block(plan.changes, BUDGET - others)
    return "\n\n".join(part for part in (*head, diff, *tail) if part) + "\n"


def text(value: object, limit: int = MAX_CELL) -> str:
    """Analyst text (names, labels, customer names) as inert Markdown: no formatting, no HTML, no
    @-mentions (a customer called "@ops" must not notify anyone), one line, cut at `limit`."""
    plain = " ".join(str(value).split())
    if len(plain) > limit:
        plain = plain[: limit - 1] + "…"
    plain = plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    plain = _MARKDOWN_SPECIAL.sub(r"\\\1", plain)
    return plain.replace("@", "@&#8203;")  # a zero-width space breaks the mention, not the reading


def code(value: object) -> str:
    """An object name as inline code: backslashes and entities stay literal there, so only a
    backtick (which would end the span) is replaced."""
    return "`" + " ".join(str(value).split()).replace("`", "'") + "`"


def _header(plan: Plan) -> str:
    title = f"### rulectl plan for target {code(plan.target)} (project {text(plan.project)})"
    facts = [f"**{summary_text(plan)}**"]
    moving = sum(move.customers for move in plan.segment_moves)  # match: all gains and losses count too
    if moving:
        facts.append(f"{moving:,} customer move{'s' if moving != 1 else ''} between segments")
    if plan.ai_costs:
        rows = sum(cost.rows for cost in plan.ai_costs)
        credits = sum(_credits(cost) for cost in plan.ai_costs)
        usd = sum(cost.usd for cost in plan.ai_costs)
        facts.append(f"next AI refresh: {rows:,} row{'s' if rows != 1 else ''}, ~{credits:.4f} credits (~${usd:.2f})")
    identity = f"<sub>plan {code(plan.plan_id)} · made {text(plan.created_at)} · deployed state read in {plan.introspection_queries} queries</sub>"
    return "\n".join((title, "", " · ".join(facts), "", identity))


def _changes_table(plan: Plan) -> str:
    changes = sorted(plan.changes, key=lambda step: ACTION_ORDER.index(step.action))
    if not changes:
        return ""
    counts = ", ".join(f"{sum(1 for s in changes if s.action is action)} {action.value}" for action in ACTION_ORDER if any(s.action is action for s in changes))
    rows = [
        (f"`{SYMBOLS[step.action][0]}` {step.action.value}", step.kind, code(step.qualified_name), text(step.reason) + (" **destructive**" if step.destructive else ""))
        for step in changes
    ]
    return f"#### Changes ({counts})\n\n" + _table(("", "kind", "object", "why"), rows, "objects")


def _sizes_table(plan: Plan) -> str:
    if not plan.segment_sizes:
        return ""
    rows = []
    for size in plan.segment_sizes:
        delta = size.after - size.before
        label = text(size.segment) if size.segment is not None else "(none)"
        rows.append((text(size.segmentation), label, f"{size.before:,}", f"{size.after:,}", f"{delta:+,}" if delta else ""))
    return "#### Segment sizes (customers)\n\n" + _table(("segmentation", "segment", "deployed", "planned", "change"), rows, "segments")


def _moves_table(moves: Iterable[SegmentMove]) -> str:
    rows = []
    for move in moves:
        if move.kind == "gain":
            change = f"gain {text(move.to_label)}"
        elif move.kind == "loss":
            change = f"lose {text(move.from_label)}"
        else:
            source = text(move.from_label) if move.from_label is not None else "(none)"
            change = f"{source} → {text(move.to_label) if move.to_label is not None else '(none)'}"
        rows.append((text(move.segmentation), change, f"{move.customers:,}", text(", ".join(move.examples))))
    if not rows:
        return ""
    return "#### Customers moving\n\n" + _table(("segmentation", "change", "customers", "for example"), rows, "moves")


def _costs_table(costs: tuple[AiCost, ...]) -> str:
    if not costs:
        return ""
    rows = [
        (text(cost.prompt), text(cost.model), f"{cost.rows:,}" + (f" (max_rows {cost.capped_at:,})" if cost.rows >= cost.capped_at else ""),
         _tokens(cost), f"{'≤ ' if _is_ceiling(cost) else '~'}{_credits(cost):.4f}", f"~${cost.usd:.2f}", _basis(cost))
        for cost in costs
    ]
    return "#### Next AI refresh (what this plan would spend)\n\n" + _table(("refresh", "model", "rows", "tokens", "credits", "USD", "basis"), rows, "refreshes")


def _is_ceiling(cost: AiCost) -> bool:
    return cost.kind == "prompt" and not cost.output_estimated


def _credits(cost: AiCost) -> float:
    return cost.credits_ceiling if _is_ceiling(cost) else cost.credits


def _tokens(cost: AiCost) -> str:
    if cost.kind != "prompt":
        return f"~{cost.input_tokens:,} in"
    if cost.output_estimated:
        return f"~{cost.input_tokens:,} in + ~{cost.output_tokens:,} out"
    return f"~{cost.input_tokens:,} in + ≤ {cost.output_tokens_ceiling:,} out"


def _basis(cost: AiCost) -> str:
    budget = getattr(cost, "budget", None)
    if budget is None:
        return _estimate_basis(cost)
    return f"{_estimate_basis(cost)}; budget {budget:g} credits a run: {cost.left_pending:,} left pending"


def _estimate_basis(cost: AiCost) -> str:
    if cost.kind == "embed":
        return "input tokens only" + (f"; {text(cost.excludes)}" if cost.excludes else "")
    if cost.kind == "score":
        return "input tokens only"
    if cost.output_estimated:
        return f"output from the mean of {cost.observed_replies:,} earlier replies; ceiling {cost.credits_ceiling:.4f} credits"
    return "max_tokens ceiling: no earlier replies"


def _notes(plan: Plan) -> str:
    lines = [f"> [!WARNING]\n> {text(w, MAX_NOTE)}" for w in plan.segment_warnings]
    lines += [f"> [!NOTE]\n> {text(n, MAX_NOTE)}" for n in plan.notes]
    if len(lines) > MAX_NOTES:
        lines = lines[:MAX_NOTES] + [f"… {len(lines) - MAX_NOTES} more warnings and notes not shown (`rulectl plan` prints them all)"]
    return "\n\n".join(lines)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], what: str) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    used = sum(len(line) + 1 for line in lines)
    for shown, row in enumerate(rows):
        line = "| " + " | ".join(row) + " |"
        if shown == MAX_TABLE_ROWS or used + len(line) + 1 > MAX_TABLE_CHARS:
            lines.append(f"\n… {len(rows) - shown:,} more {what} not shown (`rulectl plan` lists them all)")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _diff_block(steps: Iterable[Step], budget: int) -> str:
    """Every changed object's diff (a prompt's own diff where it has one) in one folded block, cut
    to `budget` characters with a count of the lines left out."""
    diffs = [(step, step.prompt_diff or step.sql_diff) for step in steps]
    diffs = [(step, diff) for step, diff in diffs if diff]
    if not diffs:
        return ""
    total_lines = sum(len(diff.splitlines()) for _, diff in diffs)
    body: list[str] = []
    used = omitted = 0
    fence = _fence(diff for _, diff in diffs)
    for step, diff in diffs:
        heading = f"{code(f'{SYMBOLS[step.action][0]} {step.action.value} {step.kind} {step.qualified_name}')}\n\n{fence}diff"
        lines = [_cut(line) for line in diff.splitlines()]
        kept = []
        cost = len(heading) + 2 * len(fence) + 8
        if omitted or used + cost > budget - 400:
            omitted += len(lines)
            continue
        used += cost
        for line in lines:
            if omitted or used + len(line) + 1 > budget - 400:  # 400: the block's own lines
                omitted += 1
                continue
            kept.append(line)
            used += len(line) + 1
        body += ["", heading, *kept, fence]
    if omitted:
        body += ["", f"… {omitted:,} more diff line{'s' if omitted != 1 else ''} not shown (`rulectl plan` prints the whole diff)"]
    objects = len(diffs)
    summary = f"SQL diff: {objects} object{'s' if objects != 1 else ''}, {total_lines:,} line{'s' if total_lines != 1 else ''}"
    return "\n".join([f"<details><summary>{summary}</summary>", *body, "", "</details>"])


def _cut(line: str) -> str:
    return line if len(line) <= MAX_DIFF_LINE else line[: MAX_DIFF_LINE - 1] + "…"


def _fence(diffs: Iterable[str]) -> str:
    """A code fence longer than any run of backticks inside (a diff may quote SQL with backticks)."""
    longest = max((len(run) for diff in diffs for run in re.findall(r"`+", diff)), default=0)
    return "`" * max(3, longest + 1)
