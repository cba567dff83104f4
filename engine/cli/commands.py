"""The rulectl command line: typer only — parse options, call the engine, print the result."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

from engine.core.errors import ConfigErrors, Interrupted, RulectlError


class UsageErrorsExitOne(TyperGroup):
    """Click exits 2 on a usage error (an unknown option, a missing argument); rulectl keeps 2 for
    "there are changes" (`plan --detailed-exitcode`), so CI can tell a typo from a pending change."""

    def make_context(self, *args, **kwargs):
        with _usage_errors_exit_one():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _usage_errors_exit_one():
            return super().invoke(ctx)


@contextmanager
def _usage_errors_exit_one() -> Iterator[None]:
    from typer._click.exceptions import UsageError

    try:
        yield
    except UsageError as error:
        error.exit_code = 1
        raise


app = typer.Typer(
    name="rulectl",
    cls=UsageErrorsExitOne,
    help="Business rules as YAML → validated, planned, scheduled Snowflake analytics and AI enrichment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"rulectl {version('rulectl')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print rulectl's version and exit."),
) -> None:
    """Business rules as YAML → validated, planned, scheduled Snowflake analytics and AI enrichment."""

ProjectOption = typer.Option(None, "--project", "-p", help="Project directory (holds rulectl.yml); default: the nearest one from here upwards.", file_okay=False)
TargetOption = typer.Option(None, "--target", "-t", help="Target from rulectl.yml (default: default_target).")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn rulectl's own errors into `file:line: message` lines and exit 1, never a traceback."""
    try:
        yield
    except ConfigErrors as error:
        for problem in error.problems:
            err.print(f"error: {problem}", markup=False)
        err.print(f"{len(error.problems)} problem(s) found; nothing was changed.", markup=False)
        raise typer.Exit(1) from None
    except Interrupted as stopped:  # not an error: what it says was done is kept
        err.print(str(stopped), markup=False)
        raise typer.Exit(130) from None
    except RulectlError as error:
        err.print(f"error: {error}", markup=False)
        raise typer.Exit(1) from None
    except typer.Exit:
        raise  # a command's own exit code, not an error to classify
    except Exception as error:
        from engine.backends.registry import engine_errors

        if not isinstance(error, engine_errors()):
            raise  # a bug in rulectl: let the traceback show
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        err.print(f"error: the target refused a statement: {first_line}", markup=False)
        raise typer.Exit(1) from None


def _load(project: Path | None):
    from engine import workflow
    from engine.config.loader import find_project

    return workflow.load(find_project(project))


def print_warnings(loaded) -> None:
    for warning in loaded.warnings:
        err.print(f"warning: {warning}", markup=False)


@app.command()
def validate(project: Optional[Path] = ProjectOption) -> None:
    """Load and check every YAML file offline; exit 1 with file:line messages on error."""
    with user_errors():
        loaded = _load(project)
        print_warnings(loaded)
        out.print(
            f"ok: {len(loaded.config.sources)} sources, {len(loaded.metrics)} metrics, "
            f"{len(loaded.segmentations)} segmentations, {len(loaded.prompts)} prompts, {len(loaded.rule_tests)} rule tests"
        )


@app.command()
def compile(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    output: Optional[Path] = typer.Option(None, "--out", "-o", help="Write one .sql file per object under this directory."),
) -> None:
    """Print (or write) the SQL of every object in the target's dialect."""
    from engine.features.compile_output import compiled_sql

    with user_errors():
        loaded = _load(project)
        for obj, sql in compiled_sql(loaded, target):
            if output:
                path = output / f"{obj.kind}s" / f"{obj.qualified_name.lower()}.sql"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(sql + ";\n")
            else:
                out.print(f"-- {obj.kind} {obj.qualified_name}  fingerprint {obj.fingerprint}")
                out.print(sql + ";\n")
        if output:
            out.print(f"wrote the SQL of every object under {output}")


@app.command()
def load(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Load a CSV with a header and no rows (empties its table)."),
) -> None:
    """Load the sample CSVs into the source tables of a local (DuckDB) target."""
    from engine import workflow

    with user_errors():
        loaded = _load(project)
        for table in workflow.load_sample_data(loaded, target, allow_empty):
            out.print(f"loaded {table.rows:>8,} rows into {table.table} (source {table.source})")
            for warning in table.warnings:
                out.print(f"warning: {warning}", markup=False)
        from engine.config.enrichments import declared_sources

        for name in (n for n, s in declared_sources(loaded.config).items() if not s.sample):
            out.print(f"skipped source {name}: it has no `sample:` CSV in rulectl.yml", markup=False)


