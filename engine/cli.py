"""The rulectl command line: typer only — parse options, call the engine, print the result."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from engine.errors import ConfigErrors, RulectlError

app = typer.Typer(
    name="rulectl",
    help="Business rules as YAML → validated, planned, scheduled Snowflake analytics and AI enrichment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ProjectOption = typer.Option(Path("."), "--project", "-p", help="Project directory (holds rulectl.yml).", file_okay=False)
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
    except RulectlError as error:
        err.print(f"error: {error}", markup=False)
        raise typer.Exit(1) from None


def _load(project: Path):
    from engine.config.loader import load_project

    return load_project(project.resolve())


@app.command()
def validate(project: Path = ProjectOption) -> None:
    """Load and check every YAML file offline; exit 1 with file:line messages on error."""
    with user_errors():
        loaded = _load(project)
        out.print(
            f"ok: {len(loaded.config.sources)} sources, {len(loaded.metrics)} metrics, "
            f"{len(loaded.segmentations)} segmentations, {len(loaded.prompts)} prompts"
        )


@app.command()
def compile(
    project: Path = ProjectOption,
    target: Optional[str] = TargetOption,
    output: Optional[Path] = typer.Option(None, "--out", "-o", help="Write one .sql file per object under this directory."),
) -> None:
    """Print (or write) the SQL of every object in the target's dialect."""
    from engine.render import compiled_sql

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
def load(project: Path = ProjectOption, target: Optional[str] = TargetOption) -> None:
    """Load the sample CSVs into the source tables of a local (DuckDB) target."""
    from engine.backends.registry import open_backend, target_name
    from engine.sample_data import load_samples

    with user_errors():
        loaded = _load(project)
        name = target_name(loaded, target)
        if loaded.config.targets[name].engine != "duckdb":
            raise RulectlError(f"`rulectl load` fills local DuckDB targets only; `{name}` is a {loaded.config.targets[name].engine} target")
        backend = open_backend(loaded, name)
        try:
            for table in load_samples(loaded, backend):
                out.print(f"loaded {table.rows:>8,} rows into {table.table} (source {table.source})")
        finally:
            backend.close()


@app.command()
def plan(
    project: Path = ProjectOption,
    target: Optional[str] = TargetOption,
    output: Optional[Path] = typer.Option(None, "--out", help="Save the plan (JSON) for `rulectl apply PLAN`."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="Exit 2 when there are changes, 0 when none."),
    adopt: list[str] = typer.Option([], "--adopt", help="Take over an existing object rulectl does not own (SCHEMA.NAME)."),
    show_noop: bool = typer.Option(False, "--all", help="Also list objects that are up to date."),
) -> None:
    """Show what apply would do: create / replace / alter / drop / drift per object."""
    from engine import workflow
    from engine.plan.render import render_plan

    with user_errors():
        made = workflow.plan(_load(project), target, adopt)
        if output:
            output.write_text(made.to_json())
        if as_json:
            print(made.to_json())
        else:
            render_plan(made, out, show_noop)
            if output:
                out.print(f"saved the plan to {output}; apply it with `rulectl apply {output}`")
        if made.errors:
            raise typer.Exit(1)
        if detailed_exitcode and made.has_changes:
            raise typer.Exit(2)


@app.command()
def apply(
    plan_file: Optional[Path] = typer.Argument(None, help="A plan saved with `rulectl plan --out`."),
    project: Path = ProjectOption,
    target: Optional[str] = TargetOption,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    allow_destructive: bool = typer.Option(False, "--allow-destructive", help="Allow dropping or recreating tables that hold data."),
    adopt: list[str] = typer.Option([], "--adopt", help="Take over an existing object rulectl does not own (SCHEMA.NAME)."),
) -> None:
    """Apply the plan (a saved one, or a fresh one after showing it and asking)."""
    from engine import workflow
    from engine.plan.render import render_plan, summary_line

    def confirm(made) -> bool:
        if plan_file is not None or yes:
            return True
        render_plan(made, out)
        if not sys.stdin.isatty() and not _stdin_has_data():
            raise RulectlError("apply needs confirmation: run it in a terminal, or pass --yes (or a saved plan file)")
        return typer.confirm("Apply these changes?", default=False)

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
        else:
            out.print("Nothing applied.")


@app.command()
def unlock(project: Path = ProjectOption, target: Optional[str] = TargetOption) -> None:
    """Release the apply lock left behind by an apply that died."""
    from engine import workflow

    with user_errors():
        workflow.unlock(_load(project), target)
        out.print("apply lock released")


def _stdin_has_data() -> bool:
    import select

    try:
        return bool(select.select([sys.stdin], [], [], 0)[0])
    except (OSError, ValueError):
        return True  # e.g. a test runner's stream: let typer.confirm read it


def main() -> None:
    app()


if __name__ == "__main__":
    main()
