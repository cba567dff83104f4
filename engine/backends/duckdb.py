"""The local target: an embedded DuckDB file running the compiled Snowflake SQL.

Snowflake-dialect ASTs are transpiled by sqlglot after rulectl's own fixes (duckdb_fixes), so one
compiler serves both targets and the differences live here and nowhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from sqlglot import exp

if TYPE_CHECKING:
    import pyarrow as pa

from engine.backends.base import LOCK_TABLE, STATE_SCHEMA, Backend, DeployedObject, DeployedState, DoctorCheck, ManagedRecord
from engine.backends.duckdb_fixes import DuckDB2, FixContext, apply_fixes
from engine.compile.objects import DesiredObject, canonical_sql
from engine.config.project import LoadedProject
from engine.core.errors import RulectlError
from engine.core import wide_select
from engine.core.tree_memo import TreeMemo


RENDER_CACHE_SIZE = 4096
_rendered = TreeMemo(RENDER_CACHE_SIZE, name="duckdb")


def render_duckdb(tree: exp.Expression, context: FixContext, pretty: bool = False, digest: str | None = None) -> str:
    """Snowflake-dialect AST → DuckDB SQL with Snowflake semantics (rulectl's fixes applied).

    Memoised by the tree (core/tree_memo.py): one command renders the same statement more than
    once (every apply writes the same state statements; plan checks, then apply runs). A wide
    SELECT is rendered item by item (core/wide_select.py), each item's rendering kept across
    commands (compile/objects.py `remembered_canonical_sql`): an edited rule renders its item."""
    if not pretty:
        wide = wide_select.split(tree)
        if wide is not None:
            text = wide_select.assemble(wide, _rendered, context.kept_key(), lambda item: _render(item, context, False))
            if text is not None:
                return text
    return _rendered.get(tree, (context.cache_key(), pretty), lambda: _render(tree, context, pretty), digest)


def _render(tree: exp.Expression, context: FixContext, pretty: bool) -> str:
    fixed = apply_fixes(tree, context)
    return fixed.sql(dialect=DuckDB2, pretty=pretty, copy=False)  # apply_fixes copied it: the generator need not again


CREATE_VIEW, CREATE_OR_REPLACE_VIEW = "CREATE VIEW ", "CREATE OR REPLACE VIEW "
DUCKDB_HEADER_BYTES = 3 * 4096
DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB file
DAMAGE_SIGNS = ("Corrupt database file", "checksum", "Could not read enough bytes", "not a valid DuckDB database file")
REBUILD = (
    "Restore it from a backup, or move it away and rebuild it with `rulectl load` and `rulectl apply` "
    "(AI output stored in it would have to be generated again)"
)


LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def _lock_holder(message: str) -> str:
    """Who holds the file, from DuckDB's lock error: another rulectl command (wait for it), or
    another program, such as a notebook with the file open read-only (close it there)."""
    found = LOCK_HOLDER.search(message)
    if found is None:
        return "is in use by another process; wait for it to finish (or close it) and try again"
    pid, program = found["pid"], Path(found["program"]).name
    if _is_rulectl(int(pid)):
        return f"is in use by another rulectl process (PID {pid}: another apply or run?); wait for it to finish and try again"
    how = "read-only " if "read-only mode" in message else ""
    return (
        f"is open {how}in another program ({program}, PID {pid}: a notebook or a DuckDB shell?), and DuckDB lets no other process "
        f"write the file meanwhile; close the connection there and try again"
        + ("; commands that only read (insights, explain, status) work meanwhile" if how else "")
    )


def _is_rulectl(pid: int) -> bool:
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False  # not Linux, or gone: say what DuckDB said about the program
    # the program or the script it runs (`python .../bin/rulectl`), or `python -m engine.cli`;
    # not any argument (a notebook's command line may hold the project's .rulectl/ path)
    return any(Path(argument).name == "rulectl" for argument in arguments[:2]) or "engine.cli" in arguments[:3]


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _refuse_foreign_file(path: Path) -> None:
    """A file that is not a DuckDB database (or not a regular file) is never opened, let alone
    overwritten: DuckDB's own message does not say which file or what to do."""
    if not path.exists():
        return
    if not path.is_file():
        raise RulectlError(f"{path} is not a regular file; point the target's `path:` at a DuckDB database file")
    with path.open("rb") as handle:
        head = handle.read(12)
    if head and (len(head) < 12 or head[8:12] != DUCKDB_MAGIC):
        raise RulectlError(f"{path} is not a DuckDB database (damaged, or another program's file); rulectl did not touch it. {REBUILD}")


# The wide insights view joins two relations per prompt; DuckDB refuses expressions nested deeper
# than 1,000 by default (`max_expression_depth`), which a project of a few hundred prompts reaches.
# A session setting, not a connect() config: DuckDB refuses a second connection to the same file
# with a different configuration. https://duckdb.org/docs/stable/configuration/overview
#
# TimeZone: DuckDB's CURRENT_DATE / CURRENT_TIMESTAMP follow the machine's time zone, so
# `TZ=Pacific/Honolulu rulectl explain` saw another "today" than UTC (days_to_renewal 93 vs 92) and
# customers changed segment near midnight. rulectl's Snowflake sessions and tasks run with
# TIMEZONE='UTC'; every DuckDB session does the same. https://duckdb.org/docs/stable/sql/functions/timestamptz
# allocator_bulk_deallocation_flush_threshold: DuckDB's allocator keeps what a query freed for the
# next one up to 512 MB; a command runs a few large queries (binding a wide view, the impact), so the
# kept memory added up to its peak. At 1 MB it is handed back after each: an edit's peak at 1,000
# metrics x 100 segmentations ~200 -> ~190 MB, a preview's ~205 -> ~185 MB, no time measured (at 0
# the impact query is ~50% slower: docs/decisions.md "A wide view is generated item by item").
KEEP_FREED = "SET allocator_bulk_deallocation_flush_threshold = '1MB'"
SESSION_SETTINGS = ("SET max_expression_depth = 20000", "SET TimeZone = 'UTC'", KEEP_FREED)
# Binding a view's definition takes memory in proportion to its SQL (~30 MB for the segments view
# of 100 segmentations, 39 KB of SQL) and frees it when the statement ends; kept by the allocator
# (above), each view an apply creates or rehearses added its binding to the command's peak. Handed
# back after each CREATE VIEW instead (threshold 0 for that statement only; queries keep 1 MB, as 0
# made the impact query ~50% slower): at 1,000 x 100 a never-seen edit peaked at ~182 MB, now
# ~162-169 MB; a cold apply ~191 -> ~183 MB; no slower (a binding 87-106 ms before, 92-102 ms after).
HAND_BACK_FREED = "SET allocator_bulk_deallocation_flush_threshold = '0MB'"
VIEW_DEFINITIONS = ("CREATE OR REPLACE VIEW ", "CREATE VIEW ")


def task_definition(obj: DesiredObject) -> str:
    """What _RULECTL.TASKS keeps of a task: its removal (when it has one) and its MERGE, as
    Snowflake-dialect statements separated by `;` (ai/runner.py splits them again)."""
    removal = obj.removal_statement
    return obj.canonical_sql if removal is None else f"{canonical_sql(removal)};\n{obj.canonical_sql}"


PRAGMA_TABLES = 8  # see DuckDBBackend._tables


def _columns_of(tables: Sequence[exp.Table]) -> str:
    """(position in `tables`, column index, name, type) of every column of each table, in order,
    from pragma_table_info; each name is quoted and passed as a string literal (built by sqlglot: a
    name from rulectl.yml or the catalog is never pasted into SQL)."""
    selects = [
        exp.select(exp.Literal.number(position), exp.column("cid"), exp.column("name"), exp.column("type")).from_(
            exp.func("pragma_table_info", exp.Literal.string(table.sql("duckdb", identify=True)))
        )
        for position, table in enumerate(tables)
    ]
    query = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return exp.select(exp.Star()).from_(query.subquery("c")).order_by("1", "2").sql("duckdb")


class DuckDBBackend(Backend):
    """DuckDB file target. `date_columns` names the DATE columns of the sources (for fixes)."""

    dialect = "duckdb"
    # DuckDB's planning time grows faster than linearly with UNION ALL branches that each read a
    # shared CTE (measured: 100 branches 0.4 s, 200 branches 2.4 s, 500 branches 12 s); batches of
    # 50 keep it linear. Local round trips cost nothing, so more queries are fine here.
    max_union_branches = 50

    def __init__(self, path: str | Path, date_columns: frozenset[str] = frozenset(), read_only: bool = False, fixed_point_scales: dict[str, int] | None = None):
        super().__init__()
        self.path = Path(path)
        self.context = FixContext(date_columns=date_columns, fixed_point_scales=fixed_point_scales)
        self._create_view_texts: dict[tuple[int, Any], tuple[DesiredObject, str]] = {}
        self._allocator_setting = KEEP_FREED  # SESSION_SETTINGS's
        self.rehearses_ddl = not read_only  # DuckDB's DDL is transactional; a read-only file cannot begin a write
        if str(path) == ":memory:" or (read_only and not self.path.exists()):
            # (read-only with no file: nothing deployed yet; an empty database, and no file created)
            self.connection = duckdb.connect(":memory:")
            self._apply_session_settings()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _refuse_foreign_file(self.path)
        replays_log = self.path.with_name(self.path.name + ".wal").exists()
        try:
            self.connection = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as error:
            if "lock" in str(error).lower():
                raise RulectlError(f"{self.path} {_lock_holder(str(error))}") from None
            raise RulectlError(f"{self.path} cannot be opened as a DuckDB database: {_first_line(error)}. {REBUILD}") from None
        if not replays_log:
            self._refuse_truncated_file()
        self._apply_session_settings()

    def _apply_session_settings(self) -> None:
        for setting in SESSION_SETTINGS:
            self.connection.execute(setting)

    def _refuse_truncated_file(self) -> None:
        """A truncated file opens (its catalog sits at the front) and fails, or worse answers
        "nothing deployed", only when a missing block is read: compare its size with the blocks in
        use first. Layout: three 4 KiB headers, then blocks of `block_size`.
        https://duckdb.org/docs/stable/internals/storage
        Skipped when a write-ahead log sat beside the file: replaying it (after a crash) allocates
        blocks the file does not have yet."""
        size = self.path.stat().st_size
        if size == 0:
            return
        try:
            _, _, block_size, _, used_blocks, *_ = self.connection.execute("PRAGMA database_size").fetchone()
        except duckdb.Error as error:
            self.connection.close()
            raise RulectlError(f"{self.path} is damaged: {_first_line(error)}. {REBUILD}") from None
        expected = DUCKDB_HEADER_BYTES + int(used_blocks) * int(block_size)  # free blocks at the end need not be written
        if size < expected:
            self.connection.close()
            raise RulectlError(f"{self.path} is damaged: it holds {size:,} bytes but its header counts {expected:,} (a truncated copy?). {REBUILD}")

    loads_samples = True

    @classmethod
    def from_target(cls, loaded: LoadedProject, target: str, read_only: bool = False) -> "DuckDBBackend":
        from engine.backends.registry import date_columns, fixed_point_scales

        path = loaded.root / (loaded.config.targets[target].path or f".rulectl/{target}.duckdb")
        return cls(path, date_columns(loaded), read_only=read_only, fixed_point_scales=fixed_point_scales(loaded))

    @classmethod
    def for_rendering(cls, loaded: LoadedProject, target: str) -> "DuckDBBackend":
        from engine.backends.registry import date_columns, fixed_point_scales

        return cls(":memory:", date_columns(loaded), fixed_point_scales=fixed_point_scales(loaded))

    def compiled_text(self, obj: DesiredObject, comment: str) -> str:
        """What `rulectl compile` shows: the object's SQL as DuckDB runs it, rulectl's fixes applied
        (a task: its removal, then its MERGE, as the runner runs them)."""
        statements = [obj.removal_statement] if obj.removal_statement is not None else []
        return ";\n\n".join(render_duckdb(statement, self.context, pretty=True) for statement in statements + [obj.statement])

    def to_sql(self, tree: exp.Expression, pretty: bool = False) -> str:
        return render_duckdb(tree, self.context, pretty=pretty)

    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        self._allocator_for(sql)
        try:
            result = self.connection.execute(sql)
        except duckdb.Error as error:
            if any(sign in str(error) for sign in DAMAGE_SIGNS):
                raise RulectlError(f"{self.path} is damaged: {_first_line(error)}. {REBUILD}") from None
            raise
        try:
            return result.fetchall()
        except duckdb.InvalidInputException:
            return []  # statements without a result set

    def _allocator_for(self, sql: str) -> None:
        """Freed memory handed back while view definitions run, kept otherwise (HAND_BACK_FREED).
        Switched before the statement, never after it: a statement that failed inside a transaction
        leaves it aborted, where DuckDB refuses even SET until ROLLBACK — a switch that fails is
        tried again before the next statement, so the statement's own error is the one reported.
        The setting is the database instance's (GLOBAL), not this connection's: a second backend on
        the same file in one process may find it switched (only speed differs; commands open one)."""
        wanted = HAND_BACK_FREED if sql.startswith(VIEW_DEFINITIONS) else KEEP_FREED
        if wanted is not self._allocator_setting:
            try:
                self.connection.execute(wanted)
                self._allocator_setting = wanted
            except duckdb.Error:
                pass  # an aborted transaction: the statement reports it (or is the ROLLBACK)

    def rehearse(self, statements: Sequence[exp.Expression | str]) -> tuple[int, str] | None:
        """DuckDB's DDL is transactional: CREATE, ALTER and DROP inside BEGIN … ROLLBACK leave
        nothing behind (https://duckdb.org/docs/stable/sql/statements/transactions). A kill meanwhile
        commits nothing either: the open transaction is not in the write-ahead log."""
        try:  # before BEGIN: a Ctrl-C just after it still rolls back (else the lock's release would be undone)
            self.execute("BEGIN TRANSACTION")
            for index, statement in enumerate(statements):
                try:
                    self.execute(statement)
                except Exception as error:  # any refusal, as the zero-row check takes it (a "damaged" message included)
                    return index, _first_line(error)
        finally:
            try:
                self.execute("ROLLBACK")
            except Exception:
                pass  # no transaction open: BEGIN itself did not run
        return None

    def _run_arrow(self, sql: str) -> pa.Table:
        # a relation's to_arrow_table, not the DB-API cursor's (which copies the rows once more)
        self._allocator_for(sql)
        return self.connection.sql(sql).to_arrow_table()

    def doctor_checks(self, loaded: LoadedProject, target: Any) -> list[DoctorCheck]:
        """The DuckDB file: opened and readable, or (nothing applied yet) its folder writable."""
        if not self.path.exists():
            folder = next((p for p in (self.path.parent, *self.path.parents) if p.exists()), None)
            ok = folder is not None and os.access(folder, os.W_OK)
            detail = f"{self.path} does not exist yet: the first `rulectl apply` creates it" + ("" if ok else f", but {folder} is not writable")
            return [DoctorCheck("DuckDB file", ok, detail, None if ok else f"make {folder} writable, or set `path:` on the target to a writable place")]
        try:
            version = self.connection.execute("SELECT version()").fetchone()[0]
            tables = self.connection.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0]
        except duckdb.Error as error:
            return [DoctorCheck("DuckDB file", False, f"{self.path}: {_first_line(error)}", REBUILD)]
        return [DoctorCheck("DuckDB file", True, f"{self.path} opens (DuckDB {version}, {tables} tables)")]

    def close(self) -> None:
        self.connection.close()

    # ------------------------------------------------------------ AI refreshes: rulectl runs the tasks

    # engine.ai.runner executes the tasks apply stored in _RULECTL.TASKS; the backend never imports ai/.
    runs_tasks_locally = True

    def serve_locally(self, function) -> None:
        function.register(self.connection)

    # ------------------------------------------------------------ DDL DuckDB spells differently

    def view_statements(self, obj: DesiredObject, comment: str, exists: bool) -> list[exp.Expression | str]:
        # DuckDB has no COPY GRANTS (no grants at all) and no COMMENT clause in CREATE VIEW.
        return [self._create_view_sql(obj), self.comment_statement("VIEW", obj.qualified_name, comment)]

    def _create_view_sql(self, obj: DesiredObject) -> str:
        """The CREATE OR REPLACE VIEW of `obj`, rendered once per object and backend: an apply
        rehearses it, then sends it (plan/apply.py), and building it again would copy the view's
        tree and key the render memo by it (~0.1 s for a view of 1,000 metrics). Compiled objects
        are never changed after compile (their fingerprint is cached the same way)."""
        key = (id(obj), self.context.cache_key())  # the fixes' settings too: scales may be set after the backend is made
        kept = self._create_view_texts.get(key)
        if kept is None or kept[0] is not obj:  # the object is held, so its id is not reused meanwhile
            kept = self._create_view_texts[key] = (obj, self._or_replace(obj))
        return kept[1]

    def view_select_text(self, obj: DesiredObject) -> str | None:
        """The planned-view check of a read-only `plan` reads the edited segments view's SELECT as
        apply will send it, item by item from the kept renderings: building its tree and rendering it
        whole took ~0.4 s of a preview at 1,000 x 100."""
        wide = obj.wide_statement
        if wide is None:
            return None
        head = f"{CREATE_OR_REPLACE_VIEW}{self.to_sql(wide.skeleton.this)} AS "
        text = self._create_view_sql(obj)
        return text[len(head):] if text.startswith(head) else None

    def _or_replace(self, obj: DesiredObject) -> str:
        """The object's CREATE VIEW rendered as CREATE OR REPLACE: the compiled statement's rendering
        with the words added (a copy of the tree to set `replace` costs ~30 ms for a view of 1,000
        metrics). A view compiled item by item is rendered so, without building its statement."""
        wide = obj.wide_statement
        text = wide_select.assemble(wide, _rendered, self.context.kept_key(), lambda item: _render(item, self.context, False)) if wide is not None else None
        text = text or render_duckdb(obj.statement, self.context, digest=obj.statement_digest)
        if text.startswith(CREATE_VIEW):
            return CREATE_OR_REPLACE_VIEW + text[len(CREATE_VIEW):]
        replacing = obj.statement.copy()
        replacing.set("replace", True)
        return self.to_sql(replacing)

    def table_statements(self, obj: DesiredObject, comment: str) -> list[exp.Expression | str]:
        return [obj.statement, self.comment_statement("TABLE", obj.qualified_name, comment)]

    def task_statements(self, obj: DesiredObject, comment: str, exists: bool) -> list[exp.Expression | str]:
        """Local tasks live in _RULECTL.TASKS; `rulectl run` (or the scheduler) executes them."""
        options = dict(obj.options)
        values = [obj.schema, obj.name, comment, task_definition(obj), options.get("schedule", ""), options.get("state", "started")]
        row = exp.Tuple(expressions=[exp.Literal.string(v) for v in values])
        return self.drop_statements("task", obj.qualified_name) + [
            exp.insert(exp.values([row]), f"{STATE_SCHEMA}.TASKS", columns=["schema_name", "task_name", "comment", "definition", "schedule", "state"])
        ]

    def drop_statements(self, kind: str, qualified_name: str) -> list[exp.Expression | str]:
        if kind != "task":
            return super().drop_statements(kind, qualified_name)
        schema, name = qualified_name.upper().split(".")
        where = exp.and_(exp.column("schema_name").eq(exp.Literal.string(schema)), exp.column("task_name").eq(exp.Literal.string(name)))
        return [exp.delete(f"{STATE_SCHEMA}.TASKS", where=where)]

    def state_table_ddl(self) -> list[exp.Expression | str]:
        return super().state_table_ddl() + [
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.TASKS (schema_name VARCHAR, task_name VARCHAR, comment VARCHAR, "
            "definition VARCHAR, schedule VARCHAR, state VARCHAR, last_run_at TIMESTAMP, last_status VARCHAR, last_note VARCHAR)"  # UTC
        ]

    local_sentiment_languages = "English only"  # VADER (engine.ai.local_sentiment.LANGUAGES)

    def run_notes(self, tasks: Sequence[str]) -> dict[str, str]:
        """The notes the local runner kept in _RULECTL.TASKS (engine.ai.runner._record_note)."""
        if not tasks:
            return {}
        try:
            rows = self.query(
                f"SELECT schema_name || '.' || task_name, last_note FROM {STATE_SCHEMA}.TASKS "
                f"WHERE last_note IS NOT NULL AND schema_name || '.' || task_name IN ({', '.join(_literal(task) for task in tasks)})"
            )
        except duckdb.Error:  # nothing applied yet, or a file from before notes were kept
            return {}
        return {name: note for name, note in rows}

    def session_user(self) -> str | None:
        return None  # a local file has no users: the OS user is recorded

    def _snowflake_type(self, data_type: str, precision: Any, scale: Any) -> str:
        """DuckDB's type names (DECIMAL(12,2), BIGINT, …) in Snowflake's spelling."""
        if data_type.upper().startswith("DECIMAL") and precision is not None:
            return f"number({precision},{scale or 0})"
        return exp.DataType.build(data_type, dialect="duckdb").sql(dialect="snowflake").lower()

    # ------------------------------------------------------------ introspection

    missing_source_hint = "run `rulectl load` to fill the source tables from the sample CSVs (`sample:` in rulectl.yml)"

    def source_columns(self, tables: Sequence[str]) -> dict[str, dict[str, str]]:
        """One query for every source table (SCHEMA.TABLE in this database file): each table's
        `pragma_table_info`, ~2 ms on a fresh connection, where the catalog function
        `duckdb_columns()` takes ~14 ms on its first call (it lists every column of every catalog,
        DuckDB's internal views included) — and a command's first catalog read is this one. A
        missing table fails that query; the catalog query then answers, without it."""
        if not tables:
            return {}
        short = [".".join(t.split(".")[-2:]) for t in tables]
        try:
            rows = self.query(_columns_of([exp.to_table(name) for name in short]))
        except duckdb.Error:  # a missing table (or a view that no longer binds): the catalog knows what there is
            rows = self.query(
                "SELECT list_position(" + exp.Array(expressions=[exp.Literal.string(n.upper()) for n in short]).sql("duckdb") + ", "
                "upper(schema_name || '.' || table_name)) - 1, column_index, column_name, data_type FROM duckdb_columns() "
                f"WHERE database_name = current_database() AND upper(schema_name || '.' || table_name) IN {exp.Tuple(expressions=[exp.Literal.string(n.upper()) for n in short]).sql('duckdb')} "
                "ORDER BY 1, 2"
            )
        found: dict[str, dict[str, str]] = {}
        for index, _, column, data_type in rows:
            found.setdefault(tables[index], {})[column.lower()] = data_type
        return found

    def introspect(self, schemas: Sequence[str]) -> DeployedState:
        """Three catalog queries (schemas, views, tables with their columns) plus rulectl's state."""
        before = len(self.statements)
        names = [s.upper() for s in schemas] + [STATE_SCHEMA]
        in_schemas = exp.Tuple(expressions=[exp.Literal.string(s) for s in names]).sql("duckdb")
        where = f"upper(schema_name) IN {in_schemas}"
        objects: dict[tuple[str, str], DeployedObject] = {}
        for (name,) in self.query(f"SELECT schema_name FROM duckdb_schemas() WHERE {where} AND database_name = current_database()"):
            objects[("schema", name.upper())] = DeployedObject("schema", name.upper(), name.upper())
        objects.update(self._views(where))
        objects.update(self._tables(where))
        records = self._read_records(objects)
        for key in [k for k in objects if k[1].startswith(STATE_SCHEMA)]:
            objects.pop(key)  # rulectl's own bookkeeping is not part of the plan
        return DeployedState(objects, records, len(self.statements) - before)

    def describe(self, kind: str, qualified_name: str) -> DeployedObject | None:
        if kind == "schema":
            rows = self.query(f"SELECT schema_name FROM duckdb_schemas() WHERE upper(schema_name) = {_literal(qualified_name.upper())} AND database_name = current_database()")
            return DeployedObject("schema", qualified_name.upper(), qualified_name.upper()) if rows else None
        schema, name = qualified_name.upper().split(".")
        where = f"upper(schema_name) = {_literal(schema)} AND upper({'task_name' if kind == 'task' else kind + '_name'}) = {_literal(name)}"
        found = {"view": self._views, "table": self._tables, "task": self._tasks}[kind](where)
        return found.get((kind, f"{schema}.{name}"))

    def _views(self, where: str) -> dict[tuple[str, str], DeployedObject]:
        found = {}
        for schema, name, comment, sql in self.query(
            f"SELECT schema_name, view_name, comment, sql FROM duckdb_views() WHERE NOT internal AND {where} AND database_name = current_database()"
        ):
            view = DeployedObject("view", schema.upper(), name.upper(), comment or None, sql)
            found[("view", view.qualified_name)] = view
        return found

    def _tables(self, where: str) -> dict[tuple[str, str], DeployedObject]:
        """The tables, then the columns of those outside rulectl's state schema (whose tables are
        only looked up by name). Up to PRAGMA_TABLES tables: pragma_table_info each, in one query;
        `duckdb_columns()` lists every view's columns too (1,100 rows beside a view of 1,000
        metrics), which cost a no-change plan ~6 MB of its peak and ~10 ms. Beyond that, the union
        of pragma calls plans slower than the catalog scan (8 tables ~5 ms, 16 ~14 ms, 50 ~80 ms,
        500 ~6 s; the scan ~11 ms for 17 tables beside small views, ~22 ms for 500)."""
        tables = self.query(f"SELECT table_oid, database_name, schema_name, table_name, comment FROM duckdb_tables() WHERE {where} AND database_name = current_database()")
        described = [(oid, database, schema, name) for oid, database, schema, name, _ in tables if schema.upper() != STATE_SCHEMA]
        columns: dict[int, list[tuple[str, str]]] = {}
        if 0 < len(described) <= PRAGMA_TABLES:
            # database-qualified: a temporary table of the same name, or a file named like a schema, would otherwise answer
            names = [exp.table_(name, schema, database, quoted=True) for _, database, schema, name in described]
            for position, _, column, data_type in self.query(_columns_of(names)):
                columns.setdefault(described[position][0], []).append((column.lower(), data_type))
        elif described:
            oids = exp.Tuple(expressions=[exp.Literal.number(oid) for oid, *_ in described]).sql("duckdb")
            for oid, column, data_type in self.query(f"SELECT table_oid, column_name, data_type FROM duckdb_columns() WHERE table_oid IN {oids} ORDER BY table_oid, column_index"):
                columns.setdefault(oid, []).append((column.lower(), data_type))
        found = {}
        for oid, _, schema, name, comment in tables:
            table_obj = DeployedObject("table", schema.upper(), name.upper(), comment or None, None, tuple(columns.get(oid, ())))
            found[("table", table_obj.qualified_name)] = table_obj
        return found

    def _tasks(self, where: str = "TRUE") -> dict[tuple[str, str], DeployedObject]:
        found = {}
        for schema, name, comment, definition, schedule, state in self.query(
            f"SELECT schema_name, task_name, comment, definition, schedule, state FROM {STATE_SCHEMA}.TASKS WHERE {where}"
        ):
            task = DeployedObject("task", schema.upper(), name.upper(), comment, f"{schedule}\n{definition}", (), state)
            found[("task", task.qualified_name)] = task
        return found

    def _lock_exists(self) -> bool:
        schema, name = LOCK_TABLE.split(".")
        return bool(self.query(f"SELECT 1 FROM duckdb_tables() WHERE schema_name = {_literal(schema)} AND table_name = {_literal(name)} AND database_name = current_database()"))

    def _read_records(self, objects: dict[tuple[str, str], DeployedObject]) -> dict[tuple[str, str], ManagedRecord]:
        records: dict[tuple[str, str], ManagedRecord] = {}
        if ("table", f"{STATE_SCHEMA}.OBJECTS") in objects:
            for kind, qualified, fingerprint, definition_hash, plan_id, applied_sql in self.query(
                f"SELECT kind, qualified_name, fingerprint, definition_hash, plan_id, applied_sql FROM {STATE_SCHEMA}.OBJECTS"
            ):
                records[(kind, qualified.upper())] = ManagedRecord(kind, qualified.upper(), fingerprint, definition_hash, plan_id, applied_sql)
        if ("table", f"{STATE_SCHEMA}.TASKS") in objects:
            objects.update(self._tasks())
        return records


def _literal(value: str) -> str:
    return exp.Literal.string(value).sql("duckdb")
