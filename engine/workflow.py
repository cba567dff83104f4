"""What each command does, end to end, on top of the engine pieces. The CLI only parses options and
prints; tests and benchmarks call these functions directly."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

from engine.backends.base import RunResult
from engine.backends.registry import open_backend, target_backend_class, target_name
from engine.config.project import LoadedProject
from engine.core.errors import Interrupted, RulectlError
from engine.backends.base import LockHolder
from engine.plan.apply import ApplyResult, apply_steps, changing_steps, check_applicable, check_current
from engine.plan.model import Plan, Step
from engine.plan.planner import build_plan
from engine.features.segment_history import record_segment_changes


def load(project_dir: Path) -> LoadedProject:
    """The project at `project_dir`, validated, including the solver's proof that every rule can
    match: a rule TRUE for no customer is an error, never deployed (lint keeps the other findings)."""
    from engine.config.loader import load_project
    from engine.core import project_cache

    loaded = load_project(project_dir)
    if project_cache.cached(loaded.root, loaded.inputs_digest, "proven") is not True:
        _prove_rules(loaded)
        project_cache.remember(loaded.root, loaded.inputs_digest, "proven", True)
    return loaded


def _prove_rules(loaded: LoadedProject) -> None:
    """ConfigErrors naming each rule the solver proves can never match. Not run (nor z3 imported)
    for inputs proven before: the project cache's key covers the solver's code and every rule."""
    from engine.core.errors import ConfigErrors
    from engine.lint.proof_cache import ProofCache
    from engine.lint.rule_proofs import unsatisfiable_rules

    proven = ProofCache(loaded.root)
    problems = unsatisfiable_rules(loaded, proven)
    if problems:
        raise ConfigErrors(problems)
    proven.save()  # a failed load writes nothing into the project


@contextmanager
def connected(loaded: LoadedProject, target: str | None, read_only: bool = False):
    """The target's backend for one command; commands that only read pass read_only=True (a local
    database is then opened read-only, and not created when it does not exist)."""
    backend = open_backend(loaded, target, read_only=read_only)
    try:
        yield backend
    finally:
        backend.close()


def plan(loaded: LoadedProject, target: str | None = None, adopt: Iterable[str] = ()) -> Plan:
    return plan_with_sql(loaded, target, adopt, with_sql=False)[0]


def plan_with_sql(loaded: LoadedProject, target: str | None = None, adopt: Iterable[str] = (), with_sql: bool = True):
    """The plan, and (with_sql) the statements apply would send for each changing step."""
    from engine.plan.apply import explain_steps

    name = target_name(loaded, target)
    with connected(loaded, name, read_only=True) as backend:
        made, desired, _ = build_plan(loaded, backend, name, adopt)
        holder = backend.lock_holder()
        if holder is not None:  # e.g. left by an apply that was killed: say so before anyone applies
            made = dataclasses.replace(made, notes=made.notes + (f"the apply lock is held by {holder.describe()}. {holder.advice()}",))
        return made, (explain_steps(made, desired, backend) if with_sql else [])


def apply(
    loaded: LoadedProject,
    target: str | None = None,
    saved_plan: Plan | None = None,
    allow_destructive: bool = False,
    adopt: Iterable[str] = (),
    confirm: Callable[[Plan], bool] = lambda plan: True,
    on_step: Callable[[Step], None] = lambda step: None,
) -> tuple[Plan, ApplyResult]:
    """Plan (or check a saved plan) and apply it under the target's lock."""
    name = target_name(loaded, target)
    if saved_plan is not None and saved_plan.project != loaded.config.name:
        raise RulectlError(f"this plan was made for project `{saved_plan.project}`, not `{loaded.config.name}`; apply it from that project's directory (or --project), or run `rulectl plan` here")
    if saved_plan is not None and saved_plan.target != name:
        raise RulectlError(f"this plan was made for target `{saved_plan.target}`, not `{name}`; pass --target {saved_plan.target}")
    with connected(loaded, name) as backend:
        refuse_missing_sources(loaded, backend)  # before the lock: a missing table changes nothing
        backend.acquire_lock(LockHolder.this_process(saved_plan.plan_id if saved_plan else None))
        result = ApplyResult()
        try:
            current, desired, deployed = build_plan(loaded, backend, name, adopt, sources_checked=True)
            if saved_plan is not None:
                check_current(saved_plan, desired, deployed.fingerprint)
                current = saved_plan
            check_applicable(current, allow_destructive)
            if not current.has_changes or not confirm(current):
                return current, result
            _record_apply(loaded, backend, current, name)
            if saved_plan is None:
                backend.note_lock_plan(current.plan_id)
            apply_steps(current, desired, backend, on_step, result)
            result.warnings.extend(_record_segment_changes(backend, current))
            result.warnings.extend(_preflight_warnings(loaded, backend, desired, result))
            return current, result
        except KeyboardInterrupt:
            if result.applied:  # after the steps (apply_steps reports a stop among them itself)
                raise
            raise Interrupted("interrupted before any step was applied; nothing was changed") from None
        finally:
            backend.release_lock()


