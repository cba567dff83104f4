"""Aggregates whose result depends on the order rows reach them: refused, or made deterministic.

A metric must give the same value on every run and on both targets: the segments, the prompt
inputs (and so the AI rows re-enriched) follow from it. DuckDB feeds a group's rows to an aggregate
in an order that depends on its thread count, and Snowflake documents no order at all, so:

- `MODE(x)` — "If there is a tie for most frequent value … MODE returns one of those values"
  (https://docs.snowflake.com/en/sql-reference/functions/mode) — is compiled with a documented
  tie-break, the same SQL on both targets: the most frequent non-NULL value, ties to the smallest
  (compile/metrics.py). It must be the whole expression of its metric, so that rewrite is exact.
- `ANY_VALUE(x)` returns "any value" (https://docs.snowflake.com/en/sql-reference/functions/any_value):
  refused, MIN/MAX named.
- `LISTAGG` / `ARRAY_AGG` without `WITHIN GROUP (ORDER BY …)`, or ordered by keys that leave ties
  among different values: "If you do not specify the WITHIN GROUP (<orderby_clause>), the order
  of elements within each list is unpredictable"
  (https://docs.snowflake.com/en/sql-reference/functions/listagg,
  https://docs.snowflake.com/en/sql-reference/functions/array_agg): refused unless the ordering
  ends with the aggregated value itself, which leaves only ties between equal values.
- `ARRAY_UNIQUE_AGG(x)` has no order clause: refused, the ordered `ARRAY_AGG(DISTINCT …)` named.
- `MIN_BY(x, k)` / `MAX_BY(x, k)`: "If multiple rows contain the specified minimum value, the
  function is non-deterministic" (https://docs.snowflake.com/en/sql-reference/functions/min_by,
  https://docs.snowflake.com/en/sql-reference/functions/max_by), and DuckDB's ARG_MIN also skips
  rows whose x is NULL. Compiled like MODE, the same SQL on both targets (compile/metrics.py): x of
  the row with the smallest (largest) non-NULL k, ties to the smallest x. As the whole metric only;
  the three-argument form (an ARRAY) is refused with the ordered ARRAY_AGG named.
- `LISTAGG(x)` without a delimiter joins with nothing between values on Snowflake ("If no delimiter
  string is specified, the empty string is used", …/functions/listagg) while sqlglot writes `','`
  for DuckDB: the default is written out when the expression is parsed (`explicit_listagg_delimiter`),
  so both targets join the same way.
"""

from __future__ import annotations

from sqlglot import exp

DIALECT = "snowflake"

MODE_TIE_BREAK = "the most frequent non-NULL value; a tie goes to the smallest of the tied values"
PICK_TIE_BREAK = "the value on the row with the {which} non-NULL ordering value; rows that tie on it give the smallest value"


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect=DIALECT)


def mode_argument(tree: exp.Expression) -> exp.Expression | None:
    """`x` when the whole expression is `MODE(x)` (compiled with the documented tie-break)."""
    while isinstance(tree, exp.Paren):
        tree = tree.this
    return tree.this if isinstance(tree, exp.Mode) else None


def ranked_pick(tree: exp.Expression) -> tuple[exp.Expression, exp.Expression, bool] | None:
    """(x, k, descending) when the whole expression is `MIN_BY(x, k)` or `MAX_BY(x, k)` (compiled
    with the documented tie-break)."""
    while isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, (exp.ArgMin, exp.ArgMax)) and tree.args.get("count") is None:
        return tree.this, tree.expression, isinstance(tree, exp.ArgMax)
    return None


def compiled_with_tie_break(tree: exp.Expression) -> bool:
    """True when the whole metric is an aggregate rulectl compiles in its own ranked CTE."""
    return mode_argument(tree) is not None or ranked_pick(tree) is not None


def explicit_listagg_delimiter(tree: exp.Expression) -> exp.Expression:
    """Write Snowflake's default LISTAGG delimiter ('') into the tree (in place), so no target's own
    default (DuckDB's ',') applies. https://docs.snowflake.com/en/sql-reference/functions/listagg"""
    for node in tree.find_all(exp.GroupConcat):
        if node.args.get("separator") is None:
            node.set("separator", exp.Literal.string(""))
    return tree


def order_dependence(tree: exp.Expression) -> str | None:
    """Why `tree`'s value depends on row order, naming the deterministic form to write; None when it does not."""
    for node in tree.walk():
        reason = _reason(node, tree)
        if reason:
            return reason
    return None


