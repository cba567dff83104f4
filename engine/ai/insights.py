"""Reading AI output for people: each customer's segments, the columns the project shows
(`display:`), and every prompt's latest output with its staleness — from the wide insights view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from engine.backends.base import Backend
from engine.compile.insights_view import PROMPT_COLUMNS, customer_columns, prompt_column
from engine.compile.objects import table
from engine.config.models import Prompt
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.project import INSIGHTS_VIEW, Located, LoadedProject, display_name_column, entity_key, input_view_columns, segment_labels
from engine.core.errors import RulectlError, did_you_mean, listed
from engine.compile.structured_outputs import output_columns
from engine.core.expressions import ExpressionError, parse_expression, sf_func


@dataclass(frozen=True)
class PromptOutput:
    prompt: str
    response: str | None
    variant: str | None
    provider: str | None
    model: str | None
    prompt_version: str | None
    generated_at: Any
    stale: bool  # made from inputs that have changed since: rerun `rulectl run` to refresh
    fields: dict[str, Any] = field(default_factory=dict)  # typed `outputs:` fields, by name


@dataclass(frozen=True)
class Insight:
    key: str
    name: str | None
    segments: dict[str, Any]  # match: first → label; match: all → list of labels
    shown: dict[str, Any]  # the size metric and display columns, by name
    outputs: tuple[PromptOutput, ...]


def find_prompt(loaded: LoadedProject, name: str) -> Located[Prompt]:
    for located in loaded.prompts:
        if located.item.name.lower() == name.lower():
            return located
    names = [p.item.name for p in loaded.prompts]
    raise RulectlError(f"unknown prompt `{name}`{did_you_mean(name, names)}{listed(names, 'prompts')}")


def known_segment(loaded: LoadedProject, segment: str) -> str:
    """`segment` as the project spells it; an unknown label is an error, not an empty answer."""
    labels = segment_labels(loaded)
    if segment in labels:
        return segment
    same_but_case = [label for label in labels if label.lower() == segment.lower()]
    if same_but_case:
        raise RulectlError(f"no segment is called `{segment}`; labels are case-sensitive: write --segment '{same_but_case[0]}'")
    raise RulectlError(f"no segment is called `{segment}`{did_you_mean(segment, labels)}{listed(labels, 'segments')}")


def insights(
    loaded: LoadedProject,
    backend: Backend,
    prompt: str | None = None,
    segment: str | None = None,
    customer: str | None = None,
    limit: int | None = 5,
    where: str | None = None,
) -> list[Insight]:
    """Customers with AI output (for `prompt`, or any prompt), largest first by the size metric;
    `where` filters on output fields and customer columns (an analyst expression, parsed and rebuilt)."""
    if not loaded.prompts:
        raise RulectlError("the project has no prompts (prompts/*.yml), so there is no AI output to show")
    prompts = [find_prompt(loaded, prompt).item] if prompt else [p.item for p in loaded.prompts]
    columns = customer_columns(loaded)
    selected = [exp.column(name, table="i") for name in columns]
    for p in prompts:
        selected += [exp.column(prompt_column(p.name, c), table="i") for c in _prompt_cells(p)]
    has_output = [exp.column(prompt_column(p.name, "response"), table="i").is_(exp.null()).not_() for p in prompts]
    query = exp.select(*selected).from_(exp.alias_(table(f"{loaded.config.schemas.ai}.{INSIGHTS_VIEW}"), "i", table=True))
    query = query.where(exp.or_(*has_output))
    if segment:
        query = query.where(in_segment(loaded, segment), copy=False)
    if customer:
        query = query.where(_is_customer(loaded, customer), copy=False)
    if where:
        condition, reads_segments = _analyst_filter(loaded, prompts, where)
        if reads_segments:  # a metric the insights view does not show: from the segments view
            segments = exp.alias_(table(f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}"), "s", table=True)
            key = entity_key(loaded)
            query = query.join(segments, on=exp.column(key, table="s").eq(exp.column(key, table="i")), join_type="left", copy=False)
        query = query.where(condition, copy=False)
    query = query.order_by(*_largest_first(loaded), copy=False)
    if limit is not None:
        query = query.limit(limit, copy=False)
    rows = _read(backend, query)
    return [_insight(loaded, backend, columns, prompts, row) for row in rows]


def stale_counts(loaded: LoadedProject, backend: Backend) -> dict[str, int]:
    """Per prompt: how many stored outputs were made from inputs that have changed since."""
    if not loaded.prompts:
        return {}
    counts = [
        sf_func("COUNT_IF", exp.column(prompt_column(p.item.name, "stale"), table="i").eq(exp.true()))
        for p in loaded.prompts
    ]
    query = exp.select(*counts).from_(exp.alias_(table(f"{loaded.config.schemas.ai}.{INSIGHTS_VIEW}"), "i", table=True))
    row = _read(backend, query)[0]
    return {p.item.name: int(n or 0) for p, n in zip(loaded.prompts, row)}


def _read(backend: Backend, query: exp.Expression) -> list[tuple]:
    try:
        return backend.query(query)
    except Exception as error:
        reason = backend.cannot_read("view", loaded_view_name(query), error)
        advice = "; run `rulectl apply` (and `rulectl run`) first" if reason.endswith("does not exist on this target yet") else ""
        raise RulectlError(reason + advice) from None


def loaded_view_name(query: exp.Expression) -> str:
    found = query.find(exp.Table)
    return f"{found.db}.{found.name}" if found is not None else INSIGHTS_VIEW


def in_segment(loaded: LoadedProject, requested: str, alias: str = "i") -> exp.Expression:
    """The customer (a row aliased `alias` with a column per segmentation) carries label `requested`."""
    literal = exp.Literal.string(known_segment(loaded, requested))
    matches = []
    for located in loaded.segmentations:
        column = exp.column(located.item.name.lower(), table=alias)
        if located.item.match == "all":
            matches.append(exp.ArrayContains(this=column, expression=exp.cast(literal.copy(), "VARIANT")))
        else:
            matches.append(column.eq(literal.copy()))
    return exp.or_(*matches)


def _is_customer(loaded: LoadedProject, customer: str) -> exp.Expression:
    key, name = entity_key(loaded), display_name_column(loaded)
    match = exp.cast(exp.column(key, table="i"), "VARCHAR").eq(exp.Literal.string(customer))
    if name != key:
        match = exp.or_(match, exp.ILike(this=exp.column(name, table="i"), expression=exp.Literal.string(f"%{customer}%")))
    return match


def _largest_first(loaded: LoadedProject) -> list[exp.Expression]:
    size = loaded.config.display.size
    order = [exp.Ordered(this=exp.column(size.metric.lower(), table="i"), desc=True, nulls_first=False)] if size else []
    return order + [exp.Ordered(this=exp.column(entity_key(loaded), table="i"))]


def _insight(loaded: LoadedProject, backend: Backend, columns: list[str], prompts: list[Prompt], row: tuple) -> Insight:
    values = dict(zip(columns, row))
    match = {s.item.name.lower(): s.item.match for s in loaded.segmentations}
    segments = {name: backend.array_value(values[name]) if how == "all" else values[name] for name, how in match.items()}
    outputs = []
    start = len(columns)
    for p in prompts:
        cells = dict(zip(_prompt_cells(p), row[start:start + len(_prompt_cells(p))]))
        start += len(_prompt_cells(p))
        if cells["response"] is None:
            continue
        fields = {name: backend.array_value(cells[name]) if kind == "ARRAY" else cells[name] for name, kind in output_columns(p)}
        outputs.append(PromptOutput(p.name, *(cells[c] for c in PROMPT_COLUMNS), stale=bool(cells["stale"]), fields=fields))
    key, name = entity_key(loaded), display_name_column(loaded)
    display = loaded.config.display
    shown_names = ([display.size.metric.lower()] if display.size else []) + [c.lower() for c in display.columns]
    shown = {column: values[column] for column in dict.fromkeys(shown_names) if column not in match}
    return Insight(str(values[key]), str(values[name]) if values[name] is not None else None, segments, shown, tuple(outputs))


def _prompt_cells(prompt: Prompt) -> tuple[str, ...]:
    """The wide view's columns for one prompt, without the `<prompt>_` prefix."""
    return PROMPT_COLUMNS + ("stale",) + tuple(name for name, _ in output_columns(prompt))


