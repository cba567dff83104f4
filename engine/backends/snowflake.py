"""The production target: Snowflake through snowflake-connector-python.

Introspection uses SHOW … IN SCHEMA (views, tables, tasks) and <db>.INFORMATION_SCHEMA.COLUMNS
(columns: SHOW COLUMNS stops at 10,000 rows), one query per schema and kind, plus SHOW SCHEMAS and
rulectl's own records — a count that does not grow with the number of objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    import pyarrow as pa

from engine.backends.base import LOCK_TABLE, AccountUsage, STATE_SCHEMA, Backend, DeployedObject, DoctorCheck, DeployedState, ManagedRecord, RunResult, TaskRuns, run_log_finish, run_log_pending, run_log_start, utc_timestamp_text
from engine.compile.cortex_calls import ERROR_ALIAS, CortexCall, check_error, check_query, completion_calls, embedding_call, first_pending_error_query
from engine.compile.objects import DesiredObject, table
from engine.compile.prompts import schedule_literal
from engine.compile.refresh_batches import DEFAULT_BATCH_ROWS, batch_merge, pending_count_query
from engine.config.project import LoadedProject
from engine.core.errors import RulectlError


# Session parameters every refresh task runs with. A task's session takes the account's TIMEZONE
# (America/Los_Angeles unless changed), and CURRENT_DATE "The returned date is in the time zone for
# the session" (https://docs.snowflake.com/en/sql-reference/functions/current_date), so near
# midnight the metrics views the MERGE reads (days_to_renewal, tenure…) would disagree with
# `plan`, `run` and the local target, which all work in UTC. CREATE TASK takes
# `[ <session_parameter> = <value> [ , … ] ]` after SCHEDULE/CONFIG and before COMMENT, and
# "A CREATE OR ALTER TASK statement follows the syntax rules of a CREATE TASK statement"; its
# supported alterations include "Change task properties and parameters"
# (https://docs.snowflake.com/en/sql-reference/sql/create-task). TIMEZONE takes an IANA name:
# https://docs.snowflake.com/en/sql-reference/parameters#timezone
TASK_SESSION_PARAMETERS: tuple[tuple[str, str], ...] = (("TIMEZONE", "UTC"),)
# The format of the timestamps rulectl writes into its own records: a CAST of text would be read with
# the account's TIMESTAMP_INPUT_FORMAT (AUTO unless someone set it), so the format is given explicitly.
# https://docs.snowflake.com/en/sql-reference/functions/to_timestamp (TO_TIMESTAMP_NTZ( <string_expr> [, <format> ] ));
# FF6 is fractional seconds with six digits:
# https://docs.snowflake.com/en/sql-reference/date-time-input-output#about-the-elements-used-in-input-and-output-formats
TIMESTAMP_FORMAT = "YYYY-MM-DD HH24:MI:SS.FF6"


class SnowflakeBackend(Backend):
    dialect = "snowflake"
    # https://docs.snowflake.com/en/user-guide/snowflake-cortex/cross-region-inference (a model not in
    # the account's region) and the SNOWFLAKE.CORTEX_USER database role
    failing_calls_advice = "check the model's region and the CORTEX_USER role with `rulectl doctor` (`rulectl run` shows Snowflake's error)"

    def __init__(self, connection: Any, database: str, semantic_views: bool = False):
        super().__init__()
        self.connection = connection
        self.database = database.upper()
        # only a target with `semantic_view: true` is asked for them: one more SHOW per schema
        self.semantic_views = semantic_views
        self._connection_warehouse: str | None = None  # asked on first use

    @classmethod
    def for_rendering(cls, loaded: LoadedProject, target: str) -> "SnowflakeBackend":
        return cls(connection=None, database=loaded.config.targets[target].database or "")

    @classmethod
    def from_target(cls, loaded: LoadedProject, target: str, read_only: bool = False) -> "SnowflakeBackend":
        from engine.backends.snowflake_config import read_connection

        settings = loaded.config.targets[target]
        connection_settings = read_connection(settings.connection)
        connection = cls.connect(connection_settings, settings.database, settings.warehouse, settings.role)
        return cls(connection, settings.database or "", semantic_views=settings.semantic_view)

    @classmethod
    def from_connection(cls, name: str, database: str | None) -> tuple["SnowflakeBackend", str]:
        """A backend on a named connection before any project exists (`init --from-target
        snowflake:NAME[/DATABASE]`), and the database it reads: the given one, else the connection's."""
        from engine.backends.snowflake_config import read_connection

        settings = read_connection(name)
        database = database or str(settings.parameters.get("database") or "")
        if not database:
            raise RulectlError(f"connection `{settings.name}` from {settings.source} names no database; write --from-target snowflake:{settings.name}/DATABASE")
        return cls(cls.connect(settings, database, None, None), database), database

    @staticmethod
    def connect(connection_settings, database: str | None, warehouse: str | None, role: str | None):
        """snowflake.connector.connect with the resolved settings; one line naming the connection on failure."""
        from engine.backends.snowflake_config import connect_arguments

        arguments = connect_arguments(connection_settings, database, warehouse, role)
        try:
            import snowflake.connector

            return snowflake.connector.connect(**arguments)
        except Exception as error:  # the connector's message names the problem, never the secret
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise RulectlError(f"cannot connect with connection `{connection_settings.name}` from {connection_settings.source}: {message}") from None

    # ------------------------------------------------------------ running SQL

    def timestamp_literal(self, at: datetime | None = None) -> exp.Expression:
        """TO_TIMESTAMP_NTZ('<UTC text>', 'YYYY-MM-DD HH24:MI:SS.FF6'): read with its own format, not
        the session's TIMESTAMP_INPUT_FORMAT (see TIMESTAMP_FORMAT). An Anonymous node, so sqlglot
        writes the format as given instead of translating it through strftime codes."""
        return exp.Anonymous(this="TO_TIMESTAMP_NTZ", expressions=[exp.Literal.string(utc_timestamp_text(at)), exp.Literal.string(TIMESTAMP_FORMAT)])

    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        return self._execute(sql)[1]

    def _execute(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names (lower case) and rows of one statement."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql)
            if not cursor.description:
                return [], []
            return [d[0].lower() for d in cursor.description], list(cursor.fetchall())
        finally:
            cursor.close()

    def _run_arrow(self, sql: str) -> pa.Table:
        """The connector's Arrow result keeps Snowflake's types (NUMBER(p, s) as decimal, TIMESTAMP_NTZ
        as timestamp); it returns None for no rows, so an empty result is built from the description.
        https://docs.snowflake.com/en/developer-guide/python-connector/python-connector-api#fetch_arrow_all"""
        import pyarrow as pa

        cursor = self.connection.cursor()
        try:
            cursor.execute(sql)
            names = [d[0].lower() for d in cursor.description or ()]
            result = cursor.fetch_arrow_all()
        finally:
            cursor.close()
        if result is None:
            return pa.table({name: pa.array([], pa.string()) for name in names})
        return result.rename_columns(names)

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        """Run a SHOW command and return its rows keyed by lower-case column name."""
        self.statements.append(sql)
        names, rows = self._execute(sql)
        return [dict(zip(names, row)) for row in rows]

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception:
            pass

    # ------------------------------------------------------------ introspection

    def introspect(self, schemas: Sequence[str]) -> DeployedState:
        before = len(self.statements)
        existing = {row["name"].upper() for row in self._rows(f"SHOW SCHEMAS IN DATABASE {self.database}")}
        objects: dict[tuple[str, str], DeployedObject] = {}
        for schema in (s.upper() for s in schemas):
            if schema not in existing:
                continue
            objects[("schema", schema)] = DeployedObject("schema", schema, schema)
            objects.update(self._views(schema))
            objects.update(self._tables(schema))
            objects.update(self._tasks(schema))
            if self.semantic_views:
                objects.update(self._semantic_views(schema))
        records = self._records() if STATE_SCHEMA in existing else {}
        return DeployedState(objects, records, len(self.statements) - before)

    def source_columns(self, tables: Sequence[str]) -> dict[str, dict[str, str]]:
        """One INFORMATION_SCHEMA.COLUMNS query per schema the sources live in, read from their own
        database (DB.SCHEMA.TABLE) or the target's (SCHEMA.TABLE)."""
        by_schema: dict[tuple[str, str], list[str]] = {}
        for name in tables:
            parts = name.upper().split(".")
            database = parts[0] if len(parts) == 3 else self.database
            by_schema.setdefault((database, parts[-2]), []).append(name)
        found: dict[str, dict[str, str]] = {}
        for (database, schema), names in by_schema.items():
            try:
                columns = self._schema_columns(schema, [n.upper().split(".")[-1] for n in names], database)
            except Exception as error:  # a database that does not exist (or is not visible to the role)
                if "does not exist" not in str(error).lower():
                    raise
                continue
            for name in names:
                if name.upper().split(".")[-1] in columns:
                    found[name] = dict(columns[name.upper().split(".")[-1]])
        return found

    def _schema_columns(self, schema: str, tables: Sequence[str], database: str | None = None) -> dict[str, list[tuple[str, str]]]:
        """Table name → (column, type) in order, for `tables` of one schema, in one query.

        Not SHOW COLUMNS: "Any records above the ten thousand records limit aren't returned, even
        with a filter applied" (https://docs.snowflake.com/en/sql-reference/sql/show-columns), so in
        a large schema real columns went missing. Every database has its own INFORMATION_SCHEMA
        (https://docs.snowflake.com/en/sql-reference/info-schema); its COLUMNS view has no such cap.
        Types are spelled as SHOW COLUMNS spelled them (FIXED, REAL, TEXT, …) so the definition
        hashes recorded by earlier applies still match."""
        if not tables:
            return {}
        names = [exp.Literal.string(t.upper()) for t in tables]
        where = exp.and_(exp.column("table_schema").eq(exp.Literal.string(schema.upper())), exp.column("table_name").isin(*names))
        query = exp.select("table_name", "column_name", "data_type").from_(self.information_schema("COLUMNS", database)).where(where).order_by("table_name", "ordinal_position")
        columns: dict[str, list[tuple[str, str]]] = {}
        for row in self._rows(query.sql("snowflake")):
            kind = str(row.get("data_type") or "").upper()
            columns.setdefault(row["table_name"].upper(), []).append((row["column_name"].lower(), _SHOW_TYPE_NAMES.get(kind, kind)))
        return columns

    def information_schema(self, view: str, database: str | None = None) -> exp.Table:
        """<database>.INFORMATION_SCHEMA.<view>: each database has its own, so a table of another
        database is described by that database's (https://docs.snowflake.com/en/sql-reference/info-schema:
        "Each database created in your account automatically includes a built-in, read-only schema
        named INFORMATION_SCHEMA")."""
        return exp.table_(view.upper(), db="INFORMATION_SCHEMA", catalog=(database or self.database).upper())

    def describe(self, kind: str, qualified_name: str) -> DeployedObject | None:
        """SHOW … LIKE 'NAME' IN SCHEMA: one object, in the row shape introspect reads. LIKE is
        case-insensitive and `_` is a wildcard, so rows are matched by exact name afterwards.
        https://docs.snowflake.com/en/sql-reference/sql/show-views"""
        if kind == "schema":
            rows = self._rows(f"SHOW SCHEMAS LIKE {_like(qualified_name)} IN DATABASE {self.database}")
            found = any(row["name"].upper() == qualified_name.upper() for row in rows)
            return DeployedObject("schema", qualified_name.upper(), qualified_name.upper()) if found else None
        schema, name = qualified_name.upper().split(".")
        like = f" LIKE {_like(name)}"
        found = {"view": self._views, "table": self._tables, "task": self._tasks, "semantic_view": self._semantic_views}[kind](schema, like)
        return found.get((kind, f"{schema}.{name}"))

    def _lock_exists(self) -> bool:
        schema, name = LOCK_TABLE.split(".")
        existing = {row["name"].upper() for row in self._rows(f"SHOW SCHEMAS LIKE {_like(schema)} IN DATABASE {self.database}")}
        if schema not in existing:
            return False
        return any(row["name"].upper() == name for row in self._rows(f"SHOW TABLES LIKE {_like(name)} IN SCHEMA {self.database}.{schema}"))

    def _views(self, schema: str, like: str = "") -> dict:
        found = {}
        for row in self._rows(f"SHOW VIEWS{like} IN SCHEMA {self.database}.{schema}"):
            view = DeployedObject("view", schema, row["name"].upper(), row.get("comment") or None, row.get("text"))
            found[("view", view.qualified_name)] = view
        return found

    def _tables(self, schema: str, like: str = "") -> dict:
        tables = self._rows(f"SHOW TABLES{like} IN SCHEMA {self.database}.{schema}")
        if like and not tables:
            return {}
        columns = self._schema_columns(schema, [row["name"].upper() for row in tables])
        found = {}
        for row in tables:
            name = row["name"].upper()
            table_obj = DeployedObject("table", schema, name, row.get("comment") or None, None, tuple(columns.get(name, ())))
            found[("table", table_obj.qualified_name)] = table_obj
        return found

    def _semantic_views(self, schema: str, like: str = "") -> dict:
        """SHOW SEMANTIC VIEWS gives name and comment (the owner tag), not the definition.
        https://docs.snowflake.com/en/sql-reference/sql/show-semantic-views"""
        found = {}
        for row in self._rows(f"SHOW SEMANTIC VIEWS{like} IN SCHEMA {self.database}.{schema}"):
            view = DeployedObject("semantic_view", schema, row["name"].upper(), row.get("comment") or None)
            found[("semantic_view", view.qualified_name)] = view
        return found

    def _tasks(self, schema: str, like: str = "") -> dict:
        found = {}
        for row in self._rows(f"SHOW TASKS{like} IN SCHEMA {self.database}.{schema}"):
            # SHOW TASKS: state is lower case ('started'/'suspended'); predecessors is a JSON list of
            # quoted names; booleans come as 'true'/'false' strings.
            # https://docs.snowflake.com/en/sql-reference/sql/show-tasks
            predecessors = _json_list(row.get("predecessors"))
            definition = "\n".join(
                [f"schedule={row.get('schedule') or ''}", f"warehouse={(row.get('warehouse') or '').upper()}", f"after={','.join(predecessors)}", row.get("definition") or ""]
            )
            state = (row.get("state") or "").lower()
            task = DeployedObject("task", schema, row["name"].upper(), row.get("comment") or None, definition, (), state)
            found[("task", task.qualified_name)] = task
        return found

    def _records(self) -> dict:
        records = {}
        for kind, qualified, fingerprint, definition_hash, plan_id, applied_sql in self.query(
            f"SELECT kind, qualified_name, fingerprint, definition_hash, plan_id, applied_sql FROM {STATE_SCHEMA}.OBJECTS"
        ):
            records[(kind, qualified.upper())] = ManagedRecord(kind, qualified.upper(), fingerprint, definition_hash, plan_id, applied_sql)
        return records

    # ------------------------------------------------------------ tasks

    def backend_stamp(self, obj: DesiredObject) -> str:
        """Tasks: a stamp of the CREATE TASK and the Scripting block this backend wraps around the
        compiled MERGE (see `task_wrapper_stamp`); other objects are deployed as compiled."""
        return self.task_wrapper_stamp if obj.kind == "task" else ""

    @cached_property
    def task_wrapper_stamp(self) -> str:
        """A hash of the task DDL this backend writes for fixed sample MERGEs, covering every option
        that shapes it (named warehouse or serverless, batch size given or default, a pending query
        with and without ORDER BY/LIMIT). The MERGE itself is fingerprinted by compile; this covers
        the rest of what Snowflake runs, so an upgrade that changes the wrapper (the run log, the
        batching loop, the EXECUTE IMMEDIATE quoting) redeploys every task instead of planning "no
        changes" while the old wrapper keeps running. Built once per backend, from samples only: no
        query is sent and no project MERGE is built.

        The same for every backend of a class whose wrapper code is the same (the samples name their
        warehouse, so the connection plays no part): computed once per process (~0.1 s), keyed by the
        methods that write the DDL, so a subclass or a patched method (the tests' newer wrapper) is
        stamped anew."""
        cls = type(self)
        key = (cls, cls.task_create, cls.task_body, cls.refresh_script, cls.task_warehouse, cls.to_sql, self.task_session_parameters())
        if key not in _WRAPPER_STAMPS:
            _WRAPPER_STAMPS[key] = self._wrapper_stamp()
        return _WRAPPER_STAMPS[key]

    def _wrapper_stamp(self) -> str:
        digest = hashlib.sha256()
        for merge in _wrapper_sample_merges():
            for options in _WRAPPER_SAMPLE_OPTIONS:
                for details in ({"prompt": "stamp"}, {"prompt": "stamp", "enrichment": "embedding"}):  # scripted, and the bare MERGE
                    sample = DesiredObject("task", "S", "REFRESH_STAMP", merge, (), (), options, details=details)
                    digest.update(self.to_sql(self.task_create(sample, "rulectl:stamp:0")).encode())
        return digest.hexdigest()[:16]

    def task_statements(self, obj: DesiredObject, comment: str, exists: bool) -> list[exp.Expression | str]:
        """Suspend → alter in place → resume (when declared started); a new task is created suspended.

        CREATE OR REPLACE TASK would make a new object and drop the grants other roles hold on it
        (CREATE TASK has no COPY GRANTS), so an existing task is changed with CREATE OR ALTER TASK,
        which keeps the object, its grants and its run history.
        https://docs.snowflake.com/en/sql-reference/sql/create-task (CREATE OR ALTER TASK)
        rulectl's refresh tasks are standalone roots (no predecessors), so "suspend the root first,
        resume children first" reduces to suspend → alter → resume.
        https://docs.snowflake.com/en/user-guide/tasks-graphs (a root must be suspended to change its graph)
        """
        name = obj.qualified_name
        statements: list[exp.Expression | str] = [task_command("ALTER", name, "SUSPEND", if_exists=True)] if exists else []
        statements.append(self.task_create(obj, comment, or_alter=exists))
        if dict(obj.options).get("state", "started") == "started":
            statements.append(task_command("ALTER", name, "RESUME"))
        return statements

    def task_create(self, obj: DesiredObject, comment: str, or_alter: bool = False, pretty: bool = False) -> exp.Create:
        """CREATE [OR ALTER] TASK … AS <the refresh script>, as one AST rendered by `to_sql`.

        sqlglot's Create has no OR ALTER modifier; the kind carries it (rendered as written)."""
        options = dict(obj.options)
        properties: list[exp.Expression] = []
        warehouse = self.task_warehouse(options)
        if warehouse is not None:
            properties.append(exp.Property(this=exp.var("WAREHOUSE"), value=warehouse))
        properties.append(exp.Property(this=exp.var("SCHEDULE"), value=schedule_literal(options.get("schedule", ""))))
        properties += [exp.Property(this=exp.var(name), value=exp.Literal.string(value)) for name, value in self.task_session_parameters()]
        properties.append(exp.Property(this=exp.var("COMMENT"), value=exp.Literal.string(comment)))
        return exp.Create(
            this=table(obj.qualified_name),
            kind="OR ALTER TASK" if or_alter else "TASK",
            properties=exp.Properties(expressions=properties),
            expression=self.task_body(obj, pretty),
        )

    def task_body(self, obj: DesiredObject, pretty: bool = False) -> exp.Expression:
        """The refresh script, or the bare MERGE for a task whose MERGE handles VECTOR values.

        "The VECTOR data type is only supported in SQL, the Python connector, and the Snowpark Python
        library. No other languages are supported" (https://docs.snowflake.com/en/sql-reference/data-types-vector):
        Snowflake Scripting is not among them, so the embedding task (AI_EMBED into a VECTOR column)
        runs its MERGE as the task's one SQL statement — capped at the search's max_rows by its
        pending query, no batches, no run-log rows. Its failures are in TASK_HISTORY, which
        `rulectl status` reads beside the run log (`task_runs`)."""
        if obj.details.get("enrichment") == "embedding":
            return obj.statement.copy()
        return self.refresh_script(obj, pretty)

    def task_session_parameters(self) -> tuple[tuple[str, str], ...]:
        """The session parameters written on every task (see TASK_SESSION_PARAMETERS). Part of the
        task DDL, hence of `task_wrapper_stamp`: tasks deployed without them are planned as changed
        once and altered in place."""
        return TASK_SESSION_PARAMETERS

    def refresh_script(self, obj: DesiredObject, pretty: bool = False) -> exp.Expression:
        """The task body: a Snowflake Scripting block that logs the run, counts its pending rows, then runs the prompt's MERGE in
        bounded batches (each its own committed statement, so a late failure keeps earlier batches)
        and logs the counts — or Snowflake's error, re-raised so the task run shows as failed. A task
        with a `removal` first deletes what it stored for rows that no longer exist.

        A task may run Snowflake Scripting: https://docs.snowflake.com/en/sql-reference/sql/create-task
        (AS sql: "procedural logic using Snowflake Scripting", its examples run a DECLARE block
        through EXECUTE IMMEDIATE); variables in SQL take a colon:
        https://docs.snowflake.com/en/developer-guide/snowflake-scripting/variables ; SELECT … INTO :var:
        https://docs.snowflake.com/en/sql-reference/constructs/into ; SQLROWCOUNT and SQLERRM:
        https://docs.snowflake.com/en/developer-guide/snowflake-scripting/dml-status ,
        https://docs.snowflake.com/en/developer-guide/snowflake-scripting/exceptions
        sqlglot has no node for a scripting block, so it is an exp.Command whose statements are each
        rendered from their ASTs here.
        """
        merge = obj.statement
        options = dict(obj.options)
        prompt = obj.details.get("prompt") or obj.name.removeprefix("REFRESH_").lower()
        batch = int(options.get("batch_rows") or DEFAULT_BATCH_ROWS)
        var = lambda name: exp.Placeholder(this=name)  # noqa: E731 — :name inside SQL statements
        render = lambda tree: self.to_sql(tree, pretty=pretty).replace("\n", "\n    ")  # noqa: E731 — `rulectl compile` shows it pretty
        # sqlglot writes SELECT … INTO as CREATE TABLE … AS for Snowflake; INTO :var is spelled here.
        count = render(pending_count_query(merge)).replace("COUNT(*)", "COUNT(*) INTO :pending_rows", 1)  # the outer projection comes first
        failed = exp.Sub(this=var("attempted"), expression=var("enriched_rows"))
        # A run that enriched none of what it attempted asks AI_COMPLETE once more, for its first
        # still-pending row, with return_error_details: AI_COMPLETE answers NULL on error, so this is
        # where Snowflake's own reason comes from (compile/cortex_calls.py); a run that enriched
        # something logs its counts only.
        asked = first_pending_error_query(merge)
        why = [
            "  IF (attempted > 0 AND enriched_rows = 0) THEN",
            f"    {render(asked).replace(f' AS {ERROR_ALIAS}', ' INTO :row_error', 1)};",
            "  END IF;",
        ] if asked is not None else []
        block = [
            "DECLARE",
            "  run_id VARCHAR DEFAULT UUID_STRING();",
            "  pending_rows NUMBER DEFAULT 0;",
            "  attempted NUMBER DEFAULT 0;",
            "  enriched_rows NUMBER DEFAULT 0;",
            "  skip_rows NUMBER DEFAULT 0;",
            "  take_rows NUMBER DEFAULT 0;",
            *(["  row_error VARCHAR DEFAULT NULL;"] if asked is not None else []),
            "BEGIN",
            # the run-log row first: a count that fails (a broken view, a missing privilege) is logged
            f"  {render(run_log_start(prompt, var('run_id'), exp.null()))};",
            # then what the task stored for rows that no longer exist (compile/cleanup.py): free, and
            # before the model calls, so a run that fails later has still removed them
            *([f"  {render(obj.removal_statement)};"] if obj.removal_statement is not None else []),
            f"  {count};",
            f"  {render(run_log_pending(var('run_id'), var('pending_rows')))};",
            "  WHILE (attempted < pending_rows) DO",
            "    skip_rows := attempted - enriched_rows;",
            f"    take_rows := LEAST({batch}, pending_rows - attempted);",
            f"    {render(batch_merge(merge, var('skip_rows'), var('take_rows')))};",
            "    enriched_rows := enriched_rows + SQLROWCOUNT;",
            "    attempted := attempted + take_rows;",
            "  END WHILE;",
            *why,
            f"  {render(run_log_finish(var('run_id'), var('enriched_rows'), failed, calls_failed(failed, var('row_error')) if asked is not None else None))};",
            "EXCEPTION",
            "  WHEN OTHER THEN",
            f"    {render(run_log_finish(var('run_id'), var('enriched_rows'), failed.copy(), var('SQLERRM')))};",
            "    RAISE;",
            "END;",
        ]
        # The block runs as the task's one statement: EXECUTE IMMEDIATE of the block as a string,
        # dollar-quoted for readability unless the text itself holds $$ (then a quoted literal).
        # https://docs.snowflake.com/en/sql-reference/sql/execute-immediate (a block is one statement)
        # https://docs.snowflake.com/en/sql-reference/data-types-text#dollar-quoted-string-constants
        text = "\n".join(block)
        quoted = f"$$\n{text}\n$$" if "$$" not in text else exp.Literal.string(text).sql(dialect="snowflake")
        return exp.Command(this="EXECUTE", expression=exp.Literal.string(f"IMMEDIATE {quoted}"))

    def task_warehouse(self, options: dict[str, str]) -> exp.Expression | None:
        """The WAREHOUSE a task names: the target's, else the connection's; None for serverless.

        A task without WAREHOUSE is serverless: billed as serverless compute and only allowed with
        the EXECUTE MANAGED TASK privilege, so rulectl omits it only when the target asks for it.
        https://docs.snowflake.com/en/sql-reference/sql/create-task (WAREHOUSE: "If you omit this
        parameter, the task uses serverless compute")
        """
        if options.get("compute") == "serverless":
            return None
        if options.get("warehouse"):
            return exp.to_identifier(options["warehouse"])
        if self.connection is None:  # offline (`rulectl compile`): apply fills in the session's warehouse
            return exp.var("<the connection's warehouse>")
        current = self.connection_warehouse()
        if not current:
            raise RulectlError(
                "refresh tasks need a warehouse, but the target names none and the connection has no default warehouse; "
                "set `warehouse:` on the target in rulectl.yml (or `serverless_tasks: true` for serverless tasks)"
            )
        return exp.to_identifier(current.upper())

    def connection_warehouse(self) -> str | None:
        """The session's current warehouse, i.e. what the connection resolved (asked once)."""
        if self._connection_warehouse is None:
            rows = self.query(exp.select(exp.func("CURRENT_WAREHOUSE")))
            self._connection_warehouse = (rows[0][0] if rows and rows[0] else None) or ""
        return self._connection_warehouse or None

    def task_compute_notes(self, desired: Sequence[DesiredObject]) -> list[str]:
        """Where the refresh tasks run, for the plan (warehouse named, the connection's, or serverless)."""
        notes: dict[str, None] = {}
        for obj in (o for o in desired if o.kind == "task"):
            options = dict(obj.options)
            if options.get("compute") == "serverless":
                notes["refresh tasks run serverless (`serverless_tasks: true`): billed as serverless compute; the role needs EXECUTE MANAGED TASK"] = None
            elif options.get("warehouse"):
                notes[f"refresh tasks run on warehouse {options['warehouse']} (the target's `warehouse:`)"] = None
            else:
                current = self.connection_warehouse()
                notes[
                    f"refresh tasks run on the connection's warehouse {current} (the target names none)"
                    if current
                    else "refresh tasks have no warehouse: the target names none and the connection has none; apply will stop. Set `warehouse:` (or `serverless_tasks: true`)"
                ] = None
        return list(notes)

    def table_replace_statements(self, obj: DesiredObject, comment: str) -> list[exp.Expression | str]:
        """CREATE OR REPLACE TABLE … COPY GRANTS COMMENT = '<owner tag>': one statement, so the table is
        never missing between a DROP and a CREATE (a failure leaves the old table, and the intent
        record apply wrote first makes the next plan finish it), and the grants other roles hold on
        it survive: "A CREATE OR REPLACE statement that didn't specify COPY GRANTS dropped the
        privileges that had been granted on the replaced object. Retaining those privileges required
        specifying COPY GRANTS explicitly."
        (https://docs.snowflake.com/en/release-notes/bcr-bundles/2026_08/bcr-2433). COPY GRANTS comes
        before COMMENT in CREATE TABLE's syntax: https://docs.snowflake.com/en/sql-reference/sql/create-table"""
        create = obj.statement.copy()
        create.set("replace", True)
        create.set("properties", exp.Properties(expressions=[exp.CopyGrantsProperty(), exp.SchemaCommentProperty(this=exp.Literal.string(comment))]))
        return [create]

    def semantic_view_statements(self, obj: DesiredObject, comment: str) -> list[exp.Expression | str]:
        """CREATE OR REPLACE … COMMENT = '<owner tag>' COPY GRANTS: replaced in place, grants kept.
        https://docs.snowflake.com/en/sql-reference/sql/create-semantic-view (COMMENT, COPY GRANTS)"""
        body = obj.statement.expression  # SEMANTIC VIEW <name> TABLES (…) … built by compile
        return [exp.Command(this="CREATE", expression=f"OR REPLACE {body} COMMENT = {exp.Literal.string(comment).sql('snowflake')} COPY GRANTS")]

    def drop_statements(self, kind: str, qualified_name: str) -> list[exp.Expression | str]:
        if kind == "task":
            return [task_command("DROP", qualified_name, if_exists=True)]
        if kind == "semantic_view":
            return [exp.Command(this="DROP", expression=f"SEMANTIC VIEW IF EXISTS {table(qualified_name).sql('snowflake')}")]
        return super().drop_statements(kind, qualified_name)

    # ------------------------------------------------------------ AI refreshes

    def run_refreshes(self, loaded: LoadedProject, target: Any, prompts: Sequence[str], on_start=lambda task, total: None, on_row=lambda ok: None) -> list[RunResult]:
        """`rulectl run` on Snowflake: one AI_COMPLETE per distinct model and options first (Snowflake's
        own error, when the task's AI_COMPLETE would silently give NULL for every row), then EXECUTE TASK for each prompt's
        refresh task. Snowflake runs it in the background; the task logs its counts in the run log."""
        from engine.config.enrichments import enrichment_tasks
        from engine.config.search import SEARCH_TASK

        wanted = {x.lower() for x in prompts}
        chosen = [p.item for p in loaded.prompts if not prompts or p.item.name.lower() in wanted]
        enrichments = [name for name in enrichment_tasks(loaded.config) if not prompts or name in wanted]
        if prompts and len(chosen) + len(enrichments) != len(wanted):
            raise RulectlError(f"unknown prompt in {', '.join(prompts)} (prompts: {', '.join(p.item.name for p in loaded.prompts)})")
        calls = completion_calls(loaded, {p.name.lower() for p in chosen})
        if SEARCH_TASK in enrichments:
            calls.append(embedding_call(loaded.config.search.model))
        failures = self.cortex_failures(calls)
        if failures:
            raise RulectlError("a Cortex function fails, so a refresh would enrich nothing; nothing was run:\n" + "\n".join(f"  {m}: {e}" for m, e in failures.items()) + f"\n{CORTEX_HINT}")
        results = []
        for prompt in chosen:
            task = f"{loaded.config.schemas.ai}.REFRESH_{prompt.name}".upper()
            self.execute(task_command("EXECUTE", task))
            results.append(RunResult(prompt.name, task, None, note="started (EXECUTE TASK); Snowflake runs it in the background — `rulectl status` shows its counts when it finishes"))
        started = "started (EXECUTE TASK); Snowflake runs it in the background — `rulectl status` shows its counts when it finishes"
        for name in enrichments:  # SENTIMENT and AI_EMBED have no TRY_ form: a failure fails the task run, shown in the run log
            task = f"{loaded.config.schemas.ai}.REFRESH_{name}".upper()
            self.execute(task_command("EXECUTE", task))
            note = started
            if name == SEARCH_TASK and chosen:  # EXECUTE TASK returns at once: both run side by side
                note += "; it started beside the prompt refreshes, so it embeds the replies stored before they finish: run `rulectl run customer_embeddings` again once `rulectl status` shows them done"
            results.append(RunResult(name, task, None, note=note))
        return results

    def cortex_usage(self, since: Any = None) -> AccountUsage:
        """Credits per day, function and model from the account's Cortex usage view, since `since`
        (default: the last 30 days). "This Account Usage view can be used to query the usage
        history of Cortex AI Functions … aggregated in one hour windows"; it replaces
        CORTEX_FUNCTIONS_USAGE_HISTORY, which "is no longer updated"
        (https://docs.snowflake.com/en/sql-reference/account-usage/cortex_ai_functions_usage_history,
        https://docs.snowflake.com/en/sql-reference/account-usage/cortex_functions_usage_history).
        Account Usage data arrives late ("Query usage data might take a few hours to appear",
        https://docs.snowflake.com/en/sql-reference/account-usage/cortex_functions_query_usage_history)
        and covers every Cortex call of the account, not only rulectl's tasks."""
        try:
            rows = self.query(cortex_usage_query(since))
        except Exception as error:
            return AccountUsage(CORTEX_USAGE_VIEW, note=(
                f"cannot read {CORTEX_USAGE_VIEW}: {str(error).splitlines()[0][:200]}; it needs a role that may read the SNOWFLAKE "
                "database's ACCOUNT_USAGE schema (IMPORTED PRIVILEGES on SNOWFLAKE, or a SNOWFLAKE database role that includes the view)"
            ))
        return AccountUsage(
            CORTEX_USAGE_VIEW, tuple((day, function or "", model or "", float(credits or 0)) for day, function, model, credits in rows),
            "every Cortex AI call of the account (not only rulectl's), in hourly windows; Account Usage lags by up to a few hours, so the latest runs may be missing",
        )

    def task_runs(self, tasks: Sequence[str]) -> dict[str, TaskRuns]:
        """The tasks' latest runs from TASK_HISTORY, one query for all of them. A run that failed before
        its script wrote a run-log row, or a task Snowflake suspended after failing
        SUSPEND_TASK_AFTER_NUM_FAILURES times in a row, shows only here.

        https://docs.snowflake.com/en/sql-reference/functions/task_history: the last 7 days, the most
        recent RESULT_LIMIT runs (at most 10,000) of every task the role can see — filtered by schema
        here; QUERY_ID is NULL for runs still only scheduled. An auto-suspended task's failing run
        has state FAILED_AND_AUTO_SUSPENDED
        (https://docs.snowflake.com/en/release-notes/bcr-bundles/2023_03/bcr-990)."""
        wanted = {name.upper() for name in tasks}
        schemas = sorted({name.split(".")[0] for name in wanted})
        if not schemas:
            return {}
        history = exp.Table(this=exp.Anonymous(this="TABLE", expressions=[exp.Anonymous(
            this=f"{self.database}.INFORMATION_SCHEMA.TASK_HISTORY",
            expressions=[exp.Kwarg(this=exp.var("RESULT_LIMIT"), expression=exp.Literal.number(TASK_HISTORY_LIMIT))],
        )]))
        query = (
            exp.select("SCHEMA_NAME", "NAME", "STATE", "ERROR_MESSAGE", "COMPLETED_TIME").from_(history)
            .where(exp.column("SCHEMA_NAME").isin(*(exp.Literal.string(s) for s in schemas)))
            .where(exp.not_(exp.column("QUERY_ID").is_(exp.null())))
            .order_by(exp.Ordered(this=exp.column("SCHEDULED_TIME"), desc=True))
        )
        try:
            rows = self.query(query)
        except Exception:  # a role without MONITOR on the tasks: the run log still says what it can
            return {}
        runs: dict[str, list[tuple]] = {}
        for schema, name, state, error, completed in rows:
            qualified = f"{schema}.{name}".upper()
            if qualified in wanted:
                runs.setdefault(qualified, []).append((str(state).upper(), error, completed))
        return {task: _task_runs(task, history) for task, history in runs.items()}

    def run_due_refreshes(self, loaded: LoadedProject, target: Any, now: Any) -> list[RunResult]:
        raise RulectlError("this is a Snowflake target: Snowflake schedules its tasks itself (`rulectl status` shows their runs)")

    def cortex_checks(self, calls: Sequence[CortexCall]) -> list[DoctorCheck]:
        """Each check call as a DoctorCheck, a failure with Snowflake's error and its fix."""
        from engine.config.cortex import cortex_fix

        failures = self.cortex_failures(calls)
        role = self._current_role() if failures else None
        return [
            DoctorCheck(call.label, False, failures[call.label], cortex_fix(failures[call.label], call.model, role, call.function)) if call.label in failures
            else DoctorCheck(call.label, True, "answered" + (" with the prompt's own options" if call.function == "AI_COMPLETE" else ""))
            for call in calls
        ]

    def doctor_checks(self, loaded: LoadedProject, target: Any) -> list[DoctorCheck]:
        from engine.backends.snowflake_doctor import snowflake_checks

        return snowflake_checks(self, loaded, target)

    def _current_role(self) -> str | None:
        rows = self.query(exp.select(exp.Anonymous(this="CURRENT_ROLE")))
        return rows[0][0] if rows and rows[0] else None

    def cortex_failures(self, calls: Sequence[CortexCall]) -> dict[str, str]:
        """label → Snowflake's own error, for each check call that fails. AI_COMPLETE returns NULL on
        error (https://docs.snowflake.com/en/sql-reference/functions/ai_complete, Error behavior), so
        a refresh task would silently enrich nothing when the model is missing in the region,
        cross-region inference is off (the default), the role lacks SNOWFLAKE.CORTEX_USER, or the
        schema has a keyword Cortex refuses; the check asks for the error with the prompt's own
        options instead. https://docs.snowflake.com/en/user-guide/snowflake-cortex/cross-region-inference"""
        failures = {}
        for call in calls:
            try:
                rows = self.query(check_query(call))
            except Exception as error:  # an account without BCR 2184 raises instead
                failures[call.label] = str(error).splitlines()[0] if str(error) else type(error).__name__
                continue
            reply = rows[0][0] if rows else None
            error = check_error(reply) if call.function == "AI_COMPLETE" else (None if reply is not None else "no reply (NULL)")
            if error:
                failures[call.label] = error
        return failures

TASK_HISTORY_LIMIT = 10_000  # TASK_HISTORY's RESULT_LIMIT maximum


def _task_runs(task: str, history: list[tuple]) -> TaskRuns:
    """TaskRuns from (state, error, completed) rows, newest first."""
    state, error, completed = history[0]
    in_a_row = 0
    for run_state, _, _ in history:
        if not run_state.startswith("FAILED"):
            break
        in_a_row += 1
    return TaskRuns(task, state, error, completed, in_a_row, auto_suspended=state == "FAILED_AND_AUTO_SUSPENDED")


_WRAPPER_STAMPS: dict[tuple, str] = {}  # SnowflakeBackend.task_wrapper_stamp's, per class and wrapper code

_WRAPPER_SAMPLE_OPTIONS = (
    (("schedule", "5 MINUTES"), ("warehouse", "W"), ("compute", "warehouse"), ("batch_rows", "7"), ("state", "started")),
    (("schedule", "USING CRON 0 6 * * * UTC"), ("warehouse", ""), ("compute", "serverless"), ("state", "suspended")),
)


@lru_cache(maxsize=1)
def _wrapper_sample_merges() -> tuple[exp.Expression, ...]:
    """MERGEs in the shape compile writes (pending rows in a subquery aliased `p`), with and
    without the ORDER BY … LIMIT the batching rewrites."""
    merge = (
        "MERGE INTO S.O AS t USING (SELECT p.id, AI_COMPLETE(model => 'm', prompt => p.prompt_text) AS reply FROM ({pending}) AS p) AS s "
        "ON t.id = s.id WHEN MATCHED THEN UPDATE SET t.reply = s.reply WHEN NOT MATCHED THEN INSERT (id, reply) VALUES (s.id, s.reply)"
    )
    pending = ("SELECT id, prompt_text FROM S.V ORDER BY id LIMIT 7", "SELECT id, prompt_text FROM S.V")
    return tuple(sqlglot.parse_one(merge.format(pending=query), read="snowflake") for query in pending)


CORTEX_HINT = (
    "Check that the model is available in the account's region (or enable cross-region inference: "
    "ALTER ACCOUNT SET CORTEX_ENABLED_CROSS_REGION = 'ANY_REGION'), and that the role has SNOWFLAKE.CORTEX_USER."
)


CORTEX_USAGE_VIEW = "SNOWFLAKE.ACCOUNT_USAGE.CORTEX_AI_FUNCTIONS_USAGE_HISTORY"


def cortex_usage_query(since: Any = None) -> exp.Select:
    """SELECT day, function, model, SUM(CREDITS) … GROUP BY … from the Cortex usage view."""
    start = exp.column("START_TIME")
    day = exp.cast(start.copy(), "DATE")
    since_sql = (
        exp.cast(exp.Literal.string(since.isoformat()), "DATE") if since is not None
        else exp.DateAdd(this=exp.CurrentDate(), expression=exp.Literal.number(-30), unit=exp.var("DAY"))
    )
    return (
        exp.select(day.as_("day"), exp.column("FUNCTION_NAME"), exp.column("MODEL_NAME"), exp.func("SUM", exp.column("CREDITS")).as_("credits"))
        .from_(exp.to_table(CORTEX_USAGE_VIEW))
        .where(start >= since_sql)
        .group_by(exp.Literal.number(1), exp.Literal.number(2), exp.Literal.number(3))
        .order_by(exp.Literal.number(1), exp.Literal.number(2), exp.Literal.number(3))
    )


def calls_failed(failed: exp.Expression, reason: exp.Expression) -> exp.Expression:
    """`<n> call(s) failed: <Snowflake's reason>` — the run log's form for a run that finished with
    failed calls (ai/run_log.py `calls_failed`); NULL when there is no reason (|| propagates NULL)."""
    count = exp.cast(failed.copy(), "VARCHAR")
    return exp.DPipe(this=exp.DPipe(this=count, expression=exp.Literal.string(" call(s) failed: ")), expression=reason)


def task_command(verb: str, name: str, action: str = "", if_exists: bool = False) -> exp.Command:
    """ALTER / DROP / EXECUTE TASK: sqlglot has no node for these (it parses them as Command too).
    Only rulectl's own validated names and fixed keywords go in; never analyst text."""
    words = ["TASK", "IF EXISTS" if if_exists else "", table(name).sql(dialect="snowflake"), action]
    return exp.Command(this=verb, expression=exp.Literal.string(" ".join(w for w in words if w)))


def _like(name: str) -> str:
    return exp.Literal.string(name.upper()).sql("snowflake")


# INFORMATION_SCHEMA.COLUMNS's DATA_TYPE → the internal name SHOW COLUMNS gave (its data_type JSON
# `type`), which the definition hashes of tables applied before were computed from.
_SHOW_TYPE_NAMES = {"NUMBER": "FIXED", "FLOAT": "REAL"}


def _json_list(value: Any) -> list[str]:
    if not value:
        return []
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return [str(value)]
    return [str(item) for item in parsed] if isinstance(parsed, list) else [str(parsed)]