def _record_segment_changes(backend, plan: Plan) -> list[str]:
    """What this apply did to the segments, for `rulectl report`; the steps have landed, so a record
    the target refuses is a warning, not a failed apply."""
    from engine.backends.registry import engine_errors

    try:
        record_segment_changes(backend, plan)
    except engine_errors() as error:  # evaluated only when something was raised
        return [f"the segment history of this apply was not recorded ({str(error).splitlines()[0] if str(error) else type(error).__name__}); `rulectl report` will not show it"]
    return []


def _preflight_warnings(loaded: LoadedProject, backend, desired, result: ApplyResult) -> list[str]:
    """Before the first refresh: doctor's Cortex checks (backend.cortex_checks) for the tasks just
    applied — one AI_COMPLETE per distinct model and options of their prompts, with those options,
    one AI_EMBED per embedding model, AI_SENTIMENT — so Snowflake's own error and its fix show now
    rather than as refreshes that enrich nothing (compile/cortex_calls.py)."""
    from engine.compile.cortex_calls import CortexCall, completion_calls, embedding_call, sentiment_call

    applied = {step.qualified_name.upper() for step in result.applied if step.kind == "task"}
    tasks = [obj for obj in desired if obj.kind == "task" and obj.qualified_name.upper() in applied]
    prompts = {obj.details["compiled"].prompt.name.lower() for obj in tasks if "compiled" in obj.details}
    calls: list[CortexCall] = completion_calls(loaded, prompts) if prompts else []
    calls += [embedding_call(model) for model in sorted({obj.details["model"] for obj in tasks if obj.details.get("enrichment") == "embedding"})]
    calls += [sentiment_call()] if any(obj.details.get("enrichment") == "sentiment" for obj in tasks) else []
    return [
        f"Cortex {check.name} fails: {check.detail}; its refreshes would enrich nothing until this is fixed: {check.fix}"
        for check in backend.cortex_checks(calls) if not check.ok
    ]


def doctor(loaded: LoadedProject, target: str | None = None) -> list:
    """`rulectl doctor`: before the first apply, everything apply and the refreshes need on the
    target — a list of DoctorCheck (backends/base.py), each failure with its fix."""
    from engine.backends.base import DoctorCheck

    name = target_name(loaded, target)
    settings = loaded.config.targets[name]
    try:
        with connected(loaded, name, read_only=True) as backend:
            checks = backend.doctor_checks(loaded, settings)
            if backend.runs_tasks_locally:
                from engine.ai.doctor import endpoint_checks

                with local_models_served(loaded):
                    checks += endpoint_checks(loaded, settings)
            return checks
    except RulectlError as error:  # cannot connect or open: the first check, with what to look at
        if settings.engine != "snowflake":
            return [DoctorCheck("DuckDB file", False, str(error), "see the message: move the damaged file aside and run `rulectl apply` to rebuild it")]
        where = f"connection `{settings.connection}`" if settings.connection else "the default connection"
        return [DoctorCheck("connection", False, str(error), f"check {where} in ~/.snowflake/connections.toml or config.toml (`snow connection test` reads the same files)")]


