"""Checks of how each source reaches its customers and its lookups (config/source_keys.py): the
customer key exists and has the entity key's type, `join:` targets exist, have a one-column key of
the join column's type, and add no column the source already has. Each returns Problems at the
line of the setting to change."""

from __future__ import annotations

from engine.config.enrichments import is_derived
from engine.config.expression_types import UNKNOWN, declared_category
from engine.config.project import LoadedProject
from engine.config.source_keys import customer_column, entity_key_column, entity_source_name, identity_columns, scope_columns, unique_key
from engine.core.errors import Problem, did_you_mean, listed


def check_source_keys(loaded: LoadedProject) -> list[Problem]:
    """Every declared source's joins, then its customer key."""
    problems: list[Problem] = []
    for name in loaded.config.sources:
        if is_derived(loaded.config, name):
            continue  # made by rulectl from its parent, which is checked itself
        join_problems = _check_joins(loaded, name)
        problems += join_problems
        if not join_problems:  # the customer key may come through a join: check that once joins are right
            problems += _check_customer_key(loaded, name) + _check_scored_rows(loaded, name)
    return problems


def _check_scored_rows(loaded: LoadedProject, name: str) -> list[Problem]:
    """Sentiment scores are kept per row (identity columns) and find their customer through the
    source at read time (config/enrichments.derived_source): through its one-column grain when
    the customer key is not among the identity columns."""
    project = loaded.config
    source = project.sources[name]
    if source.enrich is None or source.enrich.sentiment is None:
        return []
    column = customer_column(project, name)
    if column is None or column in identity_columns(source):
        return []
    if column in source.columns and unique_key(source) is not None:
        return []
    return [loaded.project.problem(
        f"sentiment scores of `{name}` are kept per {' and '.join(identity_columns(source))} and need the customer's `{column}` beside them: "
        f"put `{column}` in `grain:`, or give the source a one-column grain with `{column}` among its own columns", "sources", name, "enrich")]


def _check_joins(loaded: LoadedProject, name: str) -> list[Problem]:
    project = loaded.config
    source = project.sources[name]
    problems: list[Problem] = []
    at = lambda message, *path: loaded.project.problem(f"source `{name}`, `join`: {message}", "sources", name, "join", *path)  # noqa: E731
    if source.join and source.lookup is not None:
        return [at("a lookup is read through the sources that join it and cannot join others itself; join both lookups from the source that reads them")]
    if source.join and name == entity_source_name(project):
        return [at(f"`{name}` lists the customers and is read as it is; join lookups from a source with `grain:` (or put the looked-up value in `{name}`)")]
    seen = {column.lower(): name for column in source.columns}  # column → the source that gives it
    types = {column.lower(): kind for column, kind in source.columns.items()}
    for target_name, column in source.join.items():
        target = project.sources.get(target_name)
        if target is None or is_derived(project, target_name) or target_name == name:
            others = [n for n in project.sources if n != name and not is_derived(project, n)]
            problems.append(at(f"`{target_name}` is not a source this one can join{did_you_mean(target_name, others)}{listed(others, 'sources')}", target_name))
            continue
        key = unique_key(target)
        if key is None:
            problems.append(at(
                f"`{target_name}` has several rows per {' and '.join(identity_columns(target))}, so joining it would repeat rows of `{name}`; "
                f"join a source with one row per value: a `lookup: {{key: …}}`, a `key:`, or a one-column `grain:`", target_name))
            continue
        if column.lower() not in seen:  # its own column, or one an earlier join added
            problems.append(at(f"`{column}` is not a column of `{name}`{did_you_mean(column, list(types))}; give the column of `{name}` that holds the `{key}` of `{target_name}`", target_name))
            continue
        mine, theirs = declared_category(types[column.lower()]), declared_category(target.columns[key])
        if UNKNOWN not in (mine, theirs) and mine != theirs:
            problems.append(at(f"`{column}` is {types[column.lower()]} but the `{key}` of `{target_name}` is {target.columns[key]}; no row would ever match: declare both with the same type", target_name))
        for added in (c for c in target.columns if c != key):
            if added.lower() in seen:
                giver = seen[added.lower()]
                problems.append(at(
                    f"`{target_name}` would add column `{added}`, which the rows of `{name}` already have" + (f" from `{giver}`" if giver != name else "") +
                    f"; leave `{added}` out of the `columns:` of the source you do not read it from", target_name))
            seen.setdefault(added.lower(), target_name)
            types.setdefault(added.lower(), target.columns[added])
    return problems


def _check_customer_key(loaded: LoadedProject, name: str) -> list[Problem]:
    project = loaded.config
    source = project.sources[name]
    if source.lookup is not None:
        return []
    entity = entity_source_name(project)
    entity_key = entity_key_column(project)
    key_type = next((t for c, t in project.sources[entity].columns.items() if c.lower() == entity_key), "")
    scope = scope_columns(project, name)
    where = ("customer_key",) if source.customer_key else ("key",) if source.key else ("grain",)
    at = lambda message: loaded.project.problem(message, "sources", name, *where)  # noqa: E731
    column = customer_column(project, name)
    if source.customer_key is not None and source.customer_key not in scope:
        return [at(f"`customer_key`: `{source.customer_key}` is not a column of `{name}`{did_you_mean(source.customer_key, list(scope))}; name the column that holds the customer's `{entity_key}`")]
    if column is None:
        return [at(
            f"source `{name}` has no column with the customer's key: its columns do not include `{entity_key}` (the key of `{entity}`); "
            f"name the column that holds it, e.g. `customer_key: account_id`, or join the source that has it (`join:`)")]
    declared = scope[column]
    mine, theirs = declared_category(declared), declared_category(key_type)
    if UNKNOWN not in (mine, theirs) and mine != theirs:
        return [at(
            f"`{column}` is {declared} but the customer key `{entity_key}` of `{entity}` is {key_type}; its rows would match no customer: "
            f"declare `{column}` as {key_type} (rulectl reads the table with the types you declare)")]
    clash = next((c for c in scope if c.lower() == entity_key), None)
    if column.lower() != entity_key and clash is not None:
        return [at(
            f"`{name}` has a column `{clash}` too, but its customer is in `{column}`; rulectl shows the customer as `{entity_key}`, "
            f"so leave `{clash}` out of the source's `columns:` (or make it the customer key)")]
    return []
