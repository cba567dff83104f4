"""`rulectl demo` with a real model: when the llama.cpp runtime is installed and the default catalog
model is pulled (and verified), the demo's prompts enrich only the largest `rows` customers (by the
project's `display.size` metric) with that model, so the first run finishes in about a minute on a
laptop; the other customers stay pending for `rulectl run`. Otherwise the demo runs as configured
(the labelled offline stand-in for the example) and says how to get real output."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from sqlglot import exp

from engine.ai.local_models import ModelFile, resolve_model
from engine.ai.runner import deployed_tasks, run_task, task_statements
from engine.backends.base import RunResult
from engine.compile.objects import table
from engine.compile.refresh_batches import pending_subquery
from engine.compile.segments import SEGMENTS_VIEW
from engine.compile.structured_outputs import json_schema
from engine.config.enrichments import run_stage
from engine.config.model_catalog import DEFAULT_MODEL
from engine.config.models import LLMSettings
from engine.config.project import LoadedProject, entity_key
from engine.core.errors import RulectlError

DEMO_ROWS = 20
HOW_TO_GET_REAL_OUTPUT = f"for real summaries on this machine: pip install 'rulectl[local-llm]' && rulectl model pull {DEFAULT_MODEL}, then run `rulectl demo` again"


@dataclass(frozen=True)
class DemoRun:
    results: list[RunResult]
    model: str  # the model file that answered, `name@sha256:…`
    seconds: float
    rows: int  # customers the model was asked about (at most)
    enriched: int  # replies stored (a reply that fails the outputs schema is not)


def ready_model() -> ModelFile | None:
    """The default catalog model when it can run here (runtime installed, file pulled and verified)."""
    try:
        import xllamacpp  # noqa: F401

        return resolve_model(DEFAULT_MODEL)
    except (ImportError, RulectlError):
        return None


def enrich_largest(loaded: LoadedProject, backend, model: ModelFile, rows: int = DEMO_ROWS, on_start=lambda task, total: None, on_row=lambda ok: None) -> DemoRun:
    """Run every deployed task; prompt tasks only for the `rows` largest customers, with `model`."""
    from engine.ai.providers.local import serving

    prompts = {f"REFRESH_{p.item.name}".upper(): p.item for p in loaded.prompts}
    settings = LLMSettings(provider="local", model=str(model.path), timeout_seconds=300, retries=1)
    offline = LLMSettings()  # sentiment and embedding tasks call no language model
    results: list[RunResult] = []
    started = time.perf_counter()
    with serving(loaded.root):
        for task in sorted(deployed_tasks(backend), key=lambda task: run_stage(loaded.config, task.name)):
            prompt = prompts.get(task.name.upper())
            if prompt is None:
                results.append(run_task(backend, task, offline, on_start, on_row))
                continue
            *removals, merge = task_statements(task)
            merge = largest_only(merge, loaded, prompt.key.lower(), min(rows, prompt.refresh.max_rows))
            definition = ";\n".join(statement.sql(dialect="snowflake") for statement in (*removals, merge))
            results.append(run_task(backend, dataclasses.replace(task, definition=definition), settings, on_start, on_row, batch_rows=5, full_schemas=(json_schema(prompt.outputs),) if prompt.outputs else ()))
            if results[-1].interrupted:
                break
    enriched = sum(result.enriched for result in results if result.task.split(".")[-1].upper() in prompts)
    return DemoRun(results, model.label, time.perf_counter() - started, rows, enriched)


def largest_only(merge: exp.Expression, loaded: LoadedProject, key: str, rows: int) -> exp.Expression:
    """The MERGE limited to the pending rows of the `rows` largest customers by `display.size`
    (the first by key when the project declares no size, or the prompt is not keyed by customer)."""
    tree = merge.copy()
    pending: exp.Select = pending_subquery(tree).this
    size = loaded.config.display.size
    if key == entity_key(loaded):
        order = ([exp.Ordered(this=exp.column(size.metric.lower()), desc=True, nulls_first=False)] if size else []) + [exp.Ordered(this=exp.column(key))]
        largest = exp.select(exp.column(key)).from_(table(f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}")).order_by(*order).limit(rows)
        pending.where(exp.column(key, table="q").isin(query=largest), copy=False)
    pending.limit(rows, copy=False)
    return tree
