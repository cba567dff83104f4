"""The one boundary between rulectl and a database: render, execute, query, introspect, and the
DDL each engine spells its own way.

Everything above this line works on Snowflake-dialect sqlglot ASTs; a backend turns them into its
engine's SQL in one place (`to_sql`) and reports what is deployed in one shape (DeployedObject).
The defaults here are Snowflake's; DuckDBBackend overrides what DuckDB spells differently.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    import pyarrow as pa

from engine.compile.objects import DesiredObject, table
from engine.config.project import LoadedProject
from engine.core.errors import RulectlError
from engine.core.expressions import utc_now
from engine.core.tree_memo import TreeMemo

OWNER_TAG = "rulectl"
STATE_SCHEMA = "_RULECTL"
LOCK_TABLE = f"{STATE_SCHEMA}.APPLY_LOCK"
RUN_LOG = f"{STATE_SCHEMA}.RUN_LOG"
# One row per AI refresh run, written by the local runner and by the Snowflake task alike.
APPLIES = f"{STATE_SCHEMA}.APPLIES"  # one row per apply: who, from which git commit, which plan
APPLIES_DDL = (
    f"CREATE TABLE IF NOT EXISTS {APPLIES} (plan_id VARCHAR, applied_at TIMESTAMP_NTZ, applied_by VARCHAR, "
    "git_commit VARCHAR, target VARCHAR, steps_planned NUMBER)"
)
# APPLIES made before steps_planned was recorded gain it at the next apply. ADD [COLUMN] [IF NOT EXISTS]:
# https://docs.snowflake.com/en/sql-reference/sql/alter-table-column
APPLIES_PLANNED = f"ALTER TABLE {APPLIES} ADD COLUMN IF NOT EXISTS steps_planned NUMBER"
RUN_LOG_DDL = (
    f"CREATE TABLE IF NOT EXISTS {RUN_LOG} (prompt VARCHAR, run_id VARCHAR, started_at TIMESTAMP_NTZ, "
    "finished_at TIMESTAMP_NTZ, pending NUMBER, enriched NUMBER, failed NUMBER, error VARCHAR)"
)
RECORD_MERGE = f"""
MERGE INTO {STATE_SCHEMA}.OBJECTS AS o
USING (SELECT __kind__ AS kind, __name__ AS qualified_name, __fingerprint__ AS fingerprint, __hash__ AS definition_hash,
              __plan__ AS plan_id, __at__ AS applied_at, __sql__ AS applied_sql) AS r
ON o.kind = r.kind AND o.qualified_name = r.qualified_name
WHEN MATCHED THEN UPDATE SET fingerprint = r.fingerprint, definition_hash = r.definition_hash, plan_id = r.plan_id,
  applied_at = r.applied_at, applied_sql = r.applied_sql
WHEN NOT MATCHED THEN INSERT (kind, qualified_name, fingerprint, definition_hash, plan_id, applied_at, applied_sql)
  VALUES (r.kind, r.qualified_name, r.fingerprint, r.definition_hash, r.plan_id, r.applied_at, r.applied_sql)