def _reason(node: exp.Expression, whole: exp.Expression) -> str | None:
    if isinstance(node, exp.Mode) and mode_argument(whole) is None:
        return (f"`{_sql(node)}` breaks ties differently on each run when it is part of a larger expression; "
                f"make `{_sql(node)}` a metric of its own (rulectl compiles it as {MODE_TIE_BREAK}) and use that metric in a derived metric")
    if isinstance(node, (exp.ArgMin, exp.ArgMax)):
        return _pick_reason(node, whole)
    if isinstance(node, exp.AnyValue):
        value = _sql(node.this)
        return f"`{_sql(node)}` returns whichever row comes first, which changes between runs; write MIN({value}) or MAX({value})"
    if isinstance(node, exp.ArrayUniqueAgg):
        value = _sql(node.this)
        return f"`{_sql(node)}` lists values in no fixed order; write ARRAY_AGG(DISTINCT {value}) WITHIN GROUP (ORDER BY {value})"
    if isinstance(node, exp.GroupConcat):
        return _listagg_reason(node)
    if isinstance(node, exp.ArrayAgg):
        return _array_agg_reason(node)
    return None


def _pick_reason(node: exp.ArgMin | exp.ArgMax, whole: exp.Expression) -> str | None:
    which = "MAX_BY" if isinstance(node, exp.ArgMax) else "MIN_BY"
    value, key = _sql(node.this), _sql(node.expression)
    if node.args.get("count") is not None:
        order = f"{key} DESC, {value}" if which == "MAX_BY" else f"{key}, {value}"
        return (f"`{_sql(node)}` lists the rows that tie on `{key}` in an order that changes between runs; "
                f"write ARRAY_SLICE(ARRAY_AGG({value}) WITHIN GROUP (ORDER BY {order}), 0, {_sql(node.args['count'])})")
    if ranked_pick(whole) is None:
        tie_break = PICK_TIE_BREAK.format(which="largest" if which == "MAX_BY" else "smallest")
        return (f"`{_sql(node)}` picks among rows that tie on `{key}` differently on each run when it is part of a larger expression; "
                f"make `{_sql(node)}` a metric of its own (rulectl compiles it as {tie_break}) and use that metric in a derived metric")
    return None


def _listagg_reason(node: exp.GroupConcat) -> str | None:
    inner = node.this
    order = inner if isinstance(inner, exp.Order) else None
    value = order.this if order is not None else inner
    if _ends_with_value(order, value):
        return None
    separator = node.args.get("separator")
    shown_value = _sql(value)
    plain = shown_value[len("DISTINCT "):] if isinstance(value, exp.Distinct) else shown_value
    fixed = f"LISTAGG({shown_value}{', ' + _sql(separator) if separator is not None else ''}) WITHIN GROUP (ORDER BY {_ordering(order, plain)})"
    return _unordered(node, fixed)


def _array_agg_reason(node: exp.ArrayAgg) -> str | None:
    within = node.parent if isinstance(node.parent, exp.WithinGroup) else None
    order = within.expression if within is not None else None
    if _ends_with_value(order, node.this):
        return None
    shown_value = _sql(node.this)
    plain = shown_value[len("DISTINCT "):] if isinstance(node.this, exp.Distinct) else shown_value
    return _unordered(within or node, f"ARRAY_AGG({shown_value}) WITHIN GROUP (ORDER BY {_ordering(order, plain)})")


def _unordered(node: exp.Expression, fixed: str) -> str:
    return (f"`{_sql(node)}` lists the values in an order that changes between runs (ties in the ordering included); "
            f"order by the value itself, last: {fixed}")


def _ordering(order: exp.Order | None, plain_value: str) -> str:
    """The analyst's ordering keys followed by the value, as the deterministic form's ORDER BY."""
    keys = [_sql(key) for key in (order.expressions if order is not None else [])]
    return ", ".join(keys + [plain_value])


def _ends_with_value(order: exp.Order | None, value: exp.Expression) -> bool:
    """True when the last ordering key is the aggregated value: rows that still tie hold equal values."""
    if order is None or not order.expressions:
        return False
    values = value.expressions if isinstance(value, exp.Distinct) else [value]
    last = order.expressions[-1].this
    return len(values) == 1 and last == values[0]
