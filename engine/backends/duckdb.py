"""The local target: an embedded DuckDB file running the compiled Snowflake SQL.

Snowflake-dialect ASTs are transpiled by sqlglot after rulectl's own fixes (duckdb_fixes), so one
compiler serves both targets and the differences live here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from engine.backends.base import Backend, DeployedObject, DeployedState, ManagedRecord
from engine.backends.duckdb_fixes import FixContext, apply_fixes, modern_lambda_syntax
from engine.errors import RulectlError

STATE_SCHEMA = "_RULECTL"


def render_duckdb(tree: exp.Expression, context: FixContext, pretty: bool = False) -> str:
    """Snowflake-dialect AST → DuckDB SQL with Snowflake semantics (rulectl's fixes applied)."""
    fixed = apply_fixes(tree, context)
    sql = fixed.sql(dialect="duckdb", pretty=pretty)
    if "->" in sql:  # sqlglot writes lambdas while generating; DuckDB 2 wants `lambda x: …`
        sql = modern_lambda_syntax(sqlglot.parse_one(sql, read="duckdb")).sql(dialect="duckdb", pretty=pretty)
    return sql


class DuckDBBackend(Backend):
    """DuckDB file target. `date_columns` names the DATE columns of the sources (for fixes)."""

    dialect = "duckdb"

    def __init__(self, path: str | Path, date_columns: frozenset[str] = frozenset(), read_only: bool = False):
        super().__init__()
        self.path = Path(path)
        self.context = FixContext(date_columns=date_columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                raise RulectlError(f"{self.path} is in use by another rulectl process (another apply or run?); wait for it to finish and try again") from None
            raise RulectlError(f"cannot open the local database {self.path}: {error}") from None

    def to_sql(self, tree: exp.Expression) -> str:
        return render_duckdb(tree, self.context)

    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        result = self.connection.execute(sql)
        try:
            return result.fetchall()
        except duckdb.InvalidInputException:
            return []  # statements without a result set

    def close(self) -> None:
        self.connection.close()

    # ------------------------------------------------------------ introspection

    def introspect(self, schemas: Sequence[str]) -> DeployedState:
        wanted = exp.Tuple(expressions=[exp.Literal.string(s.upper()) for s in schemas])
        schema_filter = f"upper(schema_name) IN {wanted.sql('duckdb')} AND database_name = current_database()"
        objects: dict[tuple[str, str], DeployedObject] = {}
        queries = 0
        for (name,) in self.query(f"SELECT schema_name FROM duckdb_schemas() WHERE {schema_filter}"):
            objects[("schema", name.upper())] = DeployedObject("schema", name.upper(), name.upper())
        views = self.query(f"SELECT schema_name, view_name, comment, sql FROM duckdb_views() WHERE NOT internal AND {schema_filter}")
        for schema, name, comment, sql in views:
            obj = DeployedObject("view", schema.upper(), name.upper(), comment or None, sql)
            objects[("view", obj.qualified_name)] = obj
        tables = self.query(
            "SELECT t.schema_name, t.table_name, t.comment, list(c.column_name || ' ' || c.data_type ORDER BY c.column_index) "
            "FROM duckdb_tables() t JOIN duckdb_columns() c ON c.table_oid = t.table_oid "
            f"WHERE t.{schema_filter.replace('schema_name', 't.schema_name').replace('database_name', 't.database_name').replace('t.t.', 't.')} "
            "GROUP BY ALL"
        )
        for schema, name, comment, columns in tables:
            parsed = tuple(tuple(col.split(" ", 1)) for col in columns)
            obj = DeployedObject("table", schema.upper(), name.upper(), comment or None, None, parsed)  # type: ignore[arg-type]
            objects[("table", obj.qualified_name)] = obj
        queries = 3
        records: dict[tuple[str, str], ManagedRecord] = {}
        if self._has_state_schema():
            queries += 2
            for kind, qualified, fingerprint, definition_hash, plan_id in self.query(
                f"SELECT kind, qualified_name, fingerprint, definition_hash, plan_id FROM {STATE_SCHEMA}.OBJECTS"
            ):
                records[(kind, qualified)] = ManagedRecord(kind, qualified, fingerprint, definition_hash, plan_id)
            for schema, name, comment, definition, state in self.query(
                f"SELECT schema_name, task_name, comment, definition, state FROM {STATE_SCHEMA}.TASKS"
            ):
                obj = DeployedObject("task", schema, name, comment, definition, (), state)
                objects[("task", obj.qualified_name)] = obj
        queries += 1
        return DeployedState(objects, records, queries)

    def _has_state_schema(self) -> bool:
        rows = self.query(f"SELECT count(*) FROM duckdb_tables() WHERE schema_name = '{STATE_SCHEMA}' AND table_name = 'OBJECTS'")
        return bool(rows[0][0])
