"""SQL text of compiled objects for a target's dialect, as `rulectl compile` shows it."""

from __future__ import annotations

from collections.abc import Iterator

from engine.backends.base import owner_tag
from engine.backends.registry import date_columns, fixed_point_scales, target_name
from engine.compile.objects import DesiredObject
from engine.compile.project import compile_project
from engine.config.project import LoadedProject


def compiled_sql(loaded: LoadedProject, requested_target: str | None) -> Iterator[tuple[DesiredObject, str]]:
    """Each object with the SQL its target runs: DuckDB SQL after rulectl's fixes locally; on
    Snowflake the first-deploy DDL apply issues (COMMENT tag included; tasks as CREATE TASK … AS MERGE)."""
    name = target_name(loaded, requested_target)
    engine = loaded.config.targets[name].engine
    objects = compile_project(loaded, name)
    if engine == "duckdb":
        from engine.backends.duckdb import render_duckdb
        from engine.backends.duckdb_fixes import FixContext

        context = FixContext(date_columns(loaded), fixed_point_scales=fixed_point_scales(loaded))
        for obj in objects:
            yield obj, render_duckdb(obj.statement, context, pretty=True)
        return
    from engine.backends.snowflake import SnowflakeBackend

    ddl = SnowflakeBackend(connection=None, database=loaded.config.targets[name].database or "")
    for obj in objects:
        yield obj, _snowflake_ddl(ddl, obj, owner_tag(loaded.config.name, obj.fingerprint))


def _snowflake_ddl(ddl, obj: DesiredObject, comment: str) -> str:
    if obj.kind == "view":
        statement = ddl.view_statements(obj, comment, exists=False)[0]
    elif obj.kind == "table":
        statement = ddl.table_statements(obj, comment)[0]
    elif obj.kind == "task":
        statement = ddl.task_create(obj, comment, pretty=True)
    else:
        statement = obj.statement
    return ddl.to_sql(statement, pretty=True)
