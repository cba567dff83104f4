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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
