"""What `rulectl report` shows, read from a target in one read-only session: segment sizes, how
segments moved with each apply, each refresh task's runs, what the stored replies spent, each
experiment's variants, the lineage of the project and lint's findings. Plain data; report_html.py
draws it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlglot import exp

from engine.ai.cost import credits_per_million
from engine.ai.experiment_report import VariantStats, experiment_report
from engine.backends.base import RUN_LOG, Backend
from engine.compile.objects import table
from engine.compile.prompts import compile_prompt, stored_outputs_query
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.enrichments import enrichment_tasks
from engine.config.project import LoadedProject
from engine.core.errors import RulectlError
from engine.core.expressions import sf_func
from engine.features.apply_history import read_history
from engine.features.lineage import Lineage, project_lineage
from engine.features.segment_history import SegmentChange, read_segment_changes
from engine.features.segment_sizes import SegmentSize, segment_sizes
from engine.lint.findings import Finding

CORTEX_PROVIDER = "snowflake-cortex"  # the provider the Snowflake MERGE records: only its replies are billed in credits
RUNS_SHOWN = 30  # latest runs per task: a chart of a year of daily runs would be unreadable


@dataclass(frozen=True)
class Run:
    task: str
    run_id: str
    started_at: Any
    finished_at: Any
    pending: int
    enriched: int
    failed: int
    error: str | None


@dataclass(frozen=True)
class DaySpend:
    """The stored replies of one prompt generated on one day (UTC) by one provider."""

    day: Any
    provider: str
    rows: int
    input_tokens: int
    output_tokens: int
    credits: float  # 0 unless Cortex answered


@dataclass(frozen=True)
class PromptActivity:
    prompt: str
    model: str
    runs: list[Run]
    spend: list[DaySpend]
    unavailable: str | None = None  # why the output table could not be read


@dataclass(frozen=True)
class Experiment:
    prompt: str
    outcome: str | None
    variants: list[VariantStats]
    unavailable: str | None = None


@dataclass(frozen=True)
class AppliedChange:
    change: SegmentChange
    applied_by: str | None


@dataclass
class ReportData:
    project: str
    target: str
    engine: str
    generated_at: datetime
    size_label: str | None  # display.size's label (None: sizes are customer counts only)
    size_format: str
    deployed: bool  # the segments view exists on the target
    declared_prompts: int = 0
    declared_experiments: int = 0
    declared_enrichments: int = 0  # sentiment and search tasks
    segments: list[SegmentSize] = field(default_factory=list)
    history: list[AppliedChange] = field(default_factory=list)
    prompts: list[PromptActivity] = field(default_factory=list)
    enrichment_runs: list[Run] = field(default_factory=list)  # sentiment and embedding tasks
    experiments: list[Experiment] = field(default_factory=list)
    lineage: Lineage | None = None
    findings: list[Finding] = field(default_factory=list)


def gather_report(loaded: LoadedProject, backend: Backend, target: str, findings: list[Finding]) -> ReportData:
    """Everything the report shows, read-only."""
    size = loaded.config.display.size
    deployed = bool(backend.table_columns(f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}"))
    data = ReportData(
        project=loaded.config.name,
        target=target,
        engine=loaded.config.targets[target].engine,
        generated_at=datetime.now(timezone.utc).replace(microsecond=0),
        size_label=(size.label or size.metric) if size else None,
        size_format=size.format if size else "number",
        deployed=deployed,
        declared_prompts=len(loaded.prompts),
        declared_experiments=sum(1 for p in loaded.prompts if p.item.experiment),
        declared_enrichments=len(enrichment_tasks(loaded.config)),
        lineage=project_lineage(loaded),
        findings=findings,
    )
    if not deployed:
        return data
    data.segments = segment_sizes(loaded, backend)
    who = {applied.plan_id: applied.applied_by for applied in read_history(backend, 1000)}
    data.history = [AppliedChange(change, who.get(change.plan_id)) for change in read_segment_changes(backend)]
    runs = _runs(backend)
    data.prompts = [_prompt_activity(loaded, backend, located, runs) for located in loaded.prompts]
    data.enrichment_runs = [run for name in enrichment_tasks(loaded.config) for run in runs.get(name.lower(), [])]
    data.experiments = [_experiment(loaded, backend, located.item) for located in loaded.prompts if located.item.experiment]
    return data


def _runs(backend: Backend) -> dict[str, list[Run]]:
    """Task name (lower case) → its latest runs, oldest first."""
    query = exp.select("prompt", "run_id", "started_at", "finished_at", "pending", "enriched", "failed", "error").from_(table(RUN_LOG)).order_by("started_at")
    try:
        rows = backend.query(query)
    except Exception:  # no run log yet: nothing has run on this target
        return {}
    runs: dict[str, list[Run]] = {}
    for name, run_id, started, finished, pending, enriched, failed, error in rows:
        runs.setdefault(name.lower(), []).append(Run(name, run_id, started, finished, int(pending or 0), int(enriched or 0), int(failed or 0), error))
    return {name: listed[-RUNS_SHOWN:] for name, listed in runs.items()}


def _prompt_activity(loaded: LoadedProject, backend: Backend, located, runs: dict[str, list[Run]]) -> PromptActivity:
    prompt = located.item
    compiled = compile_prompt(loaded, located)
    o = lambda c: exp.column(c, table="o")  # noqa: E731
    day = exp.cast(o("generated_at"), "DATE")
    query = (
        exp.select(day.as_("day"), o("provider"), sf_func("COUNT", exp.Star()), sf_func("SUM", o("input_tokens")), sf_func("SUM", o("output_tokens")))
        .from_(exp.Subquery(this=stored_outputs_query(compiled), alias=exp.TableAlias(this=exp.to_identifier("o"))))
        .group_by(day.copy(), o("provider"))
        .order_by(day.copy(), o("provider"))
    )
    try:
        rows = backend.query(query)
    except Exception as error:
        return PromptActivity(prompt.name, prompt.model, runs.get(prompt.name.lower(), []), [], backend.cannot_read("table", compiled.output_table, error))
    rate = credits_per_million(loaded, prompt.model) / 1_000_000
    spend = []
    for on, provider, count, tokens_in, tokens_out in rows:
        tokens_in, tokens_out = int(tokens_in or 0), int(tokens_out or 0)
        credits = (tokens_in + tokens_out) * rate if provider == CORTEX_PROVIDER else 0.0
        spend.append(DaySpend(on, provider or "", int(count), tokens_in, tokens_out, credits))
    return PromptActivity(prompt.name, prompt.model, runs.get(prompt.name.lower(), []), spend)


def _experiment(loaded: LoadedProject, backend: Backend, prompt) -> Experiment:
    outcome = prompt.experiment.outcome
    try:
        return Experiment(prompt.name, outcome, experiment_report(loaded, backend, prompt.name))
    except RulectlError as error:
        return Experiment(prompt.name, outcome, [], str(error))
