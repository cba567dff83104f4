"""SQL text of compiled objects for a target's dialect, as `rulectl compile` shows it."""

from __future__ import annotations

from collections.abc import Iterator

from engine.backends.registry import date_columns, target_name
from engine.compile.objects import DesiredObject
from engine.compile.project import compile_project
from engine.config.loader import LoadedProject


def compiled_sql(loaded: LoadedProject, requested_target: str | None) -> Iterator[tuple[DesiredObject, str]]:
    name = target_name(loaded, requested_target)
    engine = loaded.config.targets[name].engine
    for obj in compile_project(loaded, name):
        if engine == "duckdb":
            from engine.backends.duckdb import render_duckdb
            from engine.backends.duckdb_fixes import FixContext

            yield obj, render_duckdb(obj.statement, FixContext(date_columns(loaded)), pretty=True)
        else:
            yield obj, obj.sql(pretty=True)