def _analyst_filter(loaded: LoadedProject, prompts: list[Prompt], text: str) -> tuple[exp.Expression, bool]:
    """`--where`: an expression over output fields (of the prompts shown), customer columns and
    every metric, parsed like every analyst expression and rebuilt with the view's column names.
    Returns the condition and whether it reads the segments view `s` (a metric the insights view
    does not show). `tags = 'X'` on a `match: all` segmentation means "carries the label X"."""
    names = {column: exp.column(column, table="i") for column in customer_columns(loaded)}
    for p in prompts:
        for name, _ in output_columns(p):
            if name in names and names[name].name != prompt_column(p.name, name):
                raise RulectlError(f"--where: `{name}` is a field of several prompts; pick one with --prompt")
            names[name] = exp.column(prompt_column(p.name, name), table="i")
    from_segments = [c for c in input_view_columns(loaded, "customer_segments") if c not in names]
    names.update({column: exp.column(column, table="s") for column in from_segments})
    try:
        parsed = parse_expression(text)
    except ExpressionError as error:
        raise RulectlError(f"--where: {error}") from None
    if parsed.has_aggregate:
        raise RulectlError("--where compares each customer's values; it cannot contain an aggregate")
    for used in parsed.column_names:
        if used not in names:
            raise RulectlError(f"--where: `{used}` is not an output field, metric or customer column{did_you_mean(used, names)}{_quote_hint(parsed.tree, used)}")
    label_lists = {s.item.name.lower() for s in loaded.segmentations if s.item.match == "all"}
    condition = parsed.tree.copy().transform(lambda node: _label_list_test(node, label_lists) or node)
    condition = condition.transform(lambda node: names[node.name.lower()].copy() if isinstance(node, exp.Column) and node.name.lower() in names else node)
    reads_segments = any(column.table == "s" for column in condition.find_all(exp.Column))
    return condition, reads_segments


def _quote_hint(tree: exp.Expression, used: str) -> str:
    """`risk = high`: the analyst meant the text 'high'."""
    for column in tree.find_all(exp.Column):
        if column.name.lower() == used and isinstance(column.parent, (exp.EQ, exp.NEQ, exp.In)):
            return f"; if `{column.name}` is a value, put it in single quotes: '{column.name}'"
    return ""


def _label_list_test(node: exp.Expression, label_lists: set[str]) -> exp.Expression | None:
    """`tags = 'X'` (or `<>`) on a match: all segmentation, a list of labels: whether the list holds X."""
    if not isinstance(node, (exp.EQ, exp.NEQ)):
        return None
    column, value = node.this, node.expression
    if isinstance(value, exp.Column) and isinstance(column, exp.Literal):
        column, value = value, column
    if not (isinstance(column, exp.Column) and column.name.lower() in label_lists and isinstance(value, exp.Literal) and value.is_string):
        return None
    holds = exp.ArrayContains(this=column.copy(), expression=exp.cast(value.copy(), "VARIANT"))
    return holds if isinstance(node, exp.EQ) else exp.not_(holds)
