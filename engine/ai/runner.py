"""`rulectl run` on the local target: execute the deployed refresh tasks now.

Runs exactly what apply deployed (the task's MERGE in _RULECTL.TASKS), in bounded batches each
committed as it lands, with the target's provider behind the COMPLETE function; every good reply is
kept in the task's reply journal the moment it arrives (ai/reply_journal.py), so a killed run loses
at most the calls in flight. Records each run in the run log and when each task ran and how it went.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import sqlglot
from sqlglot import exp

from engine.ai.local_complete import LocalComplete, failure_breakdown
from engine.ai.local_embed import LocalEmbed
from engine.ai.local_sentiment import ANALYSER, LocalSentiment
from engine.ai.providers import make_provider
from engine.ai.reply_journal import ReplyJournal, journal_path
from engine.backends.base import RUN_LOG_DDL, STATE_SCHEMA, TEMPLATE_PLACEHOLDER, RunResult, filled_pieces, run_log_finish, run_log_start
from engine.backends.duckdb import DuckDBBackend
from engine.compile.refresh_batches import batch_merge, pending_count_query, pending_limit
from engine.compile.structured_outputs import json_schema
from engine.config.models import LLMSettings
from engine.core.errors import RulectlError
from engine.core.stop_request import StopRequest
from engine.core.expressions import utc_now


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
    except duckdb.CatalogException:  # never applied; any other failure (a damaged file) is reported
        return []
    return [LocalTask(*row) for row in rows]


def run_local_refreshes(backend: DuckDBBackend, loaded, target, prompts: Sequence[str], on_start=lambda task, total: None, on_row=lambda ok: None) -> list[RunResult]:
    """Run the deployed tasks of `prompts` (all when empty) now through the target's provider."""
    tasks = select_tasks(deployed_tasks(backend), prompts)
    if not tasks:
        raise RulectlError("no refresh tasks are deployed on this target; run `rulectl apply` first")
    return run_local_tasks(backend, loaded, target, tasks, on_start, on_row)


def run_local_tasks(backend: DuckDBBackend, loaded, target, tasks: Sequence[LocalTask], on_start=lambda task, total: None, on_row=lambda ok: None) -> list[RunResult]:
    """Run `tasks` in stage order (sentiment before the prompts that read it); stop after a Ctrl-C'd task."""
    from engine.config.enrichments import enrichment_tasks, run_stage

    batch_rows = {f"REFRESH_{p.item.name}".upper(): p.item.refresh.batch_rows for p in loaded.prompts}
    batch_rows.update({f"REFRESH_{name}".upper(): rows for name, rows in enrichment_tasks(loaded.config).items()})
    schemas = {f"REFRESH_{p.item.name}".upper(): (json_schema(p.item.outputs),) for p in loaded.prompts if p.item.outputs}
    results: list[RunResult] = []
    for task in sorted(tasks, key=lambda task: run_stage(loaded.config, task.name)):  # stable: by name within a stage
        name = task.name.upper()
        results.append(run_task(backend, task, target.llm, on_start, on_row, batch_rows.get(name, 50), schemas.get(name, ())))
        if results[-1].interrupted:
            break
    return results


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


def task_statements(task: LocalTask) -> list[exp.Expression]:
    """The deployed statements of a task: its removals (none for tasks applied before them), then the MERGE."""
    return [statement.copy() for statement in _parsed_definition(task.definition)]


@functools.lru_cache(maxsize=64)
def _parsed_definition(definition: str) -> tuple[exp.Expression, ...]:
    """Parsing a stored MERGE (~80 ms for a prompt's) costs more than copying it; a process that
    runs the same task again (`rulectl run` per prompt, the scheduler, the tests) parses it once.
    Callers get copies: the trees here are never handed out."""
    return tuple(statement for statement in sqlglot.parse(definition, read="snowflake") if statement is not None)


def _affected_rows(rows: list[tuple]) -> int:
    return int(rows[0][0]) if rows and rows[0] and rows[0][0] is not None else 0


def pending_count(backend: DuckDBBackend, merge: exp.Expression) -> int:
    """Rows the MERGE would send to the model: COUNT(*) over its pending-rows subquery."""
    return backend.query(pending_count_query(merge))[0][0]


BATCH_SKIP, BATCH_TAKE = "__skiprows__", "__takerows__"  # batch_sql's placeholders


def batch_sql(backend: DuckDBBackend, merge: exp.Expression) -> Callable[[int, int], str]:
    """The SQL of the MERGE's batch of pending rows skip+1 … skip+take, for any two row counts.

    Rendered once per run with a placeholder column for each count, then filled per batch: a
    prompt's MERGE renders in ~20–30 ms on DuckDB, and a run of 2,000 rows has 40 batches. The
    counts are ints written by int(); where the placeholders' names do not appear exactly as the
    batch writes them (the prompt's own text spells one), every batch is rendered whole instead."""
    pieces = TEMPLATE_PLACEHOLDER.split(backend.to_sql(batch_merge(merge, exp.column(BATCH_SKIP), exp.column(BATCH_TAKE))))
    if sorted(name for name in pieces[1::2] if name in (BATCH_SKIP, BATCH_TAKE)) != [BATCH_SKIP, BATCH_SKIP, BATCH_TAKE]:
        return lambda skip, take: backend.to_sql(batch_merge(merge, exp.Literal.number(skip), exp.Literal.number(take)))

    return lambda skip, take: filled_pieces(pieces, {BATCH_SKIP: str(int(skip)), BATCH_TAKE: str(int(take))})