def refuse_missing_sources(loaded: LoadedProject, backend, reads_only: bool = False) -> None:
    """Stop before anything runs on sources that are missing or not as declared. `reads_only`:
    for commands that only read them (explain, lint), which check tables and columns, not keys."""
    from engine.plan.source_check import shape_steps, source_steps

    problems = shape_steps(loaded, backend) if reads_only else source_steps(loaded, backend)
    if problems:
        outcome = "" if reads_only else "; nothing was changed"
        raise RulectlError(f"the source tables are not as rulectl.yml declares them{outcome}:\n" + "\n".join(f"  {step.reason}" for step in problems))


def save_customer_moves(loaded: LoadedProject, target: str | None, path: Path) -> int | None:
    """Write every customer the plan would move to a CSV; the number written, None when nothing is deployed yet."""
    from engine.plan.customer_moves import customer_moves, save_moves

    with connected(loaded, target_name(loaded, target)) as backend:
        moves = customer_moves(loaded, backend)
    save_moves(moves or [], path)
    return None if moves is None else len(moves)


def _record_apply(loaded: LoadedProject, backend, plan: Plan, target: str) -> None:
    from engine.core.provenance import applied_by, git_commit

    backend.write_apply(plan.plan_id, applied_by(backend.session_user()), git_commit(loaded.root), target, len(changing_steps(plan)))


def history(loaded: LoadedProject, target: str | None = None, limit: int = 20):
    """The latest applies on the target, newest first, each with its steps."""
    from engine.features.apply_history import read_history

    with connected(loaded, target_name(loaded, target)) as backend:
        return read_history(backend, limit)


def unlock(loaded: LoadedProject, target: str | None = None, confirm: Callable[[LockHolder], bool] = lambda holder: True) -> tuple[LockHolder | None, bool]:
    """(holder, released): release the apply lock once `confirm(holder)` agrees; (None, False)
    when there is no lock."""
    with connected(loaded, target_name(loaded, target)) as backend:
        holder = backend.lock_holder()
        if holder is None or not confirm(holder):
            return holder, False
        backend.release_lock()
        return holder, True


def load_plan_file(path: Path) -> Plan:
    try:
        return Plan.from_json(path.read_text())
    except FileNotFoundError:
        raise RulectlError(f"{path}: plan file not found") from None
    except (ValueError, KeyError, TypeError) as error:
        if path.suffix.lower() in (".md", ".markdown"):
            raise RulectlError(f"{path}: this is the plan as Markdown, for people to read; apply the JSON saved with it (`rulectl plan --out plan.json --out plan.md`)") from None
        raise RulectlError(f"{path}: not a rulectl plan file ({str(error).removeprefix('not a rulectl plan file ')})") from None


def run_refreshes(loaded: LoadedProject, target: str | None, prompts: list[str], on_start=lambda task, total: None, on_row=lambda ok: None) -> list[RunResult]:
    """Run the deployed refresh tasks now: each backend says how (local runner, EXECUTE TASK)."""
    from engine.ai.insights import find_prompt
    from engine.config.enrichments import enrichment_tasks

    enrichments = enrichment_tasks(loaded.config)
    for prompt in prompts:  # a prompt that does not exist is a typo, not a missing deployment
        if prompt.lower() not in enrichments:  # `<source>_sentiment`, `customer_embeddings`: their tasks
            find_prompt(loaded, prompt)
    name = target_name(loaded, target)
    with connected(loaded, name) as backend, local_models_served(loaded):
        if backend.runs_tasks_locally:
            from engine.ai.runner import run_local_refreshes

            return run_local_refreshes(backend, loaded, loaded.config.targets[name], prompts, on_start, on_row)
        return backend.run_refreshes(loaded, loaded.config.targets[name], prompts, on_start, on_row)


