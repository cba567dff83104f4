"""Sources are checked before anything is applied: every source table exists on the target with its
declared columns, at compatible types. A problem is an ERROR step of the plan, so `plan` exits 1 and
`apply` changes nothing."""

from __future__ import annotations

from sqlglot import exp

from engine.config.enrichments import declared_sources
from engine.config.source_keys import join_targets, unique_key
from engine.backends.base import Backend
from engine.config.expression_types import UNKNOWN, category
from engine.compile.objects import table
from engine.config.models import Source
from engine.config.project import LoadedProject
from engine.core.errors import did_you_mean
from engine.plan.model import Action, Step

# How an engine spells a column type → the category rulectl compares. The Snowflake backend reports
# the internal names SHOW COLUMNS used (FIXED, REAL, TEXT, TIMESTAMP_NTZ; see
# SnowflakeBackend._schema_columns), also when it reads INFORMATION_SCHEMA.COLUMNS.
ENGINE_TYPE_NAMES = {"FIXED": "NUMBER", "REAL": "DOUBLE", "TEXT": "VARCHAR"}


def type_category(type_text: str, dialect: str) -> str:
    name = ENGINE_TYPE_NAMES.get(type_text.strip().upper(), type_text)
    try:
        return category(exp.DataType.build(name, dialect=dialect))
    except Exception:
        return UNKNOWN


def source_steps(loaded: LoadedProject, backend: Backend) -> list[Step]:
    """One ERROR step per missing table, missing column, incompatible type or repeated key (none
    when all is well)."""
    steps, sources, found = _shape(loaded, backend)
    # keys that must be unique: a key-grain source's, and the key every `join:` target is joined on
    targets = join_targets(loaded.config)
    unique = {t for t, (name, source) in sources.items() if source.key or source.lookup or name in targets}
    checkable = {t: ns for t, ns in sources.items() if t in unique and unique_key(ns[1]) and t in found and not any(step.qualified_name == t for step in steps)}
    return steps + key_steps(backend, checkable)


def shape_steps(loaded: LoadedProject, backend: Backend) -> list[Step]:
    """source_steps without the key check (one catalog query per schema, no scan of the data):
    enough for a command that only reads the sources to say why it cannot."""
    return _shape(loaded, backend)[0]


def _shape(loaded: LoadedProject, backend: Backend) -> tuple[list[Step], dict[str, tuple[str, Source]], dict[str, dict[str, str]]]:
    # sources made from enrichments are tables rulectl creates itself, not inputs to check
    sources = {source.table.upper(): (name, source) for name, source in declared_sources(loaded.config).items()}
    found = backend.source_columns(list(sources))
    steps: list[Step] = []
    for table_name, (name, source) in sources.items():
        columns = found.get(table_name)
        if columns is None:
            steps.append(_error(table_name, f"source `{name}`: table {table_name} does not exist on this target; {backend.missing_source_hint}"))
            continue
        for column, declared in source.columns.items():
            actual = columns.get(column.lower())
            if actual is None:
                hint = did_you_mean(column, columns)
                steps.append(_error(table_name, f"source `{name}`: column `{column}` is declared in rulectl.yml but {table_name} has no such column{hint} (it has: {', '.join(columns)})"))
                continue
            wanted, got = type_category(declared, "snowflake"), type_category(actual, backend.dialect)
            if UNKNOWN not in (wanted, got) and wanted != got:
                steps.append(_error(table_name, f"source `{name}`: column `{column}` is declared `{declared}` ({wanted}) but {table_name} has it as {actual} ({got}); fix the type in rulectl.yml or the table"))
    return steps, sources, found


def key_steps(backend: Backend, sources: dict[str, tuple[str, Source]]) -> list[Step]:
    """An ERROR step per key-grain source whose key repeats or is NULL, in one query for all.

    A repeated key is a customer counted twice in every view, and on Snowflake it makes the refresh
    MERGE fail at its next update (a target row matched by two source rows:
    https://docs.snowflake.com/en/sql-reference/sql/merge#duplicate-join-behavior); a NULL key never
    matches its stored output, so its customer is sent to the model again at every run."""
    if not sources:
        return []
    parts = [_repeated_keys(table_name, unique_key(source), index) for index, (table_name, (_, source)) in enumerate(sources.items())]
    union: exp.Query = parts[0]
    for part in parts[1:]:
        union = exp.Union(this=union, expression=part, distinct=False)
    found: dict[str, list[tuple]] = {}
    for table_name, key_value, count in backend.query(union):
        found.setdefault(table_name, []).append((key_value, int(count)))
    steps = []
    for table_name, repeats in found.items():
        name, source = sources[table_name]
        shown = ", ".join("NULL" + (f" ({n} rows)" if n > 1 else "") if key is None else f"{key} ({n} rows)" for key, n in repeats)
        if source.key:
            steps.append(_error(table_name, f"source `{name}`: `{source.key}` must identify one customer per row, but {table_name} has {shown}; fix the table, or declare the source with `grain:` if it has several rows per customer"))
        else:  # a join target: a repeated key would repeat every row that joins it (a total counted twice)
            steps.append(_error(table_name, f"source `{name}`: `{unique_key(source)}` must identify one row, because other sources `join:` on it, but {table_name} has {shown}; "
                                            "a repeated key would count the rows that join it twice: fix the table"))
    return steps


def _repeated_keys(table_name: str, key: str, index: int) -> exp.Select:
    """Up to 3 key values of `table_name` that repeat or are NULL, most repeated first."""
    column = exp.column(key)
    count = exp.func("COUNT", exp.Star())
    worst = (
        exp.select(exp.alias_(exp.Literal.string(table_name), "source_table"), exp.alias_(exp.cast(column.copy(), "VARCHAR"), "key_value"), exp.alias_(count, "row_count"))
        .from_(table(table_name))
        .group_by(column.copy())
        .having(exp.or_(count.copy() > exp.Literal.number(1), column.copy().is_(exp.null())))
        .order_by(exp.Ordered(this=exp.column("row_count"), desc=True))
        .limit(3)
    )
    return exp.select(exp.Star()).from_(exp.Subquery(this=worst, alias=exp.TableAlias(this=exp.to_identifier(f"k{index}"))))


def _error(table_name: str, message: str) -> Step:
    return Step(Action.ERROR, "source", table_name, None, message)