def run_task(
    backend: DuckDBBackend,
    task: LocalTask,
    llm: LLMSettings,
    on_start: Callable[[LocalTask, int], None] = lambda task, total: None,
    on_row: Callable[[bool], None] = lambda ok: None,
    batch_rows: int = 50,
    full_schemas: tuple[dict, ...] = (),
) -> RunResult:
    """Enrich the task's pending rows in batches of `batch_rows`, each committed as it lands,
    and log the run (pending, enriched, failed, error) in the run log."""
    *removals, merge = task_statements(task)
    prompt = task.name.removeprefix("REFRESH_").lower()
    # what the task stored for rows that no longer exist goes first: free, and kept even if a call fails
    removed = sum(_affected_rows(backend.query(statement)) for statement in removals)
    pending = pending_count(backend, merge)
    on_start(task, pending)
    provider = make_provider(llm)
    journal = ReplyJournal(journal_path(backend.path, task.qualified_name) if str(backend.path) != ":memory:" else None)
    complete = LocalComplete(provider, llm.concurrency, on_row, full_schemas, journal)  # the deployed task's schema, constraints restored
    complete.register(backend.connection)
    sentiment = LocalSentiment()  # row-level enrichment tasks call it instead of COMPLETE
    sentiment.register(backend.connection)
    embed = LocalEmbed(provider if hasattr(provider, "embed") else None, llm.concurrency, on_row)  # the search task calls it
    embed.register(backend.connection)
    helpers = (complete, sentiment, embed)
    run_id = exp.Literal.string(str(uuid.uuid4()))
    backend.execute(sqlglot.parse_one(RUN_LOG_DDL, read="snowflake"))  # targets applied before the run log existed
    backend.execute(run_log_start(prompt, run_id, exp.Literal.number(pending)))
    enriched, attempted, error = 0, 0, None
    batch = batch_sql(backend, merge)
    with StopRequest() as stop:
        try:
            while attempted < pending and not stop.requested:
                take = min(batch_rows, pending - attempted)
                rows = backend.query(batch(attempted - enriched, take))
                enriched += _affected_rows(rows)
                attempted += take
            if not stop.requested:  # every batch committed: the journal's replies are in the output table
                limit = pending_limit(merge)
                journal.finish(capped=limit is not None and pending >= limit)
        except KeyboardInterrupt:
            error = "stopped by a second Ctrl-C: earlier batches are kept, the replies of the batch in flight wait in the journal for the next run"
            raise
        except Exception as failure:
            error = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
            raise RulectlError(f"task {task.qualified_name} failed: {error}; the {enriched} row(s) enriched before it are kept") from None
        finally:
            journal.close()  # a no-op after finish; else the replies of the batch in flight stay for the next run
            failed = sum(helper.stats.failures for helper in helpers)
            breakdown = failure_breakdown([helper.stats for helper in helpers])
            logged = error or breakdown  # `status` shows why calls failed, not only how many
            backend.execute(run_log_finish(run_id, exp.Literal.number(enriched), exp.Literal.number(failed), exp.Literal.string(logged[:2000]) if logged else None))
            status = f"error: {error}" if error else (f"{failed} failed call(s) left pending" if failed else "ok")
            _record_run(backend, task, "interrupted" if stop.requested else status)
    calls, failures = sum(h.stats.calls for h in helpers), sum(h.stats.failures for h in helpers)
    errors = tuple(error for helper in helpers for error in helper.stats.errors)
    language_note = sentiment.language_note() if sentiment.stats.calls else None
    if sentiment.stats.calls:  # `status` and `plan` show it until the next run that scores texts
        _record_note(backend, task, language_note)
    note = "; ".join(filter(None, [f"scored by {ANALYSER}", language_note])) if sentiment.stats.calls else f"embedded by {embed.label}" if embed.label else ""
    if journal.recovered:  # replies a killed run had paid for, stored now without a call
        note = "; ".join(filter(None, [note, f"{journal.recovered} reply(ies) recovered from the journal of an interrupted run"]))
    return RunResult(prompt, task.qualified_name, pending, enriched, calls, failures, errors, interrupted=stop.requested, note=note, failure_breakdown=breakdown, removed=removed)


def _record_note(backend: DuckDBBackend, task: LocalTask, note: str | None) -> None:
    """What the last run should tell the user beyond its counts (DuckDBBackend.run_notes reads it)."""
    backend.execute(f"ALTER TABLE {STATE_SCHEMA}.TASKS ADD COLUMN IF NOT EXISTS last_note VARCHAR")  # files applied before it existed
    where = exp.and_(exp.column("schema_name").eq(exp.Literal.string(task.schema)), exp.column("task_name").eq(exp.Literal.string(task.name)))
    backend.execute(exp.update(f"{STATE_SCHEMA}.TASKS", {"last_note": exp.Literal.string(note[:2000]) if note else exp.null()}, where=where))


def _record_run(backend: DuckDBBackend, task: LocalTask, status: str) -> None:
    where = exp.and_(exp.column("schema_name").eq(exp.Literal.string(task.schema)), exp.column("task_name").eq(exp.Literal.string(task.name)))
    backend.execute(
        exp.update(
            f"{STATE_SCHEMA}.TASKS",
            {"last_run_at": utc_now(), "last_status": exp.Literal.string(status[:500])},
            where=where,
        )
    )
