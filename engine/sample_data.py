"""`rulectl load`: the sample CSVs into the source tables of a local target."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from engine.backends.base import Backend
from engine.config.models import Source
from engine.config.project import LoadedProject
from engine.errors import RulectlError


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


def load_samples(loaded: LoadedProject, backend: Backend) -> list[LoadedTable]:
    """Replace each source table with its `sample:` CSV, typed as declared in rulectl.yml.

    One transaction: a bad file leaves every source table as it was.
    """
    backend.execute("BEGIN TRANSACTION")
    try:
        results = _load_all(loaded, backend)
    except BaseException:
        backend.execute("ROLLBACK")
        raise
    backend.execute("COMMIT")
    return results


def _load_all(loaded: LoadedProject, backend: Backend) -> list[LoadedTable]:
    if not any(source.sample for source in loaded.config.sources.values()):
        raise RulectlError("no source has a `sample:` CSV to load; add e.g. `sample: data/customer.csv` to a source in rulectl.yml")
    results = []
    for name, source in loaded.config.sources.items():
        if not source.sample:
            continue
        csv_path = loaded.root / source.sample
        if not csv_path.exists():
            raise RulectlError(f"rulectl.yml: sources.{name}.sample: {source.sample} not found")
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
            raise RulectlError(f"{source.sample}: cannot load into {source.table}: {_csv_hint(csv_path) or str(error).splitlines()[0]}") from None
        count = backend.query(exp.select(exp.func("COUNT", exp.Star())).from_(target.copy()))[0][0]
        results.append(LoadedTable(name, source.table, count))
    return results


def _csv_hint(csv_path) -> str | None:
    """What is wrong with a CSV the engine could not read, where rulectl can tell (DuckDB's sniffer
    only says it could not detect the dialect)."""
    with open(csv_path, "rb") as handle:
        data = handle.read(1 << 20)
    windows, unix = data.count(b"\r\n"), data.count(b"\n") - data.count(b"\r\n")
    if windows and unix:
        kinds = [b"\r\n" if line.endswith(b"\r") else b"\n" for line in data.split(b"\n")[:-1]]
        line = next(i + 1 for i, kind in enumerate(kinds) if kind != kinds[0])
        return f"the file mixes Windows (CRLF) and Unix (LF) line endings (from line {line}); save it with one kind of line ending"
    return None
