"""Rows whose customer key matches no customer: they drop out of every metric (each source is
joined to the customer list by its key), so rulectl counts them per source, at load and in plan,
and says how many differ from a customer's key only in letter case or surrounding spaces. Likewise
rows whose `join:` column matches no row of the lookup: they stay, with NULL looked-up columns."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from engine.backends.base import Backend
from engine.compile.objects import table
from engine.compile.source_rows import aliased, source_relation
from engine.config.enrichments import declared_sources
from engine.config.expression_types import TEXT, declared_category
from engine.config.project import LoadedProject, spine_name
from engine.config.source_keys import customer_column, unique_key


@dataclass(frozen=True)
class OrphanRows:
    """`rows` rows of `source` match no customer; `other_case` of them would, ignoring case and spaces."""

    source: str
    rows: int
    other_case: int
    example: str | None
    column: str | None = None  # the source's customer column, when not named like the entity key
    joined: tuple[str, ...] = ()  # "`order_id` has no row in `orders`": joins the customer column comes through

    def message(self, entity: str, key: str) -> str:
        case = f" ({self.other_case:,} differ from a customer's key only in letter case or spaces)" if self.other_case else ""
        empty = " (their key is empty" + (f", or their {' or '.join(self.joined)}" if self.joined else "") + ")"
        example = f", e.g. {self.example!r}" if self.example is not None else empty
        named = f"`{self.column}` (the customer's `{key}`)" if self.column and self.column.lower() != key.lower() else f"`{key}`"
        return f"source {self.source}: {self.rows:,} row(s) have a {named} that matches no row of `{entity}`{case}{example}; they count in no metric"


def orphan_query(loaded: LoadedProject, only: set[str] | None = None, other_case: bool = False) -> exp.Expression | None:
    """One query (a UNION ALL, one branch per source, or per source in `only`) counting each
    source's rows without a customer; `other_case`: and how many of them match a customer's key
    ignoring case and spaces (0 without it)."""
    spine = spine_name(loaded)
    key = (loaded.config.sources[spine].key or "").lower()
    text_key = _text_key(loaded)
    # lookups have no customers; every other source is read with its customer key named like the
    # entity's (compile/source_rows.py), also when it is `customer_key: account_id` or comes by a join
    branches = [_branch(name, source_relation(loaded.config, name), table(loaded.config.sources[spine].table), key, text_key and other_case)
                for name, source in declared_sources(loaded.config).items()
                if name != spine and source.lookup is None and (only is None or name in only)]
    if not branches:
        return None
    query = branches[0]
    for branch in branches[1:]:
        query = exp.union(query, branch, distinct=False)
    return query


def _text_key(loaded: LoadedProject) -> bool:
    """Whether the customer key is text (only text differs in letter case or spaces)."""
    spine = loaded.config.sources[spine_name(loaded)]
    key = (spine.key or "").lower()
    return declared_category(next((t for c, t in spine.columns.items() if c.lower() == key), "")) == TEXT


def _branch(name: str, rows: exp.Expression, customers: exp.Table, key: str, text_key: bool) -> exp.Select:
    row_key = exp.column(key, table="s")
    known = exp.select(exp.Literal.number(1)).from_(customers.copy().as_("c")).where(exp.column(key, table="c").eq(row_key.copy()))
    select = exp.select(
        exp.Literal.string(name).as_("source"),
        exp.Count(this=exp.Star()).as_("orphan_rows"),
        exp.Count(this=exp.column("k", table="folded")).as_("other_case") if text_key else exp.Literal.number(0).as_("other_case"),
        exp.cast(exp.Min(this=row_key.copy()), "VARCHAR").as_("example"),
    ).from_(aliased(rows, "s"))
    if text_key:  # a key that differs only in case or spaces: 'c0001' for 'C0001'
        folded = exp.select(exp.Upper(this=exp.Trim(this=exp.column(key))).as_("k")).distinct().from_(customers.copy())
        select = select.join(folded.subquery("folded"), on=exp.column("k", table="folded").eq(exp.Upper(this=exp.Trim(this=row_key.copy()))), join_type="left")
    return select.where(exp.Not(this=exp.Exists(this=known)))


def orphan_rows(loaded: LoadedProject, backend: Backend, only: set[str] | None = None) -> list[OrphanRows]:
    """Each source (of `only`, when given) with rows that match no customer (none when every row has one).

    Every plan asks, and almost always no row is an orphan: the count is one anti-join; only the
    sources with orphans are asked again how many match a key ignoring case (a join against every
    customer's folded key, which held ~7 MB more at 100,000 customers × 240,000 rows)."""
    query = orphan_query(loaded, only)
    if query is None:
        return []
    found = {source: (int(count), example) for source, count, _, example in backend.query(query) if count}
    if not found:
        return []
    folded = orphan_query(loaded, set(found), other_case=True) if _text_key(loaded) else None
    other = {source: int(other or 0) for source, _, other, _ in backend.query(folded)} if folded is not None else {}
    return [OrphanRows(source, count, other.get(source, 0), example, customer_column(loaded.config, source), _joined_through(loaded, source))
            for source, (count, example) in found.items()]


def _joined_through(loaded: LoadedProject, name: str) -> tuple[str, ...]:
    """The joins a source's customer column comes through (a line's customer is its order's)."""
    source = loaded.config.sources[name]
    column = customer_column(loaded.config, name)
    if column is None or column in source.columns:
        return ()
    return tuple(f"`{own}` has no row in `{target}`" for target, own in source.join.items() if column in loaded.config.sources[target].columns)


@dataclass(frozen=True)
class UnmatchedLookup:
    """`rows` rows of `source` whose `column` names no row of the joined `target`: the columns the
    join adds are NULL for them (a SUM skips them), which nothing else would say."""

    source: str
    column: str
    target: str
    rows: int
    example: str

    def message(self, added: list[str]) -> str:
        shown = ", ".join(f"`{c}`" for c in added[:3]) + (" …" if len(added) > 3 else "")
        return (f"source {self.source}: {self.rows:,} row(s) have a `{self.column}` that matches no row of `{self.target}`, e.g. {self.example!r}; "
                f"their {shown} {'is' if len(added) == 1 else 'are'} NULL")


def unmatched_lookup_query(loaded: LoadedProject, only: set[str] | None = None) -> exp.Expression | None:
    """One query (a UNION ALL, one branch per `join:` entry) counting each source's rows whose join
    column is set but matches no row of the target; None when no source joins anything."""
    branches = []
    for name, source in declared_sources(loaded.config).items():
        if only is not None and not {name, *source.join} <= only:
            continue  # a load that did not load the lookup has nothing to match against
        customer = customer_column(loaded.config, name)
        for target_name, column in source.join.items():
            target = loaded.config.sources[target_name]
            if customer is not None and customer not in source.columns and customer in target.columns:
                continue  # the customer comes through this join: its misses are orphan rows, said above
            value = exp.column(column.lower(), table="s")
            known = exp.select(exp.Literal.number(1)).from_(exp.alias_(table(target.table), "t", table=True)).where(exp.column((unique_key(target) or "").lower(), table="t").eq(value.copy()))
            branches.append(exp.select(
                exp.Literal.string(name).as_("source"), exp.Literal.string(target_name).as_("target"),
                exp.Count(this=exp.Star()).as_("unmatched_rows"), exp.cast(exp.Min(this=value.copy()), "VARCHAR").as_("example"),
            ).from_(aliased(source_relation(loaded.config, name), "s")).where(exp.and_(value.copy().is_(exp.null()).not_(), exp.Not(this=exp.Exists(this=known)))))
    if not branches:
        return None
    query = branches[0]
    for branch in branches[1:]:
        query = exp.union(query, branch, distinct=False)
    return query


def unmatched_lookups(loaded: LoadedProject, backend: Backend, only: set[str] | None = None) -> list[tuple[str, str]]:
    """(source, message) for each join with rows that match no row of its target."""
    query = unmatched_lookup_query(loaded, only)
    if query is None:
        return []
    found = []
    for source, target, count, example in backend.query(query):
        if count:
            column = loaded.config.sources[source].join[target]
            added = [c for c in loaded.config.sources[target].columns if c != unique_key(loaded.config.sources[target])]
            found.append((source, UnmatchedLookup(source, column, target, int(count), example).message(added)))
    return found
