"""`rulectl load`: the sample CSVs into the source tables of a local target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlglot import exp

from engine.backends.base import Backend
from engine.config.models import Source
from engine.config.project import LoadedProject
from engine.features.csv_checks import check_sample
from engine.core.errors import RulectlError


@dataclass(frozen=True)
class LoadedTable:
    source: str
    table: str
    rows: int


def source_table_statements(source: Source) -> list[exp.Expression]:
    """CREATE SCHEMA IF NOT EXISTS, then CREATE OR REPLACE TABLE with the declared columns and types."""
    target = exp.to_table(source.table, dialect="snowflake")
    schema = exp.Create(this=exp.Table(this=exp.to_identifier(target.db)), kind="SCHEMA", exists=True)
    column_defs = [
        exp.ColumnDef(this=exp.to_identifier(column), kind=exp.DataType.build(type_text, dialect="snowflake"))
        for column, type_text in source.columns.items()
    ]
    return [schema, exp.Create(this=exp.Schema(this=target, expressions=column_defs), kind="TABLE", replace=True)]


def load_samples(loaded: LoadedProject, backend: Backend, allow_empty: bool = False) -> list[LoadedTable]:
    """Replace each source table with its `sample:` CSV, typed as declared in rulectl.yml.

    Every file is checked first (engine.features.csv_checks), then loaded in one transaction: a bad file
    leaves every source table as it was.
    """
    check_samples(loaded, allow_empty)
    backend.execute("BEGIN TRANSACTION")
    try:
        results = _load_all(loaded, backend)
    except BaseException:
        backend.execute("ROLLBACK")
        raise
    backend.execute("COMMIT")
    return results


def check_samples(loaded: LoadedProject, allow_empty: bool = False) -> None:
    """Each source's sample CSV, checked against its declared columns and grain before any load."""
    for name, source in loaded.config.sources.items():
        if source.sample:
            check_sample(_sample_path(loaded, name, source.sample), source.sample, name, source, allow_empty)


def _sample_path(loaded: LoadedProject, name: str, sample: str) -> Path:
    path = loaded.root / sample
    if not path.exists():
        raise RulectlError(f"rulectl.yml: sources.{name}.sample: {sample} not found")
    if not path.is_file():
        raise RulectlError(f"rulectl.yml: sources.{name}.sample: {sample} is not a regular file")
    return path


def _load_all(loaded: LoadedProject, backend: Backend) -> list[LoadedTable]:
    if not any(source.sample for source in loaded.config.sources.values()):
        raise RulectlError("no source has a `sample:` CSV to load; add e.g. `sample: data/customer.csv` to a source in rulectl.yml")
    results = []
    for name, source in loaded.config.sources.items():
        if not source.sample:
            continue
        csv_path = _sample_path(loaded, name, source.sample)
        target = exp.to_table(source.table, dialect="snowflake")
        for statement in source_table_statements(source):
            backend.execute(statement)
        read_csv = exp.Anonymous(
            this="read_csv",
            expressions=[
                exp.Literal.string(str(csv_path)),
                exp.EQ(this=exp.column("header"), expression=exp.true()),
                exp.EQ(this=exp.column("all_varchar"), expression=exp.true()),
            ],
        )
        # Cast each column explicitly: a bad value fails with the column's name, not a type guess.
        select = exp.select(
            *(exp.cast(exp.column(column), exp.DataType.build(t, dialect="snowflake")).as_(column) for column, t in source.columns.items())
        ).from_(read_csv)
        try:
            backend.execute(exp.insert(select, target))
        except Exception as error:  # the engine's own message names the bad value
            raise RulectlError(f"{source.sample}: cannot load into {source.table}: {str(error).splitlines()[0]}") from None
        count = backend.query(exp.select(exp.func("COUNT", exp.Star())).from_(target.copy()))[0][0]
        results.append(LoadedTable(name, source.table, count))
    return results
