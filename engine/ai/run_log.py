"""The run log both targets write (one row per refresh run): each prompt's last run, and warnings for
runs that enriched none of their pending rows — shown by `rulectl status` and in `plan`'s notes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlglot import exp

from engine.config.enrichments import enrichment_tasks, sentiment_sources
from engine.backends.base import RUN_LOG, Backend, TaskRuns
from engine.compile.objects import table
from engine.config.project import LoadedProject


@dataclass(frozen=True)
class LastRun:
    """A prompt's most recent refresh run (`run_id` None: it never ran on this target). `error`: why
    the run stopped, or which calls failed by kind (`N call(s) failed: …`) when it finished."""

    prompt: str
    run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    pending: int | None = None
    enriched: int | None = None
    failed: int | None = None
    error: str | None = None
    advice: str = ""  # what to check when every call fails, for this target's engine
    input_tokens: int | None = None  # of the replies this run stored (ai/spend.py)
    output_tokens: int | None = None
    credits: float | None = None
    task: TaskRuns | None = None  # the target scheduler's own record of the task's runs (Snowflake: TASK_HISTORY)
    note: str | None = None  # what rulectl's own runner noted beyond the counts (Backend.run_notes)

    @property
    def calls_failed(self) -> bool:
        """`error` lists failed calls by kind (the run itself finished), not why the run stopped."""
        return bool(self.error and self.failed and self.error.startswith(f"{self.failed} call(s) failed: "))  # ai.local_complete.failure_breakdown

    @property
    def task_failed_unlogged(self) -> bool:
        """The task's last run failed, and the run log does not say so (it failed before its row)."""
        return self.task is not None and self.task.last_failed and not (self.error and not self.calls_failed)

    @property
    def state(self) -> str:
        if self.task is not None and self.task.auto_suspended:
            return "suspended after failures"
        if self.task_failed_unlogged:
            return "failed"
        if self.run_id is None:
            return "never run"
        if self.error and not self.calls_failed:
            return "failed"
        return "finished" if self.finished_at is not None else "running or killed"

    @property
    def warning(self) -> str | None:
        """Why this run needs attention, if it does."""
        task = self.task
        if task is not None and task.auto_suspended:
            return (f"{self.prompt}: Snowflake suspended task {task.task} after {task.failures_in_a_row} failed run(s) in a row "
                    f"(SUSPEND_TASK_AFTER_NUM_FAILURES); the last error: {task.last_error}; fix the cause, then `rulectl apply` resumes it")
        if self.task_failed_unlogged and task is not None:
            return f"{self.prompt}: the last run of task {task.task} failed ({task.failures_in_a_row} in a row): {task.last_error}"
        if self.state == "failed":
            return f"{self.prompt}: the last run failed: {self.error}"
        if self.finished_at is not None and (self.pending or 0) > 0 and not self.enriched:
            why = self.error if self.calls_failed else f"{self.failed or 0} failed call(s)"
            return f"{self.prompt}: the last run enriched none of its {self.pending} pending row(s) ({why}); the model calls are failing — {self.advice}"
        return None


def last_runs_query() -> exp.Select:
    """Each prompt's latest run: one query, however many prompts."""
    columns = ["prompt", "run_id", "started_at", "finished_at", "pending", "enriched", "failed", "error"]
    latest = exp.Window(
        this=exp.RowNumber(),
        partition_by=[exp.column("prompt")],
        order=exp.Order(expressions=[exp.Ordered(this=exp.column("started_at"), desc=True)]),
    )
    ranked = exp.select(*columns, exp.alias_(latest, "latest")).from_(table(RUN_LOG))
    return exp.select(*columns).from_(exp.Subquery(this=ranked, alias=exp.TableAlias(this=exp.to_identifier("r")))).where(exp.column("latest").eq(1))


def last_runs(loaded: LoadedProject, backend: Backend, task_history: bool = True) -> list[LastRun]:
    """One LastRun per prompt of the project, in project order (never-run prompts included), with the
    target scheduler's record of each task (`task_history`; plan leaves it out: its queries stay
    the run log's one — a task Snowflake suspended shows in plan as drift anyway)."""
    try:
        rows = backend.query(last_runs_query())
    except Exception:  # no run log yet (nothing applied, or applied by an older rulectl)
        rows = []
    number = lambda value: int(value) if value is not None else None  # noqa: E731 — NUMBER arrives as Decimal
    advice = backend.failing_calls_advice
    found = {row[0].lower(): LastRun(row[0], row[1], row[2], row[3], number(row[4]), number(row[5]), number(row[6]), row[7], advice) for row in rows}
    # enrichment tasks (`<source>_sentiment`, `customer_embeddings`) log runs under their own name, like prompts
    names = [p.item.name for p in loaded.prompts] + list(enrichment_tasks(loaded.config))
    task_of = {name: f"{loaded.config.schemas.ai}.REFRESH_{name}".upper() for name in names}
    tasks = backend.task_runs(list(task_of.values())) if task_history else {}
    notes = backend.run_notes(list(task_of.values()))
    return [dataclasses.replace(found.get(name.lower(), LastRun(name, advice=advice)), task=tasks.get(task_of[name]), note=notes.get(task_of[name])) for name in names]


def run_warnings(loaded: LoadedProject, backend: Backend) -> list[str]:
    """plan's notes from the last runs: each warning, and what a run noted (`<prompt>: note`)."""
    runs = last_runs(loaded, backend, task_history=False)
    notes = [f"{run.prompt}: {run.note}" for run in runs if run.note]
    languages = backend.local_sentiment_languages
    if languages:  # said once per sentiment task until a run's own note says more
        noted = {run.prompt for run in runs if run.note}
        notes += [f"{name}: scored on this target by the local analyser, which reads {languages}; `rulectl run` counts the texts it scored that look non-English"
                  for name in sentiment_sources(loaded.config) if name not in noted]
    return [run.warning for run in runs if run.warning] + notes
