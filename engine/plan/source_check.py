"""Sources are checked before anything is applied: every source table exists on the target with its
declared columns, at compatible types. A problem is an ERROR step of the plan, so `plan` exits 1 and
`apply` changes nothing."""

from __future__ import annotations

from sqlglot import exp

from engine.config.enrichments import declared_sources
from engine.backends.base import Backend
from engine.config.expression_types import UNKNOWN, category
from engine.config.project import LoadedProject
from engine.errors import did_you_mean
from engine.plan.model import Action, Step

# How an engine spells a column type → the category rulectl compares. Snowflake's SHOW COLUMNS
# reports internal names (https://docs.snowflake.com/en/sql-reference/sql/show-columns: data_type
# is JSON whose `type` is e.g. FIXED, REAL, TEXT, TIMESTAMP_NTZ).
ENGINE_TYPE_NAMES = {"FIXED": "NUMBER", "REAL": "DOUBLE", "TEXT": "VARCHAR"}


def type_category(type_text: str, dialect: str) -> str:
    name = ENGINE_TYPE_NAMES.get(type_text.strip().upper(), type_text)
    try:
        return category(exp.DataType.build(name, dialect=dialect))
    except Exception:
        return UNKNOWN


def source_steps(loaded: LoadedProject, backend: Backend) -> list[Step]:
    """One ERROR step per missing table, missing column or incompatible type (none when all is well)."""
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
    return steps


def _error(table_name: str, message: str) -> Step:
    return Step(Action.ERROR, "source", table_name, None, message)