@app.command()
def plan(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    outputs: list[Path] = typer.Option(
        [], "--out", help="Save the plan: FILE.json for `rulectl apply FILE.json`, FILE.md as a pull-request comment; repeat for both (one plan)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON (same as --format json)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text (the terminal), json, or markdown (a pull-request comment)."),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="Exit 2 when there are changes, 0 when none."),
    adopt: list[str] = typer.Option([], "--adopt", help="Take over an existing object rulectl does not own (SCHEMA.NAME)."),
    show_noop: bool = typer.Option(False, "--all", help="Also list objects that are up to date."),
    show_sql: bool = typer.Option(False, "--sql", help="Also print the exact statements apply would send, step by step."),
    moves: Optional[Path] = typer.Option(None, "--moves", help="Write every customer whose segment would change (key, name, from, to) to this CSV file."),
) -> None:
    """Show what apply would do: create / replace / alter / drop / drift per object."""
    from engine import workflow
    from engine.plan.plan_markdown import render_markdown
    from engine.plan.plan_text import render_plan

    with user_errors():
        fmt = "json" if as_json else _plan_format(fmt)
        loaded = _load(project)
        print_warnings(loaded)
        made, explained = workflow.plan_with_sql(loaded, target, adopt, with_sql=show_sql)
        for output in outputs:
            _write(output, render_markdown(made) if _plan_file_format(output, fmt) == "markdown" else made.to_json())
        if fmt == "json":
            print(made.to_json())
        elif fmt == "markdown":
            out.file.write(render_markdown(made))
        else:
            render_plan(made, out, show_noop)
            for step, statements in explained:
                out.print(f"\n-- {step.action.value} {step.kind} {step.qualified_name}", markup=False)
                for statement in statements:
                    # plain print: rich drops control characters, and these statements carry some
                    # inside string literals (the data block's TRANSLATE list); show them exactly
                    out.file.write(statement + ";\n")
        for output in outputs:  # on stderr when stdout is the plan itself (JSON, Markdown)
            saved = f"saved the plan as Markdown to {output}" if _plan_file_format(output, fmt) == "markdown" else f"saved the plan to {output}; apply it with `rulectl apply {output}`"
            (out if fmt == "text" else err).print(saved, markup=False)
        if moves and not made.errors:
            written = workflow.save_customer_moves(loaded, target, moves)
            note = f"wrote {written} customer move(s) to {moves}" if written is not None else f"no segments are deployed yet, so nobody moves; wrote an empty {moves}"
            (out if fmt == "text" else err).print(note, markup=False)
        if made.errors:
            raise typer.Exit(1)
        if detailed_exitcode and made.has_changes:
            raise typer.Exit(2)


PLAN_FORMATS = ("text", "json", "markdown")


def _write(path: Path, content: str) -> None:
    try:
        path.write_text(content)
    except OSError as error:
        raise RulectlError(f"{path}: cannot write the plan there ({error.strerror or error})") from None


def _plan_format(fmt: str) -> str:
    if fmt not in PLAN_FORMATS:
        raise RulectlError(f"--format {fmt}: not a plan format; use one of {', '.join(PLAN_FORMATS)}")
    return fmt


def _plan_file_format(path: Path, fmt: str) -> str:
    """A .md file gets the comment and a .json file the plan apply reads; any other name gets the
    --format asked for (the saved plan, JSON, unless that is markdown)."""
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        return "markdown"
    return "json" if suffix == ".json" or fmt != "markdown" else "markdown"


@app.command()
def apply(
    plan_file: Optional[Path] = typer.Argument(None, help="A plan saved with `rulectl plan --out`."),
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    allow_destructive: bool = typer.Option(False, "--allow-destructive", help="Allow dropping or recreating tables that hold data."),
    adopt: list[str] = typer.Option([], "--adopt", help="Take over an existing object rulectl does not own (SCHEMA.NAME)."),
) -> None:
    """Apply the plan (a saved one, or a fresh one after showing it and asking)."""
    from engine import workflow
    from engine.plan.plan_text import render_plan, render_segment_impact, summary_line

    def confirm(made) -> bool:
        if plan_file is not None or yes:
            return True
        render_plan(made, out)
        return _ask("Apply these changes?", "apply needs confirmation: run it in a terminal, or pass --yes (or a saved plan file)")

    def on_step(step) -> None:
        out.print(f"  applied {step.action.value} {step.kind} {step.qualified_name}", markup=False)

    with user_errors():
        loaded = _load(project)
        saved = workflow.load_plan_file(plan_file) if plan_file else None
        made, result = workflow.apply(loaded, target or (saved.target if saved else None), saved, allow_destructive, adopt, confirm, on_step)
        if not made.has_changes:
            out.print(summary_line(made))
        elif result.applied:
            out.print(f"Apply complete: {len(result.applied)} step(s), {result.statements} statement(s).")
            if made.segment_moves or made.segment_sizes:  # what the analyst's change did to customers
                render_segment_impact(made, out)
            for warning in result.warnings:
                err.print(f"warning: {warning}", markup=False)
        else:
            out.print("Nothing applied.")
            raise typer.Exit(1)  # declined: like Terraform, CI must not read this as success


