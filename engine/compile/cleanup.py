"""Enrichments follow deletes: the statement a refresh task runs before its MERGE to remove what it
stored for rows that no longer exist (a source row, a customer) or whose text became blank.

A MERGE cannot do it: Snowflake's MERGE has no `WHEN NOT MATCHED BY SOURCE`
(https://docs.snowflake.com/en/sql-reference/sql/merge), so each task gets a DELETE … USING with an
anti-join naming the rows to remove, in the form Snowflake documents (target columns qualified by
the table's name, the rows to delete from a subquery):
https://docs.snowflake.com/en/sql-reference/sql/delete (USING, "DELETE FROM leased_bicycles USING
(SELECT …) AS returned WHERE leased_bicycles.bicycle_ID = returned.bicycle_ID").
Plan counts the same rows with `removal_count_query`; nothing is called, nothing is paid.
"""

from __future__ import annotations

from sqlglot import exp

from engine.compile.objects import table

GONE_ALIAS = "gone"


def gone_rows(output: str, keys: list[str], existing: exp.Expression, present: exp.Expression | None = None, where: exp.Expression | None = None) -> exp.Select:
    """Keys of `output` rows (alias o) with no row in `existing` (alias s) that satisfies `present`;
    `where` narrows the output rows considered (e.g. one prompt's rows of a shared table)."""
    on = exp.and_(*(exp.column(k, table="s").eq(exp.column(k, table="o")) for k in keys), *([present] if present is not None else []))
    missing = exp.column(keys[0], table="s").is_(exp.null())
    return (
        exp.select(*(exp.column(k, table="o") for k in keys))
        .from_(exp.alias_(table(output), "o", table=True), copy=False)
        .join(exp.alias_(existing, "s", table=True), on=on, join_type="left", copy=False)
        .where(exp.and_(where, missing) if where is not None else missing, copy=False)
    )


def removal(output: str, keys: list[str], gone: exp.Select, where: exp.Expression | None = None) -> exp.Delete:
    """DELETE FROM output USING (gone) AS gone WHERE output.key = gone.key …"""
    target = table(output)

    def own(column: str) -> exp.Column:
        return exp.column(column, table=target.name, db=target.db)

    matches = [own(k).eq(exp.column(k, table=GONE_ALIAS)) for k in keys]
    if where is not None:
        matches.append(where.transform(lambda node: own(node.name) if isinstance(node, exp.Column) else node))
    return exp.Delete(
        this=target,
        using=[exp.Subquery(this=gone, alias=exp.TableAlias(this=exp.to_identifier(GONE_ALIAS)))],
        where=exp.Where(this=exp.and_(*matches)),
    )


def removal_count_query(delete: exp.Delete) -> exp.Select:
    """COUNT(*) of the rows `delete` would remove: for plan, read-only."""
    gone = delete.args["using"][0].copy()
    return exp.select(exp.func("COUNT", exp.Star())).from_(gone, copy=False)
