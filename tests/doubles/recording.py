"""A DB-API connection double for the Snowflake path, used by tests and bench/plan.py.

It records every statement (like SQLMesh's `to_sql_calls`), answers SHOW … IN SCHEMA from a small
in-memory catalog that the DDL rulectl issues keeps up to date (views with comments, tables and
columns, tasks with Snowflake's SHOW TASKS row shape), and sends everything else — rulectl's own
_RULECTL tables, SELECTs — to an in-memory DuckDB after transpiling it. An optional latency is
added to every round trip, to project plan time against a remote warehouse.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache

import duckdb
import sqlglot
from sqlglot import exp

from engine.backends.duckdb import render_duckdb
from engine.backends.duckdb_fixes import FixContext
from engine.compile.structured_outputs import literal_value
from tests.doubles.cortex import StrictCortex, refuse_legacy_functions
from tests.doubles import snowflake_limits

# CREATE [OR ALTER] TASK as the backend writes it: WAREHOUSE, SCHEDULE, session parameters, COMMENT
# — the order of https://docs.snowflake.com/en/sql-reference/sql/create-task; anything else (a
# parameter after COMMENT, an unquoted value) does not match and fails the test on DuckDB.
TASK_DDL = re.compile(
    r"^CREATE (?P<or_alter>OR ALTER )?TASK (?P<name>\S+)(?: WAREHOUSE=(?P<warehouse>\S+))? SCHEDULE='(?P<schedule>[^']*)'"
    r"(?P<session>(?: [A-Z][A-Z_]*='[^']*')*) COMMENT='(?P<comment>(?:[^']|'')*)' AS (?P<body>.*)$",
    re.S,
)
SESSION_PARAMETER = re.compile(r" (?P<name>[A-Z][A-Z_]*)='(?P<value>[^']*)'")
CURRENT_WAREHOUSE = re.compile(r"^SELECT CURRENT_WAREHOUSE\(\)$")
CURRENT_ROLE = re.compile(r"^SELECT CURRENT_ROLE\(\)$")
SESSION = re.compile(r"^SELECT CURRENT_USER\(\), CURRENT_ROLE\(\), CURRENT_DATABASE\(\), CURRENT_WAREHOUSE\(\), CURRENT_AVAILABLE_ROLES\(\)$")
# SHOW GRANTS ON <object>: https://docs.snowflake.com/en/sql-reference/sql/show-grants (columns as
# https://docs.snowflake.com/en/release-notes/bcr-bundles/2025_01/bcr-1803 lists them)
SHOW_GRANTS = re.compile(r"^SHOW GRANTS ON (?P<kind>ACCOUNT|DATABASE|SCHEMA)(?: (?P<name>\S+))?$")
AI_CALL = re.compile(r"^SELECT AI_(?P<function>COMPLETE|EMBED|SENTIMENT)\(", re.I)  # check calls (compile/cortex_calls.py)
ALTER_TASK = re.compile(r"^ALTER TASK (?:IF EXISTS )?(?P<name>\S+) (?P<verb>SUSPEND|RESUME)$")
DROP_TASK = re.compile(r"^DROP TASK IF EXISTS (?P<name>\S+)$")
EXECUTE_TASK = re.compile(r"^EXECUTE TASK (?P<name>\S+)$")
TASK_HISTORY = re.compile(r"^SELECT (?P<columns>.+?) FROM TABLE\((?P<database>\w+)\.INFORMATION_SCHEMA\.TASK_HISTORY\(RESULT_LIMIT => (?P<limit>\d+)\)\)(?P<rest>.*)$", re.S)
INFO_COLUMNS = re.compile(r"^SELECT .+? FROM (?P<database>\w+)\.INFORMATION_SCHEMA\.COLUMNS\b", re.S | re.I)
SHOW = re.compile(r"^SHOW (?P<kind>SCHEMAS|VIEWS|TABLES|COLUMNS|TASKS|SEMANTIC VIEWS)(?: LIKE '(?P<like>[^']*)')? IN (?P<scope>DATABASE|SCHEMA|TABLE) (?P<where>\S+)$")
SEMANTIC_VIEW_DDL = re.compile(r"^CREATE OR REPLACE SEMANTIC VIEW (?P<name>\S+) .* COMMENT = '(?P<comment>(?:[^'\\]|\\.)*)' COPY GRANTS$", re.S)
DROP_SEMANTIC_VIEW = re.compile(r"^DROP SEMANTIC VIEW IF EXISTS (?P<name>\S+)$")


@dataclass
class FakeCatalog:
    schemas: set[str] = field(default_factory=lambda: {"PUBLIC", "INFORMATION_SCHEMA"})
    views: dict[str, dict] = field(default_factory=dict)
    tables: dict[str, dict] = field(default_factory=dict)
    foreign_tables: dict[str, dict] = field(default_factory=dict)  # DB.SCHEMA.NAME of other databases
    tasks: dict[str, dict] = field(default_factory=dict)
    semantic_views: dict[str, dict] = field(default_factory=dict)
    refuse_resume: set[str] = field(default_factory=set)  # tasks Snowflake would not resume
    executed_tasks: list[str] = field(default_factory=list)
    # TASK_HISTORY rows, newest first: {"schema", "name", "state", "error", "completed", "scheduled"}
    task_runs: list[dict] = field(default_factory=list)
    current_warehouse: str | None = "COMPUTE_WH"  # the connection's default warehouse
    user: str = "RULECTL_USER"
    role: str = "SYSADMIN"
    available_roles: tuple[str, ...] = ("SYSADMIN", "PUBLIC")  # CURRENT_AVAILABLE_ROLES()
    database_usable: bool = True  # False: the database does not exist or the role has no USAGE
    # "ACCOUNT" / "DATABASE <db>" / "SCHEMA <db>.<schema>" → [(privilege, grantee role)]; a schema
    # rulectl created (and not listed here) is owned by the current role, as CREATE SCHEMA makes it
    grants: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: {
        "ACCOUNT": [("EXECUTE TASK", "SYSADMIN"), ("EXECUTE MANAGED TASK", "SYSADMIN")],
        "DATABASE CUSTOMER_INTEL": [("OWNERSHIP", "SYSADMIN")],
    })
    # model → Snowflake's error for a call to it (e.g. not available in the region); the strict
    # Cortex (tests/doubles/cortex.py) reads it
    failing_models: dict[str, str] = field(default_factory=dict)


class RecordingCursor:
    def __init__(self, connection: "RecordingConnection"):
        self.connection = connection
        self.description: list[tuple] | None = None
        self._rows: list[tuple] = []

    def execute(self, sql: str) -> "RecordingCursor":
        self.connection.statements.append(sql)
        if self.connection.latency:
            time.sleep(self.connection.latency)
        columns, rows = self.connection.answer(sql.strip().rstrip(";"))
        self.description = [(c, None, None, None, None, None, None) for c in columns] if columns else None
        self._rows = rows
        return self

    def fetchall(self) -> list[tuple]:
        return self._rows

    def fetch_arrow_all(self):
        """Like the connector: upper-case column names, and None (not an empty table) for no rows."""
        import pyarrow as pa

        if not self._rows:
            return None
        names = [d[0].upper() for d in self.description or ()]
        return pa.Table.from_pylist([dict(zip(names, row)) for row in self._rows])

    def close(self) -> None:
        pass


class RecordingConnection:
    def __init__(self, database: str = "CUSTOMER_INTEL", latency: float = 0.0):
        self.database = database.upper()
        self.latency = latency
        self.statements: list[str] = []
        self.catalog = FakeCatalog()
        self.cortex = StrictCortex(failing_models=self.catalog.failing_models)
        self.duck = duckdb.connect()
        # DuckDB refuses expressions nested deeper than 1,000 (max_expression_depth), a limit of the
        # engine standing in for Snowflake here, not of Snowflake: a wide view joining 500 prompts
        # failed in the double only (bench/plan.py --snowflake at 1,000 objects). Raised as the
        # DuckDB backend raises it.
        self.duck.execute("SET max_expression_depth = 20000")

    def add_source_tables(self, sources) -> "RecordingConnection":
        """The project's source tables, as declared (`sources:` of rulectl.yml), exist in the catalog
        and, empty, in DuckDB (plan checks every planned view against them). Not recorded."""
        for source in sources.values():
            parts = source.table.upper().split(".")
            name = ".".join(parts[-2:])
            table = {"comment": None, "columns": [(c, t) for c, t in source.columns.items()]}
            if len(parts) == 3 and parts[0] != self.database:  # a table of another database
                self.catalog.foreign_tables[source.table.upper()] = table
            else:
                self.catalog.schemas.add(name.split(".")[0])
                self.catalog.tables[name] = table
            target = exp.to_table(name, dialect="snowflake")
            self.duck.execute(f"CREATE SCHEMA IF NOT EXISTS {target.db}")
            columns = [exp.ColumnDef(this=exp.to_identifier(c), kind=exp.DataType.build(t, dialect="snowflake")) for c, t in source.columns.items()]
            self.duck.execute(exp.Create(this=exp.Schema(this=target, expressions=columns), kind="TABLE", exists=True).sql("duckdb"))
        return self

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------ answering

    def answer(self, sql: str) -> tuple[list[str], list[tuple]]:
        refuse_legacy_functions(sql)  # in any statement, a task's body included
        for pattern, handler in ((SHOW, self._show), (INFO_COLUMNS, self._information_schema_columns), (TASK_DDL, self._create_task), (TASK_HISTORY, self._task_history), (ALTER_TASK, self._alter_task), (DROP_TASK, self._drop_task), (EXECUTE_TASK, self._execute_task), (CURRENT_WAREHOUSE, self._current_warehouse), (CURRENT_ROLE, self._current_role), (SESSION, self._session), (SHOW_GRANTS, self._show_grants), (AI_CALL, self._ai_call), (SEMANTIC_VIEW_DDL, self._semantic_view), (DROP_SEMANTIC_VIEW, self._drop_semantic_view)):
            match = pattern.match(sql)
            if match:
                return handler(match)
        tree = _parsed(sql)  # shared: read here, never rewritten (_mirror copies)
        if self._is_managed_ddl(tree):
            refusal = snowflake_limits.view_refusal(sql) if isinstance(tree, exp.Create) and tree.kind == "VIEW" else None
            if refusal:
                raise RuntimeError(refusal)
            self._mirror(tree)
            return self._ddl(tree, sql)
        if isinstance(tree, exp.Create) and tree.kind == "SCHEMA":
            self.catalog.schemas.add((tree.this.name or tree.this.db).upper())
        result = self.duck.execute(_as_duckdb(sql))
        if result.description is None:
            return [], []
        return [d[0] for d in result.description], result.fetchall()

    def _is_managed_ddl(self, tree: exp.Expression) -> bool:
        target = tree.this if isinstance(tree, (exp.Create, exp.Alter, exp.Comment)) else None
        if isinstance(tree, exp.Drop):
            target = (tree.args.get("tables") or [tree.this])[0]
        if isinstance(target, exp.Schema):
            target = target.this
        return isinstance(target, exp.Table) and target.db.upper() != "_RULECTL" and (not isinstance(tree, exp.Create) or tree.kind in ("VIEW", "TABLE"))

    def _mirror(self, tree: exp.Expression) -> None:
        """Managed views and tables also exist in DuckDB, so queries that read deployed objects
        (segment impact, the AI cost estimate) run as they would on Snowflake."""
        if isinstance(tree, exp.Comment):
            return
        clean = tree.copy()
        if isinstance(clean, exp.Create):
            clean.set("properties", None)
            if clean.kind == "VIEW":
                clean.set("replace", True)  # the catalog above answers "already exists" as Snowflake would
        self.duck.execute(render_duckdb(clean, FixContext()))

    def _ddl(self, tree: exp.Expression, sql: str) -> tuple[list, list]:
        catalog = self.catalog
        if isinstance(tree, exp.Create):
            target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            name = f"{target.db}.{target.name}".upper()
            comment = next((p.this.this for p in (tree.args.get("properties") or exp.Properties(expressions=[])).expressions if isinstance(p, exp.SchemaCommentProperty)), None)
            if tree.kind == "VIEW":
                if name in catalog.views and not tree.args.get("replace"):
                    raise RuntimeError(f"002002 (42710): SQL compilation error: Object '{name}' already exists.")
                catalog.views[name] = {"comment": comment, "text": sql}
            else:
                existing = catalog.tables.get(name)
                if existing is not None and not tree.args.get("replace"):
                    raise RuntimeError(f"002002 (42710): SQL compilation error: Object '{name}' already exists.")
                columns = [(c.name.lower(), c.args["kind"].sql("snowflake")) for c in tree.this.expressions] if isinstance(tree.this, exp.Schema) else []
                # grants other roles hold survive CREATE OR REPLACE only with COPY GRANTS
                # (https://docs.snowflake.com/en/sql-reference/sql/create-table)
                properties = (tree.args.get("properties") or exp.Properties(expressions=[])).expressions
                grants = list(existing.get("grants", [])) if existing is not None and any(isinstance(p, exp.CopyGrantsProperty) for p in properties) else []
                catalog.tables[name] = {"comment": comment, "columns": columns, "grants": grants}
        elif isinstance(tree, exp.Alter):
            name = f"{tree.this.db}.{tree.this.name}".upper()
            for action in tree.args.get("actions") or []:
                if isinstance(action, exp.ColumnDef):
                    catalog.tables[name]["columns"].append((action.name.lower(), action.args["kind"].sql("snowflake")))
                elif isinstance(action, exp.Drop) and action.args.get("kind") == "COLUMN":
                    # ALTER TABLE … DROP COLUMN keeps the table, its rows and its grants; an unknown
                    # column is an error (https://docs.snowflake.com/en/sql-reference/sql/alter-table)
                    for column in action.args.get("tables") or []:
                        columns = catalog.tables[name]["columns"]
                        if column.name.lower() not in [c for c, _ in columns]:
                            raise RuntimeError(f"000904 (42000): SQL compilation error: invalid identifier '{column.name.upper()}'")
                        catalog.tables[name]["columns"] = [(c, t) for c, t in columns if c != column.name.lower()]
        elif isinstance(tree, exp.Comment):
            name = f"{tree.this.db}.{tree.this.name}".upper()
            (catalog.views if tree.args.get("kind") == "VIEW" else catalog.tables)[name]["comment"] = tree.expression.this
        elif isinstance(tree, exp.Drop):
            target = (tree.args.get("tables") or [tree.this])[0]
            name = f"{target.db}.{target.name}".upper()
            (catalog.views if tree.args.get("kind") == "VIEW" else catalog.tables).pop(name, None)
        return [], []

    def _show(self, match: re.Match) -> tuple[list[str], list[tuple]]:
        kind, where = match["kind"], match["where"].upper()
        catalog = self.catalog
        # LIKE: case-insensitive, `_` any one character, `%` any run (Snowflake's SHOW … LIKE)
        like = re.compile("^" + re.escape(match["like"] or "%").replace("%", ".*").replace("_", ".") + "$", re.I) if match["like"] else None
        named = lambda name: like is None or bool(like.match(name))  # noqa: E731
        if kind == "SCHEMAS":
            return ["created_on", "name", "database_name"], [(None, s, self.database) for s in sorted(catalog.schemas | {"_RULECTL"} if self._has_state() else catalog.schemas) if named(s)]
        if match["scope"] == "TABLE":
            schema, only = where.split(".")[-2:]
        else:
            schema, only = where.split(".")[-1], None
        in_schema = lambda items: sorted((n, v) for n, v in items.items() if n.split(".")[0] == schema and named(n.split(".")[1]) and only in (None, n.split(".")[1]))  # noqa: E731
        if kind == "TABLES" and schema == "_RULECTL":  # rulectl's own tables live in the DuckDB behind
            names = [n for (n,) in self.duck.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = '_RULECTL'").fetchall() if named(n)]
            return ["created_on", "name", "database_name", "schema_name", "kind", "comment"], [(None, n, self.database, schema, "TABLE", None) for n in names]
        if kind == "VIEWS":
            return ["created_on", "name", "database_name", "schema_name", "comment", "text"], [(None, n.split(".")[1], self.database, schema, v["comment"], v["text"]) for n, v in in_schema(catalog.views)]
        if kind == "SEMANTIC VIEWS":
            return ["created_on", "name", "kind", "database_name", "schema_name", "comment"], [(None, n.split(".")[1], "SEMANTIC_VIEW", self.database, schema, v["comment"]) for n, v in in_schema(catalog.semantic_views)]
        if kind == "TABLES":
            return ["created_on", "name", "database_name", "schema_name", "kind", "comment"], [(None, n.split(".")[1], self.database, schema, "TABLE", v["comment"]) for n, v in in_schema(catalog.tables)]
        if kind == "COLUMNS":
            rows = []
            for name, table in in_schema(catalog.tables):
                for column, kind_text in table["columns"]:
                    rows.append((name.split(".")[1], schema, column.upper(), json.dumps({"type": _show_type(kind_text), "nullable": True})))
            return ["table_name", "schema_name", "column_name", "data_type"], snowflake_limits.show_rows(rows)
        columns = ["created_on", "name", "id", "database_name", "schema_name", "owner", "comment", "warehouse", "schedule", "predecessors", "state", "definition", "condition", "allow_overlapping_execution"]
        rows = [
            (None, n.split(".")[1], "01b2", self.database, schema, "SYSADMIN", t["comment"], t["warehouse"], t["schedule"], "[]", t["state"], t["definition"], None, "false")
            for n, t in in_schema(catalog.tasks)
        ]
        return columns, rows

    def _information_schema_columns(self, match: re.Match) -> tuple[list[str], list[tuple]]:
        """<db>.INFORMATION_SCHEMA.COLUMNS, answered from the catalog (tables as their DDL declared
        them, views as DuckDB mirrors them) with Snowflake's DATA_TYPE spelling: the query itself runs
        on DuckDB over those rows, so any WHERE rulectl writes is evaluated, not pattern-matched."""
        import pyarrow as pa

        names = ["table_catalog", "table_schema", "table_name", "column_name", "ordinal_position", "data_type", "numeric_precision", "numeric_scale"]
        rows = self._column_rows(match["database"].upper())
        types = [pa.string()] * 4 + [pa.int32(), pa.string(), pa.int32(), pa.int32()]
        self.duck.register("rulectl_info_rows", pa.table({n: pa.array([r[i] for r in rows], t) for i, (n, t) in enumerate(zip(names, types))}))
        self.duck.execute("CREATE OR REPLACE TEMP TABLE rulectl_info_columns AS SELECT * FROM rulectl_info_rows")
        self.duck.unregister("rulectl_info_rows")
        tree = sqlglot.parse_one(match.string, read="snowflake")
        for info in [t for t in tree.find_all(exp.Table) if t.db.upper() == "INFORMATION_SCHEMA"]:
            info.replace(exp.to_table("rulectl_info_columns"))
        result = self.duck.execute(tree.sql("duckdb"))
        return [d[0] for d in result.description], result.fetchall()

    def _column_rows(self, database: str) -> list[tuple]:
        if database != self.database:
            tables = {n.split(".", 1)[1]: t["columns"] for n, t in self.catalog.foreign_tables.items() if n.split(".")[0] == database}
        else:
            tables = {n: t["columns"] for n, t in self.catalog.tables.items()}
            mirrored: dict[str, list[tuple[str, str]]] = {}
            for name, column, kind in self.duck.execute("SELECT upper(schema_name || '.' || table_name), column_name, data_type FROM duckdb_columns() ORDER BY column_index").fetchall():
                if name in self.catalog.views:
                    mirrored.setdefault(name, []).append((column, _snowflake_spelling(kind)))
            tables.update(mirrored)
        rows = []
        for name, columns in tables.items():
            schema, table_name = name.upper().split(".")
            for position, (column, kind_text) in enumerate(columns, start=1):
                rows.append((database, schema, table_name, column.upper(), position, *_info_type(kind_text)))
        return rows

    def _has_state(self) -> bool:
        return bool(self.duck.execute("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = '_RULECTL'").fetchone()[0])

    def _create_task(self, match: re.Match) -> tuple[list, list]:
        name = match["name"].upper()
        refusal = snowflake_limits.schedule_refusal(match["schedule"]) or snowflake_limits.scripting_vector_refusal(match["body"])
        if refusal:
            raise RuntimeError(refusal)
        existing = self.catalog.tasks.get(name)
        if existing is not None and not match["or_alter"]:
            raise RuntimeError(f"002002 (42710): SQL compilation error: Object '{name}' already exists.")
        task = existing if existing is not None else {"state": "suspended", "created": len(self.statements)}  # Snowflake creates tasks suspended
        # CREATE OR ALTER keeps the object (its grants, history and state); only the properties change
        # the task holds the session parameters the last CREATE [OR ALTER] named, nothing else
        session = {m["name"]: m["value"] for m in SESSION_PARAMETER.finditer(match["session"])}
        task.update(comment=match["comment"].replace("''", "'"), warehouse=match["warehouse"] or None, schedule=match["schedule"], session_parameters=session, definition=match["body"])
        self.catalog.tasks[name] = task
        return [], []

    def _task_history(self, match: re.Match) -> tuple[list, list]:
        """TASK_HISTORY(RESULT_LIMIT => n) from `catalog.task_runs`: the most recent n runs of the
        account, then rulectl's WHERE (schemas, started runs) and ORDER BY run over them in DuckDB."""
        low, high = snowflake_limits.TASK_HISTORY_LIMITS
        limit = int(match["limit"])
        if not low <= limit <= high:
            raise RuntimeError(f"invalid value [{limit}] for parameter 'RESULT_LIMIT'")
        rows = [(r["schema"], r["name"], r["state"], r.get("error"), r.get("completed"), r.get("scheduled"), r.get("query_id", "q")) for r in self.catalog.task_runs[:limit]]
        self.duck.execute("CREATE OR REPLACE TEMP TABLE rulectl_task_history (SCHEMA_NAME VARCHAR, NAME VARCHAR, STATE VARCHAR, ERROR_MESSAGE VARCHAR, COMPLETED_TIME TIMESTAMP, SCHEDULED_TIME TIMESTAMP, QUERY_ID VARCHAR)")
        if rows:
            self.duck.executemany("INSERT INTO rulectl_task_history VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        result = self.duck.execute(f"SELECT {match['columns']} FROM rulectl_task_history{match['rest']}")
        return [d[0] for d in result.description], result.fetchall()

    def _ai_call(self, match: re.Match) -> tuple[list, list]:
        """One AI function call with literal arguments (rulectl's checks), answered by the strict
        Cortex: AI_COMPLETE in the shape its arguments ask for, AI_EMBED a vector, AI_SENTIMENT an
        OBJECT; a refused call raises (AI_EMBED, AI_SENTIMENT) or, for AI_COMPLETE, gives NULL — or
        the error in the OBJECT when `return_error_details => TRUE`."""
        call = sqlglot.parse_one(match.string, read="snowflake").selects[0]
        call = call.this if isinstance(call, exp.Alias) else call
        function = match["function"].upper()
        positional = [literal_value(a) for a in call.expressions if not isinstance(a, exp.Kwarg)]
        named = {a.this.name.lower(): literal_value(a.expression) for a in call.expressions if isinstance(a, exp.Kwarg)}
        column = f"AI_{function}"
        if function == "EMBED":
            return [column], [(json.dumps(self.cortex.embed(*positional[:2])),)]
        if function == "SENTIMENT":
            return [column], [(json.dumps(self.cortex.sentiment(positional[0] if positional else named["text"])),)]
        parameters = dict(zip(("model", "prompt", "model_parameters", "response_format", "show_details"), positional)) | named
        response_format = parameters.get("response_format")
        answer = {name: _sample_value(field) for name, field in response_format["schema"].get("properties", {}).items()} if response_format else "OK"
        arguments = (parameters["model"], parameters["prompt"], parameters.get("model_parameters"), response_format, bool(parameters.get("show_details")), answer)
        if parameters.get("return_error_details"):
            return [column], [(json.dumps(self.cortex.complete_with_error_details(*arguments)),)]
        value, _ = self.cortex.complete(*arguments)
        return [column], [(json.dumps(value) if value is not None else None,)]

    def _semantic_view(self, match: re.Match) -> tuple[list, list]:
        self.catalog.semantic_views[match["name"].upper()] = {"comment": match["comment"].replace("\\'", "'"), "text": match.group(0)}
        return [], []

    def _drop_semantic_view(self, match: re.Match) -> tuple[list, list]:
        self.catalog.semantic_views.pop(match["name"].upper(), None)
        return [], []

    def _current_warehouse(self, match: re.Match) -> tuple[list, list]:
        return ["CURRENT_WAREHOUSE()"], [(self.catalog.current_warehouse,)]

    def _current_role(self, match: re.Match) -> tuple[list, list]:
        return ["CURRENT_ROLE()"], [(self.catalog.role,)]

    def _session(self, match: re.Match) -> tuple[list, list]:
        catalog = self.catalog
        database = self.database if catalog.database_usable else None
        columns = ["CURRENT_USER()", "CURRENT_ROLE()", "CURRENT_DATABASE()", "CURRENT_WAREHOUSE()", "CURRENT_AVAILABLE_ROLES()"]
        return columns, [(catalog.user, catalog.role, database, catalog.current_warehouse, json.dumps(list(catalog.available_roles)))]

    def _show_grants(self, match: re.Match) -> tuple[list, list]:
        """The grants on one object; a schema that does not exist is Snowflake's error."""
        kind, name = match["kind"], (match["name"] or "").upper()
        key = f"{kind} {name}".strip()
        if kind == "SCHEMA" and key not in self.catalog.grants:
            schema = name.split(".")[-1]
            if schema not in self.catalog.schemas and not (schema == "_RULECTL" and self._has_state()):
                raise RuntimeError(f"002003 (02000): SQL compilation error: Schema '{name}' does not exist or not authorized.")
            grants = [("OWNERSHIP", self.catalog.role)]
        else:
            grants = self.catalog.grants.get(key, [])
        columns = ["created_on", "privilege", "granted_on", "name", "granted_to", "grantee_name", "grant_option", "granted_by"]
        return columns, [(None, privilege, kind, name or self.database, "ROLE", grantee, "false", "SYSADMIN") for privilege, grantee in grants]

    def _alter_task(self, match: re.Match) -> tuple[list, list]:
        name = match["name"].upper()
        task = self.catalog.tasks.get(name)
        if task is None:
            if "IF EXISTS" in match.group(0):
                return [], []
            raise RuntimeError(f"002003 (02000): SQL compilation error: Task '{name}' does not exist or not authorized.")
        if match["verb"] == "SUSPEND":
            task["state"] = "suspended"
        elif name not in self.catalog.refuse_resume:
            task["state"] = "started"
        return [], []

    def _drop_task(self, match: re.Match) -> tuple[list, list]:
        self.catalog.tasks.pop(match["name"].upper(), None)
        return [], []

    def _execute_task(self, match: re.Match) -> tuple[list, list]:
        self.catalog.executed_tasks.append(match["name"].upper())
        return [], []


def _sample_value(schema: dict) -> object:
    """A value of a JSON-schema field, as a model following the schema would give."""
    kind = schema.get("type")
    if schema.get("enum"):
        return schema["enum"][0]
    return {"string": "ok", "number": 0.5, "integer": 1, "boolean": True, "array": ["ok"], "object": {}}.get(kind, "ok")


# The same statements reach the double in test after test (the example's views, tasks and state
# writes): parsing and rendering each text once per process keeps the double's own cost small.
@lru_cache(maxsize=4096)
def _parsed(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="snowflake")


@lru_cache(maxsize=4096)
def _as_duckdb(sql: str) -> str:
    """rulectl's own Snowflake → DuckDB rendering: Snowflake accepts what sqlglot alone would
    translate into SQL DuckDB refuses (e.g. `x -> …` lambdas for ARRAY_CONSTRUCT_COMPACT)."""
    return render_duckdb(_parsed(sql), FixContext())


@lru_cache(maxsize=256)
def _snowflake_spelling(duckdb_type: str) -> str:
    return exp.DataType.build(duckdb_type, dialect="duckdb").sql("snowflake")


@lru_cache(maxsize=256)  # a handful of type texts, asked for every column of every table
def _info_type(kind_text: str) -> tuple[str, int | None, int | None]:
    """(DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE) as Snowflake's INFORMATION_SCHEMA.COLUMNS gives
    them: every integer type is NUMBER(38,0), every float FLOAT, every string TEXT
    (https://docs.snowflake.com/en/sql-reference/info-schema/columns,
    https://docs.snowflake.com/en/sql-reference/data-types-numeric)."""
    kind = exp.DataType.build(kind_text, dialect="snowflake")
    if kind.is_type(*exp.DataType.INTEGER_TYPES):
        return "NUMBER", 38, 0
    if kind.is_type(exp.DataType.Type.DECIMAL):
        params = [int(p.name) for p in kind.expressions]
        return "NUMBER", (params + [38])[0], (params[1:] + [0])[0]
    if kind.is_type(*exp.DataType.REAL_TYPES):
        return "FLOAT", None, None
    if kind.is_type(*exp.DataType.TEXT_TYPES):
        return "TEXT", None, None
    if kind.is_type(exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ):
        return "TIMESTAMP_NTZ", None, None
    return kind.sql("snowflake").split("(")[0].upper(), None, None


def _show_type(kind_text: str) -> str:
    kind = kind_text.upper()
    if kind.startswith(("VARCHAR", "TEXT", "STRING")):
        return "TEXT"
    if kind.startswith(("NUMBER", "DECIMAL", "INT")):
        return "FIXED"
    if kind.startswith("TIMESTAMP"):
        return "TIMESTAMP_NTZ"
    return kind