@app.command()
def lint(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Also check the rules against this target's customers."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings."),
    max_share: float = typer.Option(0.5, "--max-share", min=0.0, max=1.0, help="With --target: warn when one segment holds more than this share of the customers."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Prove rules unsatisfiable or unreachable, find overlaps and gaps (with an example customer)."""
    import json

    from engine import workflow

    with user_errors():
        findings = workflow.lint(_load(project), target, max_share)
        if as_json:
            print(json.dumps([f.to_dict() for f in findings], indent=2, default=str))
        else:
            print_findings(findings)
        if strict and any(f.severity == "warning" for f in findings):
            raise typer.Exit(1)


def print_findings(findings) -> None:
    for finding in findings:
        out.print(str(finding), markup=False)
        if finding.example:
            out.print(f"    {finding.example_text()}", markup=False)
    warnings = sum(1 for f in findings if f.severity == "warning")
    out.print(f"{warnings} warning(s), {len(findings) - warnings} note(s)" if findings else "no findings: every rule can match and none is shadowed", markup=False)


@app.command("test")
def test_rules(
    project: Path = ProjectOption,
    name: Optional[str] = typer.Option(None, "--name", "-k", help="Only tests whose name contains this text."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run the rule tests in tests/*.yml (given rows → expected metrics and segments) on an in-memory DuckDB."""
    import dataclasses
    import json

    from engine import workflow

    with user_errors():
        results = workflow.rule_tests(_load(project), name)
        if as_json:
            print(json.dumps([dataclasses.asdict(r) | {"passed": r.passed} for r in results], indent=2, default=str))
        else:
            print_test_results(results)
        if any(not r.passed for r in results):
            raise typer.Exit(1)


def print_test_results(results) -> None:
    from engine.lint.findings import format_value

    if not results:
        out.print("no rule tests found: add tests/*.yml (see `rulectl init` for an example)", markup=False)
        return
    for result in results:
        out.print(f"{'PASS' if result.passed else 'FAIL'} {result.name}  ({result.file}:{result.line})", markup=False)
        if result.error:
            out.print(f"    {result.error}", markup=False)
        for miss in result.mismatches:
            out.print(f"    {miss.customer}: {miss.column} expected {format_value(miss.expected)}, got {format_value(miss.actual)}", markup=False)
            if miss.decided_by:
                out.print(f"      {miss.decided_by}", markup=False)
    failed = sum(1 for r in results if not r.passed)
    out.print(f"{len(results) - failed} passed, {failed} failed", markup=False)


@app.command()
def schema(
    project: Path = ProjectOption,
    output: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory for the schema files (default: PROJECT/.rulectl/schemas)."),
) -> None:
    """Write JSON Schemas of rulectl.yml, rules/, prompts/ and tests/ files for editor autocomplete."""
    from engine.config.json_schemas import DEFAULT_DIR, SCHEMA_FILES, write_json_schemas
    from engine.config.loader import find_project

    with user_errors():
        directory = output or find_project(project) / DEFAULT_DIR
    for path in write_json_schemas(directory):
        out.print(f"wrote {path}  ({SCHEMA_FILES[path.name][1]})", markup=False)
    out.print("editors pick them up from a first line like `# yaml-language-server: $schema=.rulectl/schemas/rulectl.schema.json`", markup=False)


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Directory of the new project (created if missing)."),
    from_target: Optional[str] = typer.Option(None, "--from-target", help="Add `sources:` read from this target's tables to the project in DIRECTORY; in a directory without rulectl.yml, the database to start a project from: a DuckDB file, snowflake:CONNECTION or snowflake:CONNECTION/DATABASE."),
    tables: list[str] = typer.Option([], "--table", help="SCHEMA.TABLE to read with --from-target (repeat for several)."),
    key: Optional[str] = typer.Option(None, "--key", help="With --from-target: the customer key column (default: the project's, else the first table's first column)."),
) -> None:
    """Create a working project skeleton, or add sources from an existing target's tables."""
    from engine import workflow

    with user_errors():
        if from_target is None:
            if tables or key:
                raise RulectlError("--table and --key go with --from-target TARGET")
            for path in workflow.init_project(directory):
                out.print(f"created {path}", markup=False)
            out.print(f"next: cd {directory} && rulectl load && rulectl apply --yes && rulectl run && rulectl test", markup=False)
            return
        if not (directory / "rulectl.yml").exists():  # a new project from a database's tables
            path, added = workflow.project_from_target(directory, from_target, tables, key)
            out.print(f"created {path}", markup=False)
        else:
            added = workflow.import_sources(_load(directory), from_target, tables, key)
        for source in added:
            out.print(f"added source `{source.name}` ({source.table}, {len(source.columns)} columns, {source.grain_text}) to rulectl.yml", markup=False)


@app.command("explain")
def explain_customer(
    customer: str = typer.Argument(..., help="A customer key, or part of its display name."),
    project: Path = ProjectOption,
    target: Optional[str] = TargetOption,
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
) -> None:
    """Why a customer has its metrics, segments and AI output: every rule true/false/NULL and why."""
    import dataclasses
    import json

    from engine import workflow

    with user_errors():
        explanation = workflow.explain_customer(_load(project), target, customer)
        if as_json:
            print(json.dumps(dataclasses.asdict(explanation), indent=2, default=str))
        else:
            print_explanation(explanation)


LONG_TEXT = 200  # characters of a text value explain prints; the rest is counted, not printed


class _TextOnce:
    """Text values as explain prints them: a long one cut to LONG_TEXT characters with its length,
    and printed once (a ticket read by two metrics is not printed twice)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, value) -> str:
        from engine.lint.findings import format_value

        if not isinstance(value, str) or len(value) <= LONG_TEXT:
            return format_value(value)
        if value in self.seen:
            return f"(the {len(value):,}-character text above)"
        self.seen.add(value)
        return format_value(value[:LONG_TEXT]) + f"… ({len(value):,} characters)"


def print_explanation(explanation) -> None:
    shown = _TextOnce()
    # compared as text: an integer key read back as 1 and the key typed as "1" are the same customer
    title = f"{explanation.name} ({explanation.key})" if explanation.name is not None and str(explanation.name) != str(explanation.key) else str(explanation.key)
    out.print(title, style="bold", markup=False)
    out.print("  " + ", ".join(f"{k} = {shown(v)}" for k, v in explanation.columns.items()), markup=False)
    out.print("\nmetrics", style="bold")
    for metric in explanation.metrics:
        rows = f"  [{metric.rows} row(s) of {metric.source}{', as ' + metric.same_rows_as if metric.same_rows_as else ''}]" if metric.rows is not None else ""
        out.print(f"  {metric.name} = {shown(metric.value)}    {metric.definition}{rows}", markup=False)
        for sample in metric.sample:
            out.print("      " + ", ".join(f"{k}: {shown(v)}" for k, v in sample.items()), markup=False)
    for seg in explanation.segmentations:
        out.print(f"\n{seg.name} = {shown(seg.label)}  (match: {seg.match})", style="bold", markup=False)
        for rule in seg.rules:
            mark = "→" if rule.won else " "
            inputs = ", ".join(f"{k} = {shown(v)}" for k, v in rule.inputs.items())
            out.print(f"  {mark} {rule.segment}: {rule.when}    {rule.why}  [{inputs}]  {rule.at}", markup=False)
            for reason in rule.because:
                out.print(f"      {reason}", markup=False)
        if seg.match == "first" and not any(rule.won for rule in seg.rules):
            out.print(f"  → no rule is true, so the default applies: {shown(seg.default)}", markup=False)
    out.print("\nAI output", style="bold")
    for ai in explanation.ai:
        if ai.missing:
            out.print(f"  {ai.prompt}: {ai.missing}", markup=False)
            continue
        out.print(f"  {ai.prompt}: variant {ai.variant}, prompt version {ai.prompt_version} ({_version_note(ai)}), {ai.provider}/{ai.model}, {ai.generated_at}", markup=False)
        for line in _reply_lines(ai.response):
            out.print("    " + line, markup=False)


def _version_note(ai) -> str:
    if not ai.current:
        return "an older version of the prompt"
    if ai.stale:
        return "current version, but made from inputs that have changed since: `rulectl run` refreshes it"
    return "current version"


def _reply_lines(response: str | None) -> list[str]:
    """A structured reply as `field: value` lines, its text as written (a JSON reply's `\\u00fc`
    escapes decoded); a free-text reply as it is."""
    import json

    try:
        fields = json.loads(response or "")
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return (response or "").splitlines() or [""]
    lines = []
    for name, value in fields.items():
        text = ", ".join(map(str, value)) if isinstance(value, list) else "NULL" if value is None else str(value)
        lines += f"{name}: {text}".splitlines() or [f"{name}:"]
    return lines


@app.command()
def history(
    project: Path = ProjectOption,
    target: Optional[str] = TargetOption,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many applies to show."),
    as_json: bool = typer.Option(False, "--json", help="Print the history as JSON."),
) -> None:
    """What was applied to the target: when, by whom, from which git commit, by which plan."""
    import dataclasses
    import json

    from engine import workflow

    with user_errors():
        applies = workflow.history(_load(project), target, limit)
        if as_json:
            print(json.dumps([dataclasses.asdict(a) | {"failed": a.failed, "outcome": a.outcome, "steps_applied": a.steps_applied} for a in applies], indent=2, default=str))
        else:
            print_history(applies)


def _took(started, finished) -> str:
    if started is None or finished is None or not hasattr(finished, "__sub__"):
        return "-"
    seconds = max(0, int((finished - started).total_seconds()))
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def utc_text(moment) -> str:
    """A stored time as `YYYY-MM-DD HH:MM:SS UTC`: rulectl's sessions and tasks run in UTC, and a
    time without its zone is read as the reader's own."""
    from datetime import datetime, timezone

    if not isinstance(moment, datetime):
        return f"{moment} UTC" if moment is not None else "(no time)"
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def print_history(applies) -> None:
    if not applies:
        out.print("nothing has been applied to this target yet", markup=False)
        return
    for applied in applies:
        who = applied.applied_by or "(not recorded)"
        commit = f", commit {applied.git_commit[:12]}{'+dirty' if applied.git_commit.endswith('+dirty') else ''}" if applied.git_commit else ""
        outcome = applied.outcome if applied.outcome == "applied" else applied.outcome.upper()
        count = f"{len(applied.steps)} step(s)"
        if applied.outcome in ("interrupted", "incomplete") and applied.steps_planned is not None:
            count = f"{applied.steps_applied} of {applied.steps_planned} step(s) applied"
        why = " (it stopped without recording why: killed, or still running)" if applied.outcome == "incomplete" else ""
        out.print(f"{utc_text(applied.applied_at)}  plan {applied.plan_id}  {outcome} by {who}{commit}: {count}{why}", markup=False)
        for step in applied.steps:
            message = f" — {step.message}" if step.message else ""
            out.print(f"    {step.status:<8} {step.action} {step.kind} {step.qualified_name}{message}", markup=False)


@app.command()
def unlock(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    yes: bool = typer.Option(False, "--yes", "-y", help="Release without asking."),
) -> None:
    """Release the apply lock left behind by an apply that died (shows who holds it first)."""
    from engine import workflow

    def confirm(holder) -> bool:
        out.print(f"the apply lock is held by {holder.describe()}", markup=False)
        if yes:
            return True
        return _ask("Release it? Only do this if that apply is no longer running.", "unlock needs confirmation: run it in a terminal, or pass --yes")

    with user_errors():
        holder, released = workflow.unlock(_load(project), target, confirm)
        if holder is None:
            out.print("no apply lock is held on this target; nothing to release")
        elif released:
            out.print("apply lock released")
        else:
            out.print("the apply lock was kept", markup=False)
            raise typer.Exit(1)


@app.command()
def run(
    prompts: list[str] = typer.Argument(None, help="Prompt names (default: every prompt)."),
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    allow_failures: bool = typer.Option(False, "--allow-failures", help="Exit 0 even when some model calls failed."),
) -> None:
    """Run AI refreshes now (local runner; EXECUTE TASK on Snowflake); exit 1 when calls failed."""
    from engine import workflow

    with user_errors():
        loaded = _load(project)
        with progress_reporting() as callbacks:
            results = workflow.run_refreshes(loaded, target, prompts or [], *callbacks)
        _print_run_results(results)
        if any(result.interrupted for result in results):
            err.print("interrupted: every batch committed so far is kept; `rulectl run` carries on with the rest", markup=False)
            raise typer.Exit(130)
        failed = _failed_calls(results)
        if failed:
            err.print(f"{failed} model call(s) failed; their rows stay pending for the next run" + ("" if allow_failures else " (pass --allow-failures to exit 0 anyway)"), markup=False)
            if not allow_failures:
                raise typer.Exit(1)


@contextmanager
def progress_reporting():
    """(on_start, on_row) callbacks that drive a progress bar on stderr, closed when the block ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True)
    current: dict = {}

    def on_start(task, total: int) -> None:
        current["id"] = progress.add_task(task.qualified_name, total=max(total, 1))
        if not total:
            progress.update(current["id"], completed=1)

    def on_row(ok: bool) -> None:
        progress.advance(current["id"])

    with progress:
        yield on_start, on_row


def _failed_calls(results) -> int:
    return sum(result.failures or 0 for result in results)


def _print_run_results(results) -> None:
    for result in results:
        if result.in_background:
            out.print(f"{result.task}: {result.note}", markup=False)
            continue
        line = f"{result.task}: {result.enriched} row(s) enriched with {result.calls} model call(s)"
        if result.failures:
            line += f"; {result.failure_breakdown or f'{result.failures} call(s) failed'}; their rows stay pending for the next run"
        if result.removed:
            line += f"; {result.removed} row(s) removed whose source row or customer no longer exists"
        if result.note:
            line += f" — {result.note}"
        out.print(line, markup=False)


@app.command()
def status(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
) -> None:
    """Each prompt's last AI refresh run: pending, enriched, failed; warns when a run enriched nothing."""
    import dataclasses
    import json

    from engine import workflow

    with user_errors():
        runs = workflow.refresh_status(_load(project), target)
        if as_json:
            for last in runs:
                print(json.dumps({**dataclasses.asdict(last), "state": last.state, "warning": last.warning}, default=str))
            return
        print_run_status(runs)


def print_run_status(runs) -> None:
    """One row per prompt that fits 80 columns: the whole prompt name, the start to the minute
    (month and day: the year and seconds are in `status --json`) and how long the run took."""
    from rich.table import Table

    table = Table(title="Last AI refresh per prompt", box=None, pad_edge=False, padding=(0, 1, 0, 0))
    longest = max((len(last.prompt) for last in runs), default=6)
    table.add_column("prompt", no_wrap=True, min_width=min(longest, 40), overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    for column in ("pending", "enriched", "failed"):  # tokens and credits: `status --json`, `rulectl spend`
        table.add_column(column, justify="right", no_wrap=True)
    count = lambda value: "-" if value is None else f"{value:,}"  # noqa: E731
    for last in runs:
        started = last.started_at.strftime("%b %d %H:%M") if last.started_at is not None else "-"
        table.add_row(last.prompt, last.state, started, _took(last.started_at, last.finished_at), count(last.pending), count(last.enriched), count(last.failed))
    out.print(table, soft_wrap=False)
    for last in runs:
        if last.warning:
            err.print(f"warning: {last.warning}", markup=False)
    for last in runs:
        if last.note:
            out.print(f"note: {last.prompt}: {last.note}", markup=False)


@app.command()
def spend(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    since: Optional[str] = typer.Option(None, "--since", help="Only replies made on or after this date (YYYY-MM-DD)."),
    by: str = typer.Option("prompt", "--by", help="Group by prompt, day or run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Tokens and credits actually spent per prompt, day or run (the replies kept in the output
    tables, with the run log), beside plan's ceiling; on Snowflake also the account's Cortex usage view."""
    import dataclasses
    import json
    from datetime import date

    from engine import workflow

    with user_errors():
        try:
            since_date = date.fromisoformat(since) if since else None
        except ValueError:
            raise RulectlError(f"--since `{since}` is not a date; write it as YYYY-MM-DD (e.g. 2026-12-01)") from None
        report = workflow.spend(_load(project), target, by, since_date)
    if as_json:
        payload = {"by": report.by, "since": report.since, "groups": [dataclasses.asdict(g) for g in report.groups],
                   "total": dataclasses.asdict(report.total), "account": dataclasses.asdict(report.account) if report.account else None, "notes": list(report.notes)}
        print(json.dumps(payload, default=str))
        return
    print_spend(report)


def print_spend(report) -> None:
    from rich.table import Table

    table = Table(title=f"AI spend by {report.by}" + (f" since {report.since}" if report.since else "") + " (rulectl's records: the replies kept)")
    numbers = ("replies", "input tokens", "output tokens", "credits", "plan's ceiling")
    for column in (report.by, *numbers):
        table.add_column(column, justify="right" if column in numbers else "left")
    for group in (*report.groups, report.total):
        label = group.group if report.by != "run" or group.started_at is None else f"{group.group[:8]} {group.started_at:%Y-%m-%d %H:%M} ({', '.join(group.prompts)})"
        table.add_row(label, f"{group.replies:,}", f"{group.input_tokens:,}", f"{group.output_tokens:,}", f"{group.credits:.4f}", f"{group.ceiling_credits:.4f}")
    out.print(table, soft_wrap=False)
    out.print("credits at each prompt's Cortex model price (engine/config/pricing.py, `pricing:`); plan's ceiling: input + max_tokens per reply", markup=False)
    for note in report.notes:
        err.print(f"note: {note}", markup=False)
    if report.account is not None:
        account = report.account
        if account.rows:
            out.print(f"Snowflake's own figures, {account.view} ({account.note}):", markup=False)
            for day, function, model, credits in account.rows:
                out.print(f"  {day}  {function}  {model or '-'}  {credits:.4f} credits", markup=False)
        else:
            out.print(f"{account.view}: {account.note or 'no usage recorded in this period'}", markup=False)


@app.command()
def doctor(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per check."),
) -> None:
    """Before the first apply: connection, role, privileges, warehouse, Cortex access and each model
    with the prompts' own options (a local target: the DuckDB file and the LLM endpoint). Exit 1 when
    a check fails; each failure says what to run."""
    import dataclasses
    import json

    from engine import workflow

    with user_errors():
        checks = workflow.doctor(_load(project), target)
    if as_json:
        for check in checks:
            print(json.dumps(dataclasses.asdict(check)))
    else:
        for check in checks:
            out.print(f"{'ok    ' if check.ok else 'FAILED'}  {check.name}: {check.detail}", markup=False)
            if check.fix:
                out.print(f"        fix: {check.fix}", markup=False)
        failed = sum(1 for check in checks if not check.ok)
        out.print(f"{len(checks) - failed} ok, {failed} failed" if failed else f"all {len(checks)} checks ok", markup=False)
    if any(not check.ok for check in checks):
        raise typer.Exit(1)


@app.command()
def scheduler(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    once: bool = typer.Option(False, "--once", help="Run the tasks that are due now, then exit."),
    interval: int = typer.Option(60, "--interval", min=5, help="Seconds between checks."),
) -> None:
    """Run local refresh tasks when their schedule says they are due (Ctrl-C to stop)."""
    import time

    from engine import workflow

    with user_errors():
        loaded = _load(project)
        with workflow.local_models_served(loaded):  # a local model loads once per scheduler session
            while True:
                results = workflow.run_due_tasks(loaded, target)
                if results:
                    _print_run_results(results)
                elif once:
                    out.print("no task is due")
                if once:
                    return
                time.sleep(interval)


@app.command()
def insights(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Only this prompt's output (default: every prompt)."),
    segment: Optional[str] = typer.Option(None, "--segment", help="Only customers in this segment."),
    customer: Optional[str] = typer.Option(None, "--customer", help="A customer key, or part of a display name."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="How many customers (default: 5 panels, every row with --json)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per customer instead of panels."),
    where: Optional[str] = typer.Option(None, "--where", help="Filter on output fields and customer columns, e.g. \"risk = 'high'\"."),
) -> None:
    """AI output beside each customer's segments and display columns, largest first; stale output is marked."""
    import dataclasses
    import json

    from engine import workflow
    from engine.cli.terminal_output import json_default, print_insights

    with user_errors():
        loaded = _load(project)
        rows, stale = workflow.read_insights_with_staleness(
            loaded, target, prompt=prompt, segment=segment, customer=customer, where=where, limit=limit or (None if as_json else 5)
        )
        if as_json:
            for row in rows:
                print(json.dumps(dataclasses.asdict(row), default=json_default))
        else:
            given = {"--segment": segment, "--customer": customer, "--where": where}
            print_insights(out, loaded, rows, stale, " ".join(f"{flag} {value!r}" for flag, value in given.items() if value))


@app.command()
def search(
    query: str = typer.Argument(..., help="What the customers you look for say or need, e.g. \"budget cuts, worried about renewal\"."),
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    limit: int = typer.Option(10, "--limit", "-n", min=1, max=1000, help="How many customers."),
    segment: Optional[str] = typer.Option(None, "--segment", help="Only customers in this segment."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per customer."),
) -> None:
    """Customers whose embedded text (`search:` in rulectl.yml) is nearest the query, with their segments."""
    import dataclasses
    import json

    from engine import workflow
    from engine.cli.terminal_output import json_default, print_search, search_notes

    with user_errors():
        loaded = _load(project)
        result = workflow.search_customers(loaded, target, query, limit, segment)
        if as_json:  # one object per match on stdout; what the result leaves out on stderr
            for match in result.matches:
                print(json.dumps({**dataclasses.asdict(match), "model": result.model, "embedder": result.embedder}, default=json_default))
            for note in search_notes(result):
                print(note, file=sys.stderr)
        else:
            print_search(out, loaded, result)


@app.command()
def export(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    fmt: str = typer.Option("parquet", "--format", "-f", help="parquet or csv (Power BI), hyper (a Tableau extract)."),
    out_dir: Path = typer.Option(Path("export"), "--out", "-o", help="Directory to write the file into.", file_okay=False),
) -> None:
    """Customer-level insights (segments, display columns, AI output) as a file for BI tools, types kept."""
    from engine import workflow

    with user_errors():
        loaded = _load(project)
        written = workflow.export_insights(loaded, target, fmt.lower(), out_dir)
        out.print(f"wrote {written.rows:,} rows × {written.columns} columns of {written.view} to {written.path}")


@app.command()
def report(
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    out_dir: Path = typer.Option(Path("report"), "--out", "-o", help="Directory to write report.html into.", file_okay=False),
    open_page: bool = typer.Option(False, "--open", help="Open the page in the default web browser."),
) -> None:
    """One self-contained HTML page: segments, how they moved, AI runs and spend, experiments, lineage, lint."""
    from engine import workflow

    with user_errors():
        path = workflow.write_report(_load(project), target, out_dir)
        out.print(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KB; one file, opens from disk)", markup=False)
    if open_page:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())


model_app = typer.Typer(cls=UsageErrorsExitOne, help="Local models for `provider: local`: catalog, download, check.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("list")
def model_list() -> None:
    """The model catalog: name, size, licence, pinned SHA-256 and what the cache holds of each."""
    from engine.ai.local_models import model_dir, model_states

    with user_errors():
        for state in model_states(verify=False):
            entry = state.model
            out.print(f"{entry.name}  {entry.size / 1e6:,.0f} MB  {entry.licence}  {state.state}", markup=False)
            out.print(f"  {entry.about}\n  {entry.url}\n  sha256 {entry.sha256}", markup=False)
        out.print(f"cache: {model_dir()} (RULECTL_MODEL_DIR overrides); any other GGUF file can be named by its path in `llm: model:`", markup=False)


@model_app.command("pull")
def model_pull(name: str = typer.Argument(..., help="A catalog name (`rulectl model list`).")) -> None:
    """Download a catalog model from its publisher (resumable), verified against its pinned SHA-256."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from engine.ai.local_models import catalog_entry, pull

    with user_errors():
        entry = catalog_entry(name)
        with Progress(TextColumn(name), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(), console=err, transient=True) as progress:
            bar = progress.add_task(name, total=entry.size)
            path = pull(name, lambda done, total: progress.update(bar, completed=done))
        out.print(f"{name}: {path} (SHA-256 verified)", markup=False)


@model_app.command("path")
def model_path(name: str = typer.Argument(..., help="A catalog name.")) -> None:
    """Where a catalog model's file lives (or would, once pulled or placed by hand)."""
    from engine.ai.local_models import catalog_entry, catalog_path

    with user_errors():
        print(catalog_path(catalog_entry(name)))


@model_app.command("verify")
def model_verify(names: list[str] = typer.Argument(None, help="Catalog names (default: every downloaded one).")) -> None:
    """Hash downloaded models against their pins; exit 1 when one does not match."""
    from engine.ai.local_models import catalog_entry, catalog_path, file_sha256

    with user_errors():
        entries = [catalog_entry(name) for name in names] if names else [e for e in _catalog() if catalog_path(e).is_file()]
        if not entries:
            out.print("no catalog model is downloaded (`rulectl model pull NAME`)", markup=False)
        bad = 0
        for entry in entries:
            path = catalog_path(entry)
            if not path.is_file():
                out.print(f"{entry.name}: not downloaded ({path})", markup=False)
                bad += 1
            elif file_sha256(path) != entry.sha256:
                out.print(f"{entry.name}: {path} does NOT match the pinned SHA-256; it will not be loaded (delete it and pull again)", markup=False)
                bad += 1
            else:
                out.print(f"{entry.name}: {path} ok (SHA-256 {entry.sha256})", markup=False)
        if bad:
            raise typer.Exit(1)


def _catalog():
    from engine.config.model_catalog import CATALOG

    return list(CATALOG.values())


experiment_app = typer.Typer(cls=UsageErrorsExitOne, help="Compare prompt variants.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("report")
def experiment_report(
    prompt: str = typer.Argument(..., help="Prompt name."),
    project: Optional[Path] = ProjectOption,
    target: Optional[str] = TargetOption,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Rows, mean length and tokens per variant; outcome rate with a 95% CI and a test when configured."""
    import dataclasses
    import json

    from engine.ai.insights import find_prompt

    from rich.table import Table

    from engine import workflow

    with user_errors():
        loaded = _load(project)
        stats = workflow.read_experiment(loaded, target, prompt)
        if as_json:
            print(json.dumps([dataclasses.asdict(s) for s in stats], indent=2))
            return
        table = Table(title=f"experiment report: {prompt}")
        for column in ("variant", "rows", "chars", "in tok", "out tok"):
            table.add_column(column, justify="right" if column != "variant" else "left")
        with_mean = any(s.outcome_mean is not None for s in stats)
        with_outcome = not with_mean and any(s.outcome_rate is not None or s.ci_low is not None for s in stats)
        if with_mean:
            table.add_column("outcome mean", justify="right")
        if with_outcome:
            for column in ("outcome", "95% CI", "p"):
                table.add_column(column, justify="right")
        for s in stats:
            cells = [s.variant, str(s.rows), f"{s.mean_chars:.0f}", f"{s.mean_input_tokens:.0f}", f"{s.mean_output_tokens:.0f}"]
            if with_mean:
                cells.append(f"{s.outcome_mean:.3g}" if s.outcome_mean is not None else "-")
            if with_outcome:
                rate = f"{s.outcome_rate:.1%}" if s.outcome_rate is not None else "-"
                cells += [rate, f"{s.ci_low:.1%}–{s.ci_high:.1%}", f"{s.p_value:.3f}" if s.p_value is not None else "-"]
            table.add_row(*cells)
        out.print(table, soft_wrap=False)
        out.print("chars, in tok, out tok: means per row" + ("; p: two-proportion z-test against the first variant" if with_outcome else ""), markup=False)
        if find_prompt(loaded, prompt).item.experiment is None:
            out.print(f"prompt `{prompt}` has no experiment (no `experiment:` with variants), so there is one version to report; add one to compare variants", markup=False)
        elif not with_outcome and not with_mean:
            out.print("set `experiment.outcome` (a condition over input columns and output fields, e.g. risk = 'high') to compare outcome rates", markup=False)


@app.command()
def demo(project: Optional[Path] = ProjectOption, customers: int = typer.Option(3, "--show", help="How many customers' insights to print.")) -> None:
    """The main job on the local target: load samples → apply → segment summary → AI refresh → insights."""
    from engine import workflow
    from engine.backends.registry import target_backend_class
    from engine.cli.terminal_output import print_insights, print_search, print_segment_sizes, print_sentiment_segments

    with user_errors():
        loaded = _load(project)
        local = loaded.config.default_target
        if not target_backend_class(loaded, local).loads_samples:
            raise RulectlError("`rulectl demo` runs on the local DuckDB target; set default_target to it")
        for table in workflow.load_sample_data(loaded, local):
            out.print(f"loaded {table.rows:,} rows into {table.table}")
        made, result = workflow.apply(loaded, local)
        out.print(f"applied {len(result.applied)} change(s) to the local target" if made.has_changes else "local target already up to date")
        out.print()
        with progress_reporting() as callbacks:
            results, real = workflow.demo_refreshes(loaded, local, *callbacks)
        _print_run_results(results)
        if real is not None:
            out.print(f"real AI: {real.model} (llama.cpp, in-process) was asked about the {real.rows} largest customers and {real.enriched} replies were stored, in {real.seconds:.0f} s; the other customers stay pending (`rulectl run` enriches them).", markup=False)
        elif loaded.config.targets[local].llm.provider == "offline":
            from engine.ai.local_demo import HOW_TO_GET_REAL_OUTPUT

            out.print("note: no LLM is configured, so the `offline` provider wrote clearly labelled stand-in text, not AI output.", markup=False)
            out.print(f"note: {HOW_TO_GET_REAL_OUTPUT}", markup=False)
        out.print()  # sizes after the refreshes: rules over AI sentiment read the scores they made
        print_segment_sizes(out, loaded, workflow.segment_summary(loaded, local))
        print_sentiment_segments(out, workflow.sentiment_segments(loaded, local))
        out.print()
        print_insights(out, loaded, workflow.read_insights(loaded, local, limit=customers))
        search = loaded.config.search
        if search is not None and search.demo_query:  # the project's own example query
            out.print()
            out.print(f'rulectl search "{search.demo_query}" -n 3', style="bold", markup=False)
            print_search(out, loaded, workflow.search_customers(loaded, local, search.demo_query, 3, None))


def _ask(question: str, needs_answer: str) -> bool:
    """A yes/no question: typed in a terminal, or one line read from a pipe (`echo y | rulectl …`).
    No line at all (CI with stdin closed or /dev/null) is an error that says how to confirm."""
    if sys.stdin.isatty():
        return typer.confirm(question, default=False)
    try:
        line = sys.stdin.readline()
    except (OSError, ValueError):
        line = ""
    if not line:
        raise RulectlError(needs_answer)
    out.print(f"{question} [y/N]: {line.strip()}", markup=False)
    return line.strip().lower() in ("y", "yes")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
