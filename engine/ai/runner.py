"""`rulectl run` on the local target: execute the deployed refresh tasks now.

Runs exactly what apply deployed (the task's MERGE in _RULECTL.TASKS), with the target's provider
behind the COMPLETE function, and records when each task ran and how it went.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from engine.ai.local_complete import LocalComplete
from engine.ai.providers import make_provider
from engine.backends.base import STATE_SCHEMA
from engine.backends.duckdb import DuckDBBackend
from engine.config.models import LLMSettings
from engine.errors import RulectlError
from engine.expressions import utc_now


@dataclass(frozen=True)
class RunResult:
    task: str
    pending: int
    enriched: int
    calls: int
    failures: int
    errors: tuple[str, ...]


@dataclass(frozen=True)
class LocalTask:
    schema: str
    name: str
    definition: str
    schedule: str
    state: str
    last_run_at: object = None

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


def deployed_tasks(backend: DuckDBBackend) -> list[LocalTask]:
    try:
        rows = backend.query(f"SELECT schema_name, task_name, definition, schedule, state, last_run_at FROM {STATE_SCHEMA}.TASKS ORDER BY 1, 2")
    except Exception:
        return []
    return [LocalTask(*row) for row in rows]


def select_tasks(tasks: list[LocalTask], prompts: Sequence[str]) -> list[LocalTask]:
    if not prompts:
        return tasks
    wanted = {f"REFRESH_{p}".upper() for p in prompts}
    chosen = [t for t in tasks if t.name.upper() in wanted]
    missing = wanted - {t.name.upper() for t in chosen}
    if missing:
        deployed = ", ".join(t.name.removeprefix("REFRESH_").lower() for t in tasks) or "none"
        raise RulectlError(f"no deployed refresh task for prompt(s) {', '.join(sorted(m.removeprefix('REFRESH_').lower() for m in missing))} (deployed: {deployed}); run `rulectl apply` first")
    return chosen


def pending_count(backend: DuckDBBackend, merge: exp.Expression) -> int:
    """Rows the MERGE would send to the model: COUNT(*) over its pending-rows subquery."""
    pending = next(s for s in merge.find_all(exp.Subquery) if s.alias == "p")
    return backend.query(exp.select(exp.func("COUNT", exp.Star())).from_(exp.Subquery(this=pending.this.copy(), alias=exp.TableAlias(this=exp.to_identifier("p")))))[0][0]


def run_task(
    backend: DuckDBBackend,
    task: LocalTask,
    llm: LLMSettings,
    on_start: Callable[[LocalTask, int], None] = lambda task, total: None,
    on_row: Callable[[bool], None] = lambda ok: None,
) -> RunResult:
    merge = sqlglot.parse_one(task.definition, read="snowflake")
    pending = pending_count(backend, merge)
    on_start(task, pending)
    complete = LocalComplete(make_provider(llm), llm.concurrency, on_row)
    complete.register(backend.connection)
    enriched = 0
    status = "ok"
    try:
        if pending:
            rows = backend.query(merge)
            enriched = int(rows[0][0]) if rows and rows[0] else 0
        if complete.stats.failures:
            status = f"{complete.stats.failures} failed call(s) left pending"
    except Exception as error:
        status = f"error: {str(error).splitlines()[0]}"
        raise RulectlError(f"task {task.qualified_name} failed: {str(error).splitlines()[0]}") from None
    finally:
        _record_run(backend, task, status)
    stats = complete.stats
    return RunResult(task.qualified_name, pending, enriched, stats.calls, stats.failures, tuple(stats.errors))


def _record_run(backend: DuckDBBackend, task: LocalTask, status: str) -> None:
    where = exp.and_(exp.column("schema_name").eq(exp.Literal.string(task.schema)), exp.column("task_name").eq(exp.Literal.string(task.name)))
    backend.execute(
        exp.update(
            f"{STATE_SCHEMA}.TASKS",
            {"last_run_at": utc_now(), "last_status": exp.Literal.string(status[:500])},
            where=where,
        )
    )
