"""How a source's rows reach a customer: the one home of "which column holds the customer key" and
"which columns a source's rows have" once its `join:` lookups are added.

A source is one of three kinds (docs/decisions.md, "Sources at their own grain, and lookups"):
- `key:` — one row per customer; the key is the customer key (the entity's, or another name);
- `grain:` — several rows per customer; the customer key is the column named like the entity's
  key, or the one `customer_key:` names (it may arrive through a `join:`);
- `lookup: {key: …}` — no customers; one row per key value, read only through other sources' `join:`.

`join: {rates: currency}` adds the columns of `rates` (all but its key) to the source's rows, joined
on the source's `currency` = the lookup's key. A join target has a one-column unique key (a lookup's
key, a `key:`, or a one-column grain) checked at load and in plan, so a join never adds rows.
"""

from __future__ import annotations

from engine.config.models import Project, Source


def entity_source_name(project: Project) -> str:
    """The source that lists every customer exactly once: `entity:`, else the first key-grain source."""
    entity = project.entity
    if entity and entity in project.sources and project.sources[entity].key:
        return entity
    return next(name for name, source in project.sources.items() if source.key)


def entity_key_column(project: Project) -> str:
    return (project.sources[entity_source_name(project)].key or "").lower()


def unique_key(source: Source) -> str | None:
    """The one column whose value picks at most one row of `source`, if it has one: a lookup's key,
    a `key:`, or a one-column grain. Only such sources can be joined (a join must not add rows)."""
    if source.lookup is not None:
        return source.lookup.key
    if source.key is not None:
        return source.key
    if source.grain is not None and len(source.grain) == 1:
        return source.grain[0]
    return None


def identity_columns(source: Source) -> list[str]:
    """The columns that identify one row: the key, the grain, or the lookup key."""
    if source.lookup is not None:
        return [source.lookup.key]
    return [source.key] if source.key else list(source.grain or [])


def joined_columns(project: Project, name: str) -> dict[str, str]:
    """Column → type of what the source's `join:` targets add to its rows (their key excluded: it
    equals the source's own join column). Targets that do not exist add nothing (validate says so)."""
    columns: dict[str, str] = {}
    for target_name in project.sources[name].join:
        target = project.sources.get(target_name)
        if target is None:
            continue
        key = unique_key(target)
        columns.update({column: kind for column, kind in target.columns.items() if column != key and column not in columns})
    return columns


def scope_columns(project: Project, name: str) -> dict[str, str]:
    """Every column a metric on `name` may read: its own, then those its joins add."""
    source = project.sources[name]
    return {**source.columns, **{c: t for c, t in joined_columns(project, name).items() if c not in source.columns}}


def customer_column(project: Project, name: str) -> str | None:
    """The column of `name`'s rows (own or joined) that holds the customer key; None for a lookup,
    or when there is none (validate reports that)."""
    source = project.sources[name]
    if source.lookup is not None:
        return None
    if source.key is not None:
        return source.key
    if source.customer_key is not None:
        return source.customer_key
    key = entity_key_column(project)
    return next((column for column in scope_columns(project, name) if column.lower() == key), None)


def customer_sources(project: Project) -> dict[str, Source]:
    """Every source whose rows belong to customers (all but lookups)."""
    return {name: source for name, source in project.sources.items() if source.lookup is None}


def join_targets(project: Project) -> set[str]:
    """Sources some other source joins: their key must stay unique (checked at load and in plan)."""
    return {target for source in project.sources.values() for target in source.join}


def needs_relation(project: Project, name: str) -> bool:
    """False when the source's table can be read as it is: no joins, and its customer key (if any)
    is a column named like the entity's key. Else compile reads it through a subquery
    (compile/source_rows.py) that adds the joined columns and names the customer key like the entity's."""
    source = project.sources[name]
    if source.join:
        return True
    column = customer_column(project, name)
    return column is not None and column.lower() != entity_key_column(project)