"""

_generated = TreeMemo(512)  # Backend.to_sql's: a command asks for a few dozen statements; bounded by count, and large views are large

# The `__name__` columns of the templates above and below, as they appear in generated SQL.
TEMPLATE_PLACEHOLDER = re.compile(r"\b(__[a-z]+__)\b")

# One row of _RULECTL.HISTORY per applied, failed or interrupted step (Backend.write_history).
HISTORY_INSERT = f"""
INSERT INTO {STATE_SCHEMA}.HISTORY
VALUES (__at__, __plan__, __action__, __kind__, __name__, __fingerprint__, __status__, __message__)
"""


@dataclass(frozen=True)
class LockHolder:
    """Who took the apply lock: user, host, process, the plan being applied, and since when (UTC)."""

    user: str
    host: str
    pid: int | None
    plan_id: str | None
    since: datetime | None

    @classmethod
    def this_process(cls, plan_id: str | None = None) -> "LockHolder":
        return cls(os.environ.get("USER") or os.environ.get("USERNAME") or "someone", socket.gethostname(), os.getpid(), plan_id, None)

    def describe(self) -> str:
        process = f"pid {self.pid}" if self.pid else "unknown process"
        plan = f"plan {self.plan_id}" if self.plan_id else "plan not made yet"
        since = f" since {self.since:%Y-%m-%d %H:%M:%S} UTC" if isinstance(self.since, datetime) else ""
        return f"{self.user}@{self.host} ({process}, {plan}){since}"

    def process_is_gone(self) -> bool:
        """True only when we can tell: the holder ran on this host and its process no longer exists."""
        if self.host != socket.gethostname() or not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # exists, owned by someone else
            return False
        return False

    def advice(self) -> str:
        if self.process_is_gone():
            return "That process is no longer running on this host: the apply died. Release the lock with `rulectl unlock`."
        return "If that apply is no longer running (it was killed), release the lock with `rulectl unlock`."


@dataclass(frozen=True)
class DeployedObject:
    """One object as the target reports it."""

    kind: str  # schema | view | table | task
    schema: str
    name: str
    comment: str | None = None
    definition: str | None = None  # the engine's text of the view / task body
    columns: tuple[tuple[str, str], ...] = ()
    state: str | None = None  # tasks: started | suspended

    @property
    def qualified_name(self) -> str:
        return self.name if self.kind == "schema" else f"{self.schema}.{self.name}"

    @property
    def owner(self) -> tuple[str, str] | None:
        """(project, fingerprint) from a rulectl ownership tag in the comment, if there is one."""
        return parse_owner_tag(self.comment)

    @property
    def definition_hash(self) -> str:
        """Changes whenever someone edits the object by hand (text, columns or schedule)."""
        text = f"{self.definition or ''}|{self.columns}|{self.state or ''}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DoctorCheck:
    """One `rulectl doctor` finding: what was checked, whether it passed, what was found (the
    engine's own error when it failed) and, when it failed, what to do."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


@dataclass(frozen=True)
class TaskRuns:
    """What the target's scheduler says about a task's latest runs (Snowflake: TASK_HISTORY), newest
    first: the last run's state and error, how many runs in a row failed, and whether Snowflake
    suspended the task after them (SUSPEND_TASK_AFTER_NUM_FAILURES)."""

    task: str
    last_state: str
    last_error: str | None = None
    last_at: datetime | None = None
    failures_in_a_row: int = 0
    auto_suspended: bool = False

    @property
    def last_failed(self) -> bool:
        return self.last_state.startswith("FAILED")


@dataclass(frozen=True)
class RunResult:
    """One refresh run of one prompt — the same type on every target.

    `enriched`, `calls` and `failures` are None when the target runs the refresh in the background
    (Snowflake's EXECUTE TASK); `rulectl status` then shows the counts the run logged."""

    prompt: str
    task: str
    pending: int  # rows the run set out to enrich (capped at max_rows)
    enriched: int | None = None
    calls: int | None = None
    failures: int | None = None
    errors: tuple[str, ...] = ()
    interrupted: bool = False  # stopped by Ctrl-C after committing the batch in flight
    note: str = ""
    failure_breakdown: str = ""  # failed calls by kind (schema violations, empty replies, …) with an example each
    removed: int = 0  # rows the run removed because their source row or customer no longer exists

    @property
    def in_background(self) -> bool:
        return self.enriched is None


@dataclass(frozen=True)
class AccountUsage:
    """A target's own record of AI spend (Snowflake's Cortex usage view): the view read, credits
    per day, function and model, and a note (how it lags, or why it could not be read)."""

    view: str
    rows: tuple[tuple[Any, str, str, float], ...] = ()
    note: str = ""


@lru_cache(maxsize=64)
def _parsed_template(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="snowflake")


def filled_pieces(pieces: list[str], texts: dict[str, str]) -> str:
    """SQL split at its placeholders (TEMPLATE_PLACEHOLDER.split: text, name, text, …, text) joined
    again with each name in `texts` replaced by its SQL text; other names stay as they were."""
    return "".join(piece if i % 2 == 0 else texts.get(piece, piece) for i, piece in enumerate(pieces))


def parsed_statement(sql: str) -> exp.Expression:
    """rulectl's own fixed statements (state tables, the record MERGE), parsed once per process;
    a copy each time, since callers rewrite it."""
    return _parsed_template(sql).copy()


def run_log_start(prompt: str, run_id: exp.Expression, pending: exp.Expression) -> exp.Insert:
    """The run-log row a refresh writes before its first model call (a killed run leaves it unfinished)."""
    row = exp.Tuple(expressions=[exp.Literal.string(prompt), run_id, utc_now(), pending, exp.Literal.number(0), exp.Literal.number(0)])
    return exp.insert(exp.values([row]), table(RUN_LOG), columns=["prompt", "run_id", "started_at", "pending", "enriched", "failed"])


def run_log_pending(run_id: exp.Expression, pending: exp.Expression) -> exp.Update:
    """Fill in a run's pending count, counted after its row was written (so a failing count is logged)."""
    return exp.update(table(RUN_LOG), {"pending": pending}, where=exp.column("run_id").eq(run_id))


def run_log_finish(run_id: exp.Expression, enriched: exp.Expression, failed: exp.Expression, error: exp.Expression | None = None) -> exp.Update:
    """Close a run's row: when it finished, how many rows it enriched and how many calls failed."""
    values = {"finished_at": utc_now(), "enriched": enriched, "failed": failed, "error": error if error is not None else exp.null()}
    return exp.update(table(RUN_LOG), values, where=exp.column("run_id").eq(run_id))


def owner_tag(project: str, fingerprint: str) -> str:
    return f"{OWNER_TAG}:{project}:{fingerprint}"


def parse_owner_tag(comment: str | None) -> tuple[str, str] | None:
    if not comment or not comment.startswith(f"{OWNER_TAG}:"):
        return None
    parts = comment.split(":")
    return (parts[1], parts[2]) if len(parts) >= 3 else None


@dataclass(frozen=True)
class ManagedRecord:
    """What rulectl recorded when it last applied an object (its state table)."""

    kind: str
    qualified_name: str
    fingerprint: str
    definition_hash: str | None
    plan_id: str
    applied_sql: str | None = None  # the canonical Snowflake SQL rulectl applied (for plan's SQL diff)

    @property
    def unfinished(self) -> bool:
        """Apply recorded its intent but was stopped (killed, or a statement failed) before the
        object landed and its definition hash was written: the next apply completes it."""
        return self.definition_hash is None


@dataclass(frozen=True)
class DeployedState:
    """What the target holds in rulectl's schemas, plus rulectl's own records of what it applied."""

    objects: dict[tuple[str, str], DeployedObject] = field(default_factory=dict)  # (kind, QUALIFIED) → object
    records: dict[tuple[str, str], ManagedRecord] = field(default_factory=dict)
    queries: int = 0  # introspection round trips it took

    def get(self, kind: str, qualified_name: str) -> DeployedObject | None:
        return self.objects.get((kind, qualified_name.upper()))

    def record(self, kind: str, qualified_name: str) -> ManagedRecord | None:
        return self.records.get((kind, qualified_name.upper()))

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything rulectl can see changed; saved plans are checked against it."""
        parts = sorted(f"{k}|{n}|{o.comment}|{o.definition_hash}|{o.state}" for (k, n), o in self.objects.items())
        parts += sorted(f"R|{r.kind}|{r.qualified_name}|{r.fingerprint}|{r.definition_hash}" for r in self.records.values())
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def utc_timestamp_text(at: datetime | None = None) -> str:
    """`at` (default: now) in UTC as 'YYYY-MM-DD HH:MM:SS.ffffff', always six fractional digits.
    Microseconds kept: two applies within one second must still be told apart (history order)."""
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class Backend(ABC):
    """A target engine. Subclasses set `dialect` and implement `_run` and `introspect`.

    Contract:
    - `to_sql(tree)` renders a Snowflake-dialect AST in the engine's dialect (the only place where
      engine-specific SQL fixes live);
    - `query(tree_or_sql)` runs one statement and returns rows as tuples; every statement sent is
      appended to `statements` (tests assert on it);
    - `introspect(schemas)` reads the deployed state with a fixed number of queries per schema and
      kind, however many objects there are;
    - the `*_statements` methods return the DDL for one plan step, so apply and a dry run share them.
    """

    dialect: str = "snowflake"
    loads_samples = False  # `rulectl load` fills this engine's source tables from sample CSVs
    max_union_branches: int | None = None  # None: one query however many branches

    def __init__(self) -> None:
        self.statements: list[str] = []
        self._template_pieces: dict[str, list[str]] = {}  # filled_template's, per template
        self._state_tables_ready = False  # ensure_state_tables ran on this connection

    # ------------------------------------------------------------ running SQL

    def to_sql(self, tree: exp.Expression, pretty: bool = False) -> str:
        """Memoised by the tree's content (core/tree_memo.py): a Snowflake task's script renders the
        same large MERGE and queries for its plan, its dry run and its apply (~10 ms each)."""
        return _generated.get(tree, (self.dialect, pretty), lambda: tree.sql(dialect=self.dialect, pretty=pretty))

    def timestamp_literal(self, at: datetime | None = None) -> exp.Expression:
        """`at` (default: now) as a TIMESTAMP_NTZ literal holding UTC, for rulectl's own records
        (no offset, whatever the session's zone or TIMESTAMP_TYPE_MAPPING says:
        https://docs.snowflake.com/en/sql-reference/parameters#timestamp-type-mapping). Here a CAST
        of ISO text, which DuckDB reads as it is; engines whose casts depend on a session input
        format override it."""
        return exp.cast(exp.Literal.string(utc_timestamp_text(at)), exp.DataType.build("TIMESTAMP_NTZ", dialect="snowflake"))

    def array_value(self, value: Any) -> list[Any]:
        """An ARRAY column's value as a Python list. Snowflake's connector returns semi-structured
        values as JSON text (https://docs.snowflake.com/en/developer-guide/python-connector/python-connector-api#data-type-mappings-for-qmark-and-numeric-bindings)."""
        if value is None:
            return []
        if isinstance(value, str):
            import json

            return list(json.loads(value))
        return list(value)

    def serve_locally(self, function: Any) -> None:
        """Make a local stand-in for a Cortex function (ai/local_*.py: anything with
        `register(connection)`) callable by this engine's SQL. Snowflake runs Cortex itself."""

    def execute(self, statement: exp.Expression | str) -> None:
        self.query(statement)

    def filled_template(self, template: str, values: dict[str, exp.Expression]) -> str:
        """One of rulectl's own statement templates (RECORD_MERGE, HISTORY_INSERT) as this engine's
        SQL, each `__name__` column of the template replaced by its value (a literal, or a cast of
        one): the same SQL as rendering the filled tree (tests/backends/test_state_templates.py).

        The template is rendered once per backend (on DuckDB through rulectl's fixes, which never
        rewrite a literal) and split at its placeholders; each value is generated by sqlglot on its
        own and set between the pieces, never scanned again, so no value's text is taken for a
        placeholder. Rendering the filled tree per record cost ~4 ms on DuckDB (fixes, deep copy)
        and ~30 ms on Snowflake's test double: a fifth of the kill sweeps' time."""
        pieces = self._template_pieces.get(template)
        if pieces is None:
            pieces = self._template_pieces[template] = TEMPLATE_PLACEHOLDER.split(self.to_sql(parsed_statement(template)))
        return filled_pieces(pieces, {name: value.sql(dialect=self.dialect) for name, value in values.items()})

    def query(self, statement: exp.Expression | str) -> list[tuple[Any, ...]]:
        sql = statement if isinstance(statement, str) else self.to_sql(statement)
        self.statements.append(sql)
        return self._run(sql)

    def query_arrow(self, statement: exp.Expression | str) -> pa.Table:
        """Run one query and return its rows as an Arrow table with the engine's own column types
        (lower-case names), for exports that must keep types; recorded in `statements` like `query`."""
        sql = statement if isinstance(statement, str) else self.to_sql(statement)
        self.statements.append(sql)
        return self._run_arrow(sql)

    def _run_arrow(self, sql: str) -> pa.Table:
        """Send one query and return its rows as Arrow."""
        raise NotImplementedError

    # Whether `rehearse` can run DDL and take it back: an engine whose DDL is transactional, on a
    # connection that may write. Snowflake commits every DDL statement at once, so it cannot
    # (https://docs.snowflake.com/en/sql-reference/transactions#ddl).
    rehearses_ddl = False

    def rehearse(self, statements: Sequence[exp.Expression | str]) -> tuple[int, str] | None:
        """Run `statements` in one transaction and roll it back, whatever happens: None when the
        engine accepted every one, else the index of the first it refused and the first line of
        its error. Only where `rehearses_ddl`."""
        raise NotImplementedError

    @abstractmethod
    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        """Send one SQL statement to the engine and return its rows."""

    @abstractmethod
    def introspect(self, schemas: Sequence[str]) -> DeployedState:
        """Deployed views, tables, tasks (and rulectl's records) in `schemas`."""

    @classmethod
    def from_target(cls, loaded: LoadedProject, target: str, read_only: bool = False) -> "Backend":
        """Connect to the target named `target` of the project."""
        raise NotImplementedError

    @classmethod
    def for_rendering(cls, loaded: LoadedProject, target: str) -> "Backend":
        """A backend that only renders SQL (no connection), for `rulectl compile`."""
        raise NotImplementedError

    def as_deployed(self, desired: Sequence[DesiredObject]) -> list[DesiredObject]:
        """The desired objects as this backend deploys them: each stamped with `backend_stamp(obj)`,
        so its fingerprint also covers what the backend wraps around its statement. Plan, apply and
        `rulectl compile` fingerprint these, never the bare compiled objects."""
        return [obj.stamped(self.backend_stamp(obj)) for obj in desired]

    def backend_stamp(self, obj: DesiredObject) -> str:
        """A hash of what this backend adds around `obj`'s statement when it deploys it (the same for
        every object of a kind, so it costs nothing per object); empty when it deploys the
        statement as it is, which leaves the object's fingerprint as compile made it."""
        return ""

    def view_select_text(self, obj: DesiredObject) -> str | None:
        """The SELECT of a view compiled item by item (`obj.wide_statement`), as this engine's SQL
        from its items' kept texts, without building the statement's tree; None where this backend
        renders views whole (plan/view_checks.py then builds the tree)."""
        return None

    def compiled_text(self, obj: DesiredObject, comment: str) -> str:
        """What `rulectl compile` shows for one object: the first-deploy DDL apply would send,
        ownership COMMENT included; tasks as CREATE TASK … AS <body>."""
        if obj.kind == "view":
            statement = self.view_statements(obj, comment, exists=False)[0]
        elif obj.kind == "table":
            statement = self.table_statements(obj, comment)[0]
        elif obj.kind == "task":
            statement = self.task_create(obj, comment, pretty=True)
        else:
            statement = obj.statement
        return statement if isinstance(statement, str) else self.to_sql(statement, pretty=True)

    # what to do when a source table is missing, in this engine's terms
    missing_source_hint = "check `table:` in rulectl.yml and that your role can read the table"

    def source_columns(self, tables: Sequence[str]) -> dict[str, dict[str, str]]:
        """Columns (lower-case name → the engine's type) of each of `tables` (qualified, upper case)
        that exists; one query per schema however many tables. Missing tables are left out."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection."""

    def table_columns(self, qualified_name: str) -> list[tuple[str, str]]:
        """(column, Snowflake type) of an existing table, in order; empty when there is no such table.

        INFORMATION_SCHEMA.COLUMNS answers on both engines; each backend spells its types in
        `_snowflake_type`. https://docs.snowflake.com/en/sql-reference/info-schema/columns
        """
        parts = qualified_name.upper().split(".")
        schema, name = parts[-2], parts[-1]
        info = self.information_schema("columns", parts[0] if len(parts) == 3 else None)
        where = exp.and_(
            exp.Upper(this=exp.column("table_schema")).eq(exp.Literal.string(schema)),
            exp.Upper(this=exp.column("table_name")).eq(exp.Literal.string(name)),
        )
        query = exp.select("column_name", "data_type", "numeric_precision", "numeric_scale").from_(info).where(where).order_by("ordinal_position")
        return [(str(column).lower(), self._snowflake_type(str(kind), precision, scale)) for column, kind, precision, scale in self.query(query)]

    def information_schema(self, view: str, database: str | None = None) -> exp.Table:
        """The INFORMATION_SCHEMA view that describes `database` (None: the target's own)."""
        return exp.table_(view, db="information_schema")

    def _snowflake_type(self, data_type: str, precision: Any, scale: Any) -> str:
        """INFORMATION_SCHEMA's type → the type text rulectl.yml uses (Snowflake: TEXT, NUMBER, …)."""
        upper = data_type.upper()
        if upper == "TEXT":
            return "varchar"
        if upper == "NUMBER" and precision is not None:
            return f"number({precision},{scale or 0})"
        return upper.lower()

    # ------------------------------------------------------------ AI refreshes

    # True when rulectl itself executes the deployed tasks (engine.ai.runner, engine.ai.scheduler);
    # False when the engine runs them (Snowflake: EXECUTE TASK) through run_refreshes below.
    runs_tasks_locally = False

    # What to check when a refresh's model calls all fail (`status` and `plan` warnings).
    failing_calls_advice = "check the model endpoint with `rulectl doctor` (`rulectl run` shows the provider's error)"

    def cortex_usage(self, since: Any = None) -> AccountUsage | None:
        """The target's own record of AI spend since a date, where it keeps one (None: only
        rulectl's records exist, e.g. a local DuckDB file)."""
        return None

    def task_runs(self, tasks: Sequence[str]) -> dict[str, TaskRuns]:
        """SCHEMA.TASK (upper case) → its latest runs as the target's own scheduler recorded them, for
        the tasks that ran (one query, however many tasks). Empty where rulectl runs the tasks itself
        (the run log is then the whole story)."""
        return {}

    # The languages AI sentiment reads on this target when rulectl scores locally (None: the target's
    # own function, Cortex AI_SENTIMENT, which reads the languages it documents itself).
    local_sentiment_languages: str | None = None

    def run_notes(self, tasks: Sequence[str]) -> dict[str, str]:
        """SCHEMA.TASK (upper case) → what rulectl's own runner noted about the task's last run beyond
        its counts (the local sentiment analyser's out-of-language texts). Empty where the target's
        scheduler runs the tasks (Snowflake: its AI_SENTIMENT reads the languages itself)."""
        return {}

    def run_refreshes(self, loaded: Any, target: Any, prompts: Sequence[str], on_start: Callable = lambda task, total: None, on_row: Callable = lambda ok: None) -> list[RunResult]:
        """Run the deployed refresh tasks of `prompts` (all when empty) now: one RunResult each.
        `target` is the target's settings from rulectl.yml (its `llm:` serves local refreshes)."""
        raise NotImplementedError

    def run_due_refreshes(self, loaded: Any, target: Any, now: datetime) -> list[RunResult]:
        """One scheduler tick: run every started task whose schedule says it is due."""
        raise NotImplementedError

    def cortex_failures(self, calls: Sequence[Any]) -> dict[str, str]:
        """label → the engine's own error, for each Cortex check call (compile/cortex_calls.py) that
        fails ({} when all answer, or when the engine has no such check)."""
        return {}

    def cortex_checks(self, calls: Sequence[Any]) -> list[DoctorCheck]:
        """One DoctorCheck per Cortex check call, with the fix for a failure ([] when the engine has
        no Cortex). `rulectl doctor` and the apply preflight both use it."""
        return []

    def doctor_checks(self, loaded: Any, target: Any) -> list[DoctorCheck]:
        """What `rulectl doctor` checks on this engine before the first apply: the connection or file,
        privileges, compute, AI access. `target` is the target's settings from rulectl.yml."""
        return []

    # ------------------------------------------------------------ DDL for plan steps

    def schema_statements(self, obj: DesiredObject) -> list[exp.Expression | str]:
        return [obj.statement]

    def view_statements(self, obj: DesiredObject, comment: str, exists: bool) -> list[exp.Expression | str]:
        """Snowflake: one statement; COPY GRANTS keeps the grants when the view already exists.

        https://docs.snowflake.com/en/sql-reference/sql/create-view (COPY GRANTS needs OR REPLACE)
        """
        create = obj.statement.copy()
        properties = [exp.SchemaCommentProperty(this=exp.Literal.string(comment))]
        if exists:
            create.set("replace", True)
            properties.insert(0, exp.CopyGrantsProperty())
        create.set("properties", exp.Properties(expressions=properties))
        return [create]

    def table_statements(self, obj: DesiredObject, comment: str) -> list[exp.Expression | str]:
        create = obj.statement.copy()
        create.set("properties", exp.Properties(expressions=[exp.SchemaCommentProperty(this=exp.Literal.string(comment))]))
        return [create]

    def table_replace_statements(self, obj: DesiredObject, comment: str) -> list[exp.Expression | str]:
        """A destructive REPLACE of a table (only with --allow-destructive): DROP, then CREATE. Engines
        that can swap a table in one statement and keep its grants override this."""
        return self.drop_statements("table", obj.qualified_name) + self.table_statements(obj, comment)

    def add_column_statements(self, obj: DesiredObject, columns: Sequence[tuple[str, str]], comment: str) -> list[exp.Expression | str]:
        statements: list[exp.Expression | str] = [
            exp.Alter(
                this=table(obj.qualified_name),
                kind="TABLE",
                actions=[exp.ColumnDef(this=exp.to_identifier(name), kind=exp.DataType.build(kind, dialect="snowflake"))],
            )
            for name, kind in columns
        ]
        statements.append(self.comment_statement("TABLE", obj.qualified_name, comment))
        return statements

    def drop_column_statements(self, obj: DesiredObject, columns: Sequence[str]) -> list[exp.Expression | str]:
        """ALTER TABLE … DROP COLUMN, one per column (destructive: planned only with --allow-destructive)."""
        return [
            exp.Alter(this=table(obj.qualified_name), kind="TABLE", actions=[exp.Drop(tables=[exp.column(name)], kind="COLUMN")])
            for name in columns
        ]

    def comment_statement(self, kind: str, qualified_name: str, comment: str) -> exp.Expression:
        return exp.Comment(this=table(qualified_name), kind=kind, expression=exp.Literal.string(comment))

    def task_statements(self, obj: DesiredObject, comment: str, exists: bool) -> list[exp.Expression | str]:
        """Snowflake tasks: implemented by SnowflakeBackend (suspend root, replace, resume)."""
        raise NotImplementedError

    def task_compute_notes(self, desired: Sequence[DesiredObject]) -> list[str]:
        """Plan notes saying where refresh tasks run, for engines that offer a choice (none here)."""
        return []

    def semantic_view_statements(self, obj: DesiredObject, comment: str) -> list[exp.Expression | str]:
        """Create or replace a semantic view (only Snowflake has them; validation keeps them there)."""
        raise RulectlError(f"this target cannot hold the semantic view {obj.qualified_name}; `semantic_view:` is a snowflake target setting")

    def drop_statements(self, kind: str, qualified_name: str) -> list[exp.Expression | str]:
        return [exp.Drop(tables=[table(qualified_name)], kind=kind.upper(), exists=True)]

    # ------------------------------------------------------------ rulectl's own state

    def ensure_state_tables(self) -> None:
        """rulectl's state tables (`state_table_ddl`), created where missing — once per backend, i.e.
        per command: the apply lock and the apply steps both need them, and on Snowflake each
        statement is a round trip. A statement that fails leaves them to be ensured again."""
        if self._state_tables_ready:
            return
        for statement in self.state_table_ddl():
            self.execute(statement)
        self._state_tables_ready = True

    def state_table_ddl(self) -> list[exp.Expression | str]:
        """_RULECTL.OBJECTS (what rulectl applied), _RULECTL.HISTORY (every applied step) and
        _RULECTL.RUN_LOG (every AI refresh run). Times are TIMESTAMP_NTZ holding UTC: a plain
        TIMESTAMP follows TIMESTAMP_TYPE_MAPPING and may become TIMESTAMP_LTZ.
        https://docs.snowflake.com/en/sql-reference/data-types-datetime#timestamp"""
        # rendered per engine (TIMESTAMP_NTZ → TIMESTAMP on DuckDB)
        return [parsed_statement(sql) for sql in (
            f"CREATE SCHEMA IF NOT EXISTS {STATE_SCHEMA}",
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.OBJECTS (kind VARCHAR, qualified_name VARCHAR, fingerprint VARCHAR, "
            "definition_hash VARCHAR, plan_id VARCHAR, applied_at TIMESTAMP_NTZ, applied_sql VARCHAR)",
            f"CREATE TABLE IF NOT EXISTS {STATE_SCHEMA}.HISTORY (applied_at TIMESTAMP_NTZ, plan_id VARCHAR, action VARCHAR, "
            "kind VARCHAR, qualified_name VARCHAR, fingerprint VARCHAR, status VARCHAR, message VARCHAR)",
            RUN_LOG_DDL,
            APPLIES_DDL,
        )]

    def write_record(
        self, kind: str, qualified_name: str, fingerprint: str, definition_hash: str | None, plan_id: str, applied_sql: str | None = None
    ) -> None:
        """Upsert rulectl's record of one object in ONE statement (a MERGE), so a kill leaves either
        the old record or the new one, never none. `definition_hash=None` marks the object as
        unfinished: apply writes that intent before it touches the object, and the hash once the
        object has landed, so any prefix of create / tag / record is recognised as rulectl's.
        https://docs.snowflake.com/en/sql-reference/sql/merge"""
        values = {
            "__kind__": exp.Literal.string(kind),
            "__name__": exp.Literal.string(qualified_name),
            "__fingerprint__": exp.Literal.string(fingerprint),
            "__hash__": exp.Literal.string(definition_hash) if definition_hash else exp.cast(exp.null(), "VARCHAR"),
            "__plan__": exp.Literal.string(plan_id),
            "__at__": self.timestamp_literal(),
            "__sql__": exp.Literal.string(applied_sql) if applied_sql else exp.cast(exp.null(), "VARCHAR"),
        }
        self.execute(self.filled_template(RECORD_MERGE, values))

    def forget_record(self, kind: str, qualified_name: str) -> None:
        """After a drop: one DELETE (a kill before it leaves a record the next plan finishes dropping)."""
        where = exp.and_(exp.column("kind").eq(exp.Literal.string(kind)), exp.column("qualified_name").eq(exp.Literal.string(qualified_name)))
        self.execute(exp.delete(table(f"{STATE_SCHEMA}.OBJECTS"), where=where))

    def describe(self, kind: str, qualified_name: str) -> DeployedObject | None:
        """One object as `introspect` reports it (a query or two, whatever the number of objects):
        apply records its definition hash the moment it lands."""
        raise NotImplementedError

    def cannot_read(self, kind: str, qualified_name: str, error: BaseException) -> str:
        """Why reading `qualified_name` failed, for a message: not on the target yet (the usual case
        before `rulectl apply`; the engine's catalog error says nothing more), else the engine's own
        first line. The schema is looked up first: Snowflake refuses SHOW … IN a missing schema."""
        try:
            schema = qualified_name.upper().split(".")[0]
            missing = self.describe("schema", schema) is None or self.describe(kind, qualified_name) is None
        except Exception:  # the catalog cannot be read either: the engine's error says more
            missing = False
        if missing:
            return f"{kind} {qualified_name} does not exist on this target yet"
        return f"cannot read {qualified_name}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"

    def write_history(self, plan_id: str, action: str, kind: str, qualified_name: str, fingerprint: str | None, status: str, message: str = "") -> None:
        texts = {"__plan__": plan_id, "__action__": action, "__kind__": kind, "__name__": qualified_name, "__fingerprint__": fingerprint, "__status__": status, "__message__": message[:2000]}
        values = {"__at__": self.timestamp_literal()} | {name: exp.Literal.string(v) if v is not None else exp.null() for name, v in texts.items()}
        self.execute(self.filled_template(HISTORY_INSERT, values))

    def session_user(self) -> str | None:
        """The engine's own user name (Snowflake: CURRENT_USER()); None where the engine has none."""
        return str(self.query(exp.select(exp.func("CURRENT_USER")))[0][0])

    def write_apply(self, plan_id: str, applied_by: str, git_commit: str | None, target: str, steps_planned: int | None = None) -> None:
        """Who applied `plan_id`, from which commit of the project, to which target, and how many
        steps it planned (fewer recorded than planned, with no failure or Ctrl-C: the apply was killed)."""
        self.execute(sqlglot.parse_one(APPLIES_PLANNED, read="snowflake"))
        values = [exp.Literal.string(plan_id), self.timestamp_literal(), exp.Literal.string(applied_by)]
        values += [exp.Literal.string(git_commit) if git_commit else exp.null(), exp.Literal.string(target)]
        values += [exp.Literal.number(steps_planned) if steps_planned is not None else exp.null()]
        self.execute(exp.insert(exp.values([exp.Tuple(expressions=values)]), table(APPLIES)))

    # ------------------------------------------------------------ the apply lock

    def acquire_lock(self, holder: LockHolder) -> None:
        """One CREATE TABLE … AS SELECT (without IF NOT EXISTS): atomic on both engines, so the
        second apply fails and a kill leaves either no lock or a lock that names its holder.
        https://docs.snowflake.com/en/sql-reference/sql/create-table#create-table-as-select-also-referred-to-as-ctas"""
        self.ensure_state_tables()
        row = exp.select(
            exp.Literal.string(holder.user).as_("holder_user"),
            exp.Literal.string(holder.host).as_("host"),
            exp.Literal.number(holder.pid or 0).as_("pid"),
            (exp.Literal.string(holder.plan_id) if holder.plan_id else exp.cast(exp.null(), "VARCHAR")).as_("plan_id"),
            self.timestamp_literal().as_("since"),
        )
        try:
            self.execute(exp.Create(this=table(LOCK_TABLE), kind="TABLE", expression=row))
        except Exception as error:
            current = self.lock_holder()
            if current is None:  # no lock there: the failure is something else (privilege, network)
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise RulectlError(f"could not take the apply lock ({LOCK_TABLE}): {message}; nothing was changed") from None
            raise RulectlError(f"another apply is in progress: the lock is held by {current.describe()}; nothing was changed. {current.advice()}") from None

    def note_lock_plan(self, plan_id: str) -> None:
        """Name the plan in the lock once it is made (a kill before this leaves the lock without it)."""
        self.execute(exp.update(table(LOCK_TABLE), {"plan_id": exp.Literal.string(plan_id)}))

    def lock_holder(self) -> LockHolder | None:
        """Who holds the apply lock, or None when there is no lock. Errors other than "no such
        table" propagate: they are not evidence that the target is unlocked."""
        if not self._lock_exists():
            return None
        try:
            rows = self.query(f"SELECT holder_user, host, pid, plan_id, since FROM {LOCK_TABLE}")
        except Exception:  # a lock written by an older rulectl (holder, since)
            return LockHolder("an older rulectl", "unknown host", None, None, None)
        if not rows:
            return LockHolder("an apply that had just started", "unknown host", None, None, None)
        user, host, pid, plan_id, since = rows[0]
        return LockHolder(user, host, int(pid) if pid else None, plan_id, since)

    def _lock_exists(self) -> bool:
        """Whether _RULECTL.APPLY_LOCK exists (each backend asks its own catalog)."""
        raise NotImplementedError

    def release_lock(self) -> None:
        self.execute(f"DROP TABLE IF EXISTS {LOCK_TABLE}")
