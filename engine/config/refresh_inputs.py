"""What decides re-enrichment (issue 22): a prompt's `refresh.when_changed` / `ignore_changes`, and
which of its inputs change with the calendar rather than with the data.

A row is re-enriched when its input hash differs from the stored one. By default the hash covers
every placeholder, so a placeholder that reads CURRENT_DATE (days to renewal, tenure) changes every
customer's hash every day and `only_changed` re-bills everyone each morning. Validation warns about
exactly that, from the parsed expressions: a metric that reads the clock, directly, in its filter,
or through the metrics it builds on. Segmentation labels and true/false metrics change only when a
threshold is crossed — a real change worth a new reply — so they are never warned about.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from engine.config.expression_types import BOOLEAN
from engine.config.models import Prompt, Refresh
from engine.config.project import Located, LoadedProject
from engine.core.errors import Problem, did_you_mean
from engine.core.expressions import ExpressionError, parse_expression

# Functions whose value is "now": CURRENT_DATE, CURRENT_TIMESTAMP (GETDATE, SYSDATE, SYSTIMESTAMP
# parse to it), CURRENT_TIME, LOCALTIME, LOCALTIMESTAMP.
CLOCK_NODES = (exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime, exp.CurrentDatetime, exp.Localtime, exp.Localtimestamp)


def decision_fields(refresh: Refresh, fields: Sequence[str]) -> tuple[str, ...]:
    """The inputs an input hash is made of: `when_changed` (sorted, so reordering the list is not a
    change), the placeholders minus `ignore_changes` (in template order), or every placeholder —
    then the hash is exactly the one rulectl computed before these settings existed."""
    if refresh.when_changed is not None:
        return tuple(sorted({name.lower() for name in refresh.when_changed}))
    if refresh.ignore_changes is not None:
        ignored = {name.lower() for name in refresh.ignore_changes}
        return tuple(field for field in fields if field not in ignored)
    return tuple(fields)


def placeholder_fields(prompt: Prompt, pattern) -> list[str]:
    """The columns a prompt's data block shows, in the order compile writes them."""
    texts = [prompt.template, prompt.system or ""]
    for variant in prompt.experiment.variants if prompt.experiment else []:
        texts += [variant.template or prompt.template, variant.system or ""]
    fields: dict[str, None] = {}
    for text in texts:
        for match in pattern.finditer(text):
            fields[match.group(1).strip().lower()] = None
    return list(fields)


def clock_readers(loaded: LoadedProject, metric_types: dict[str, str]) -> dict[str, str]:
    """Metric → why its value moves with the calendar (`reads CURRENT_DATE`, `builds on
    days_to_renewal, which reads CURRENT_DATE`), for metrics that are not true/false."""
    by_name = {m.item.name.lower(): m.item for m in loaded.metrics}
    reasons: dict[str, str | None] = {}

    def reason(name: str, trail: frozenset[str]) -> str | None:
        if name in reasons:
            return reasons[name]
        if name in trail:  # a cycle, reported elsewhere
            return None
        metric = by_name[name]
        found = None
        for text in (metric.expr, metric.filter):
            tree = _tree(text)
            if tree is None:
                continue
            clock = next(tree.find_all(*CLOCK_NODES), None)
            if clock is not None:
                found = f"reads {clock.sql(dialect='snowflake').split('(')[0]}"
                break
            if metric.source is None:
                for used in (c.name.lower() for c in tree.find_all(exp.Column)):
                    if used in by_name and reason(used, trail | {name}):
                        found = f"builds on `{used}`, which {reason(used, trail | {name})}"
                        break
            if found:
                break
        reasons[name] = found
        return found

    for name in by_name:
        reason(name, frozenset())
    return {name: why for name, why in reasons.items() if why and metric_types.get(name) != BOOLEAN}


def _tree(text: str | None) -> exp.Expression | None:
    if not text:
        return None
    try:
        return parse_expression(text).tree
    except ExpressionError:
        return None  # reported by the expression checks


def check_refresh(located: Located[Prompt], columns: list[str], fields: list[str]) -> list[Problem]:
    """`when_changed` names columns of the input, `ignore_changes` names placeholders, each once."""
    refresh = located.item.refresh
    problems: list[Problem] = []
    for key, allowed, what in (
        ("when_changed", columns, f"a column of {located.item.input}"),
        ("ignore_changes", fields, "a placeholder of the prompt (only placeholders are part of the input hash)"),
    ):
        seen: set[str] = set()
        for index, name in enumerate(getattr(refresh, key) or []):
            lowered = name.lower()
            if lowered in seen:
                problems.append(located.problem(f"`{key}`: `{name}` is listed twice", "refresh", key, index))
            elif lowered not in allowed:
                problems.append(located.problem(f"`{key}`: `{name}` is not {what}{did_you_mean(lowered, allowed)}", "refresh", key, index))
            seen.add(lowered)
    return problems


def clock_warnings(located: Located[Prompt], fields: list[str], readers: dict[str, str], placeholder_line) -> list[Problem]:
    """A warning for each hashed input that changes every day, at its `when_changed` entry or at
    its placeholder, naming the fix."""
    prompt = located.item
    if not prompt.refresh.only_changed:
        return []  # every run re-enriches every row by design
    hashed = decision_fields(prompt.refresh, fields)
    daily = [name for name in hashed if name in readers]
    if not daily:
        return []
    keep = [name for name in hashed if name not in readers]
    if prompt.refresh.when_changed is not None:
        fix = "take them out of `when_changed`" + (f" (keep {', '.join(keep)})" if keep else "")
    else:
        fix = f"add `refresh: {{when_changed: [{', '.join(keep)}]}}` (the inputs that should decide)" if keep else "add `refresh: {when_changed: [...]}` naming the inputs that should decide"
        fix += f" or `ignore_changes: [{', '.join(daily)}]`"
    problems = []
    for name in daily:
        where = (
            located.at("refresh", "when_changed", [n.lower() for n in prompt.refresh.when_changed].index(name))
            if prompt.refresh.when_changed is not None else placeholder_line(name)
        )
        problems.append(Problem(*where, (
            f"`{name}` changes every day (metric `{name}` {readers[name]}) and is part of the input hash, so `only_changed` re-enriches "
            f"every customer at every daily run (up to max_rows {prompt.refresh.max_rows:,}); {fix}. The model still sees every placeholder; "
            f"`max_age: <days>` re-enriches a reply once it is that old"
        )))
    return problems