def demo_refreshes(loaded: LoadedProject, target: str | None, on_start=lambda task, total: None, on_row=lambda ok: None):
    """The demo's AI step: (results, DemoRun) with a real local model on the largest customers when
    one can run here and the target configures no LLM of its own; else (the target's run, None)."""
    from engine.ai import local_demo

    name = target_name(loaded, target)
    model = local_demo.ready_model() if loaded.config.targets[name].llm.provider == "offline" else None
    if model is None:
        return run_refreshes(loaded, name, [], on_start, on_row), None
    with connected(loaded, name) as backend:
        real = local_demo.enrich_largest(loaded, backend, model, local_demo.DEMO_ROWS, on_start, on_row)
    return real.results, real


@contextmanager
def local_models_served(loaded: LoadedProject):
    """`provider: local` models started inside this block keep running until it ends (one
    `rulectl run`, one scheduler session), then stop — also on Ctrl-C."""
    from engine.ai.providers.local import serving

    with serving(loaded.root):
        yield


def refresh_status(loaded: LoadedProject, target: str | None):
    """Each prompt's last refresh run, from the run log both targets write, with the tokens and
    credits of the replies that run stored (`rulectl spend --by run` counts them the same way)."""
    import dataclasses

    from engine.ai.run_log import last_runs
    from engine.ai.spend import run_spend

    with connected(loaded, target_name(loaded, target), read_only=True) as backend:
        runs = last_runs(loaded, backend)
        spent = run_spend(loaded, backend, {run.run_id for run in runs if run.run_id})
    return [
        dataclasses.replace(run, input_tokens=spent[run.run_id].input_tokens, output_tokens=spent[run.run_id].output_tokens, credits=spent[run.run_id].credits)
        if run.run_id in spent else run
        for run in runs
    ]


def spend(loaded: LoadedProject, target: str | None, by: str = "prompt", since=None):
    """Tokens and credits spent per prompt, day or run (ai/spend.py), and the target's own record."""
    from engine.ai.spend import spend as spend_report

    with connected(loaded, target_name(loaded, target), read_only=True) as backend:
        return spend_report(loaded, backend, by, since)


def read_insights(loaded: LoadedProject, target: str | None, **filters):
    return read_insights_with_staleness(loaded, target, **filters)[0]


def read_insights_with_staleness(loaded: LoadedProject, target: str | None, **filters):
    """Insights rows and, per prompt, how many stored outputs are stale — in one connection."""
    from engine.ai.insights import insights, stale_counts

    with connected(loaded, target_name(loaded, target), read_only=True) as backend:
        return insights(loaded, backend, **filters), stale_counts(loaded, backend)


def read_experiment(loaded: LoadedProject, target: str | None, prompt: str):
    from engine.ai.experiment_report import experiment_report

    with connected(loaded, target_name(loaded, target), read_only=True) as backend:
        return experiment_report(loaded, backend, prompt)


def search_customers(loaded: LoadedProject, target: str | None, query: str, limit: int, segment: str | None):
    """`rulectl search`: the customers nearest the query (read-only)."""
    from engine.ai.search import search_customers as nearest

    name = target_name(loaded, target)
    with connected(loaded, name, read_only=True) as backend:
        return nearest(loaded, backend, loaded.config.targets[name], query, limit, segment)


def export_insights(loaded: LoadedProject, target: str | None, fmt: str, out_dir: Path):
    """Write the customer-level insights for BI tools (`rulectl export`)."""
    from engine.features.bi_export import export_insights as write_export

    with connected(loaded, target_name(loaded, target)) as backend:
        return write_export(loaded, backend, fmt, out_dir)


