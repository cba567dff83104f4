"""Where a window score puts customers whose ordering metric is NULL.

Snowflake orders NULL above every value: `ORDER BY x DESC` puts NULLs first, `ORDER BY x` last
(https://docs.snowflake.com/en/sql-reference/constructs/order-by, "NULLS FIRST | LAST"), and rulectl
compiles the same order for DuckDB. So `NTILE(5) OVER (ORDER BY revenue DESC)` gives every customer
without orders (revenue NULL) quintile 1, beside the best customers, and `ORDER BY recency` gives
them the top score. Correct on both targets, and rarely what a score means: validate warns when the
ordering metric is NULL for a customer with no rows and the expression does not say where NULLs go.
"""

from __future__ import annotations

import re

from sqlglot import exp

from engine.config.project import LoadedProject, Located
from engine.config.models import Metric
from engine.core.errors import Problem
from engine.core.expressions import ExpressionError, parse_expression

NULLS_WRITTEN = re.compile(r"\bNULLS\s+(FIRST|LAST)\b", re.IGNORECASE)


def window_null_warnings(loaded: LoadedProject) -> list[Problem]:
    """A warning per window score ordered by a metric that is NULL for customers with no rows."""
    by_name = {located.item.name.lower(): located.item for located in loaded.metrics}
    warnings = []
    for located in loaded.metrics:
        metric = located.item
        if metric.source is not None or not metric.expr or NULLS_WRITTEN.search(metric.expr):
            continue
        try:
            tree = parse_expression(metric.expr).tree
        except ExpressionError:
            continue  # reported by the metric checks
        for window in tree.find_all(exp.Window):
            order = window.args.get("order")
            for ordered in order.expressions if order else []:
                ordering = by_name.get(ordered.this.name.lower()) if isinstance(ordered.this, exp.Column) else None
                if ordering is not None and _null_without_rows(ordering):
                    warnings.append(_warning(located, ordering, ordered))
    return warnings


def _null_without_rows(metric: Metric) -> bool:
    """True when a customer without rows in the metric's source gets NULL (compile's rule: a
    `default:` or a count gives a number instead)."""
    if metric.source is None or metric.default is not None:
        return False
    try:
        tree = parse_expression(metric.expr).tree
    except ExpressionError:
        return False
    return not isinstance(tree, (exp.Count, exp.CountIf))


def _warning(located: Located[Metric], ordering: Metric, ordered: exp.Ordered) -> Problem:
    name, descending = ordering.name, bool(ordered.args.get("desc"))
    to_smallest, kept = ("DESC NULLS LAST", "NULLS FIRST") if descending else ("NULLS FIRST", "NULLS LAST")
    return located.problem(
        f"`{located.item.expr.strip()}`: a customer with no rows in `{ordering.source}` has `{name}` NULL, and NULL "
        f"sorts above every value (Snowflake's rule, on both targets), so such customers score with the largest `{name}`; "
        f"write `{name} {to_smallest}` to score them with the smallest, `{kept}` to keep this, or give `{name}` a `default:`",
        "expr",
    )
