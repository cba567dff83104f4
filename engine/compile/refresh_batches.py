"""A refresh in bounded batches: the prompt's MERGE rewritten to enrich one window of its pending rows.

Each batch is its own statement, so every reply is committed as its batch lands: an interrupted or
failing run keeps the batches before it, and the next run asks the model only for rows without a
stored reply. Rows are numbered in the pending query's own order (never enriched first, then the
stalest, then by key); rows whose call failed stay pending and keep their place at the front, so
batch n skips the rows that failed so far and takes the next `take` rows.
"""

from __future__ import annotations

from sqlglot import exp

BATCH_ROW = "rulectl_row"
DEFAULT_BATCH_ROWS = 50
PENDING_ALIAS = "p"


def pending_subquery(merge: exp.Expression) -> exp.Subquery:
    """The MERGE's pending-rows subquery (the rows it sends to COMPLETE)."""
    return next(s for s in merge.find_all(exp.Subquery) if s.alias == PENDING_ALIAS)


def pending_count_query(merge: exp.Expression) -> exp.Select:
    """COUNT(*) of the rows one full run would send (capped at the prompt's max_rows)."""
    pending = pending_subquery(merge).this.copy()
    return exp.select(exp.func("COUNT", exp.Star())).from_(exp.Subquery(this=pending, alias=exp.TableAlias(this=exp.to_identifier(PENDING_ALIAS))))


def batch_merge(merge: exp.Expression, skip: exp.Expression, take: exp.Expression) -> exp.Expression:
    """The MERGE restricted to pending rows number skip+1 … skip+take (literals or script variables)."""
    tree = merge.copy()
    subquery = pending_subquery(tree)
    pending: exp.Select = subquery.this
    order = pending.args.get("order")
    pending.set("limit", None)
    pending.set("order", None)
    number = exp.Window(this=exp.RowNumber(), order=order.copy() if order else None)
    pending.select(exp.alias_(number, BATCH_ROW), copy=False)
    row = exp.column(BATCH_ROW, table="w")
    window = (
        exp.select(exp.Star())
        .from_(exp.Subquery(this=pending, alias=exp.TableAlias(this=exp.to_identifier("w"))), copy=False)
        .where(exp.and_(row > skip.copy(), row <= exp.Paren(this=exp.Add(this=skip.copy(), expression=take.copy()))), copy=False)
    )
    subquery.set("this", window)
    return tree


def pending_limit(merge: exp.Expression) -> int | None:
    """The cap on the rows one run sends (the prompt's max_rows), or None without one."""
    limit = pending_subquery(merge).this.args.get("limit")
    value = limit.expression if limit is not None else None
    return int(value.this) if isinstance(value, exp.Literal) and value.is_int else None