def write_report(loaded: LoadedProject, target: str | None, out_dir: Path) -> Path:
    """`rulectl report`: one self-contained HTML page about the target, written to out_dir/report.html
    (read-only on the target; lint runs with the target, as `rulectl lint --target` does)."""
    from engine.features.report_data import gather_report
    from engine.features.report_html import render_report
    from engine.lint.rule_checks import lint_rules
    from engine.lint.target_checks import lint_target

    name = target_name(loaded, target)
    with connected(loaded, name, read_only=True) as backend:
        findings = lint_rules(loaded)
        if not source_problems(loaded, backend):  # sources not loaded yet: the rules' own findings only
            findings += lint_target(loaded, backend, name, max_share=0.5)
        data = gather_report(loaded, backend, name, sorted(findings, key=lambda f: (f.file, f.line)))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    path.write_text(render_report(data), encoding="utf-8")
    return path


def source_problems(loaded: LoadedProject, backend) -> list:
    from engine.plan.source_check import shape_steps

    return shape_steps(loaded, backend)


def segment_summary(loaded: LoadedProject, target: str | None):
    from engine.features.segment_sizes import segment_sizes

    with connected(loaded, target_name(loaded, target), read_only=True) as backend:
        return segment_sizes(loaded, backend)


def sentiment_segments(loaded: LoadedProject, target: str | None):
    """Customers whose segment AI sentiment decided, per rule that reads a sentiment metric."""
    from engine.features.sentiment_segments import sentiment_segments as find

    with connected(loaded, target_name(loaded, target), read_only=True) as backend:
        return find(loaded, backend)


def load_sample_data(loaded: LoadedProject, target: str | None, allow_empty: bool = False):
    from engine.features.sample_data import load_samples

    name = target_name(loaded, target)
    if not target_backend_class(loaded, name).loads_samples:
        raise RulectlError(f"`rulectl load` fills local DuckDB targets only; `{name}` is a {loaded.config.targets[name].engine} target whose sources are already there")
    with connected(loaded, name) as backend:
        return load_samples(loaded, backend, allow_empty)


def run_due_tasks(loaded: LoadedProject, target: str | None, now=None) -> list[RunResult]:
    """One scheduler tick: run every started task that is due (local targets; Snowflake refuses)."""
    from datetime import datetime, timezone

    name = target_name(loaded, target)
    now = now or datetime.now(timezone.utc)
    with connected(loaded, name) as backend, local_models_served(loaded):
        if backend.runs_tasks_locally:
            from engine.ai.scheduler import run_due_local_refreshes

            return run_due_local_refreshes(backend, loaded, loaded.config.targets[name], now)
        return backend.run_due_refreshes(loaded, loaded.config.targets[name], now)


def lint(loaded: LoadedProject, target: str | None = None, max_share: float = 0.5):
    """Solver findings about the rules; with a target, also findings from its customers."""
    from engine.lint.rule_checks import lint_rules
    from engine.lint.target_checks import lint_target

    findings = lint_rules(loaded)
    if target is not None:
        name = target_name(loaded, target)
        with connected(loaded, name, read_only=True) as backend:
            refuse_missing_sources(loaded, backend, reads_only=True)
            findings += lint_target(loaded, backend, name, max_share)
    return sorted(findings, key=lambda f: (f.file, f.line))


def rule_tests(loaded: LoadedProject, only: str | None = None):
    """Run the project's rule tests (tests/*.yml) on in-memory DuckDB databases."""
    from engine.features.rule_tests import run_rule_tests

    return run_rule_tests(loaded, only)


def init_project(directory: Path) -> list[Path]:
    """Write a working project skeleton into `directory`."""
    from engine.features.scaffold import create_project

    return create_project(directory)


def import_sources(loaded: LoadedProject, target: str, tables: list[str], key: str | None = None):
    """Add `sources:` read from the target's tables to rulectl.yml; the file is kept only if it validates."""
    from engine.config.loader import PROJECT_FILE, load_project
    from engine.core.errors import ConfigErrors
    from engine.features.source_import import add_to_project_file, read_sources

    _refuse_database_in_a_project(loaded, target)
    name = target_name(loaded, target)
    with connected(loaded, name) as backend:
        imported = read_sources(loaded, backend, tables, key)
    path = loaded.root / PROJECT_FILE
    before = path.read_text()
    path.write_text(add_to_project_file(path, imported))
    try:
        load_project(loaded.root)
    except ConfigErrors as errors:
        path.write_text(before)
        raise RulectlError("the imported sources do not validate, so rulectl.yml was left as it was:\n" + "\n".join(str(p) for p in errors.problems)) from None
    return imported


def _refuse_database_in_a_project(loaded: LoadedProject, origin: str) -> None:
    """A DuckDB file or snowflake:CONNECTION given where the project has a rulectl.yml: there
    --from-target names one of its targets, so say that, and the two ways to read that database."""
    if origin in loaded.config.targets or not (origin.startswith("snowflake:") or Path(origin).suffix.lower() in (".duckdb", ".db")):
        return
    raise RulectlError(
        f"--from-target {origin}: {loaded.root} already has a rulectl.yml, and in a project --from-target names one of its "
        f"targets ({', '.join(loaded.config.targets)}); add the database as a target in rulectl.yml and name that target, "
        f"or start a new project from it in an empty directory: rulectl init NEW_DIR --from-target {origin} --table SCHEMA.TABLE"
    )


def project_from_target(directory: Path, origin: str, tables: list[str], key: str | None = None):
    """Start a project in `directory` (no rulectl.yml yet) from a database's tables: a DuckDB file,
    or `snowflake:CONNECTION[/DATABASE]` (a connections.toml section). rulectl.yml gets that database
    as its target and one source per table (types and grain read from it); kept only if it validates."""
    from engine.config.json_schemas import DEFAULT_DIR, modeline, write_json_schemas
    from engine.config.loader import PROJECT_FILE, load_project
    from engine.core.errors import ConfigErrors
    from engine.features.scaffold import project_name
    from engine.features.source_import import new_project_text, read_tables

    backend, target = _database_for_init(directory, origin)
    try:
        imported = read_tables(backend, tables, key)
    finally:
        backend.close()
    path = directory / PROJECT_FILE
    text = new_project_text(project_name(directory), origin, target, imported)
    directory.mkdir(parents=True, exist_ok=True)  # only once there is a project to write
    path.write_text(modeline(PROJECT_FILE) + "\n" + text)
    try:
        load_project(directory)
    except ConfigErrors as errors:
        path.unlink()
        raise RulectlError("the sources read from the tables do not validate, so no rulectl.yml was written:\n" + "\n".join(str(p) for p in errors.problems)) from None
    write_json_schemas(directory / DEFAULT_DIR)  # the editor's completion, as `rulectl init` gives
    return path, imported


def _database_for_init(directory: Path, origin: str):
    """(backend, `targets:` entry) for `init --from-target` without a project: no rulectl.yml names
    a target yet, so the database is named directly — the two backends that can be opened so."""
    from engine.features.source_import import duckdb_target, snowflake_target

    if origin.lower().startswith("snowflake:"):
        from engine.backends.snowflake import SnowflakeBackend

        name, _, database = origin.split(":", 1)[1].partition("/")
        backend, database = SnowflakeBackend.from_connection(name, database or None)
        return backend, snowflake_target(name, database)
    from engine.backends.duckdb import DuckDBBackend

    file = Path(origin).expanduser()
    if not file.is_file():
        raise RulectlError(
            f"--from-target {origin}: {directory} has no rulectl.yml, so name the database to read: a DuckDB file "
            "(--from-target warehouse.duckdb) or a Snowflake connection from connections.toml (--from-target snowflake:prod/MY_DATABASE)"
        )
    relative = os.path.relpath(file.resolve(), directory.resolve())
    return DuckDBBackend(file, read_only=True), duckdb_target(relative if not relative.startswith("..") else str(file.resolve()))


def explain_customer(loaded: LoadedProject, target: str | None, customer: str):
    """Metrics, rule verdicts and latest AI output for one customer (key or part of its name)."""
    from engine.features.explain import explain

    with connected(loaded, target_name(loaded, target), read_only=True) as backend:
        refuse_missing_sources(loaded, backend, reads_only=True)
        return explain(loaded, backend, customer)
