"""`rulectl load`: the sample CSVs into the source tables of a local target."""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

from sqlglot import exp

from engine.backends.base import Backend
from engine.config.models import Source
from engine.config.project import LoadedProject
from engine.config.value_types import quick_pattern, type_words, value_problem
from engine.features.csv_checks import check_sample
from engine.core.errors import RulectlError


@dataclass(frozen=True)
class LoadedTable:
    source: str
    table: str
    rows: int
    warnings: tuple[str, ...] = ()  # values cut to their declared type, rows that match no customer


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
        results = _with_orphans(loaded, backend, _load_all(loaded, backend))
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
        warnings: list[str] = []
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
        scan = _value_scan(source, read_csv)
        if scan is not None:
            found = backend.query(scan)[0]
            refused = [(column, value) for column, value in zip(source.columns, found[3::4]) if value is not None]
            if refused:
                raise RulectlError(refused_value_message(csv_path, source.sample, source, refused))
            cut = [f"{count:,} value(s) of `{column}` cut to {source.columns[column]} (e.g. {example} → {kept})"
                   for column, count, example, kept in zip(source.columns, found[0::4], found[1::4], found[2::4]) if count]
            if cut and source.checks.truncated == "refuse":
                raise RulectlError(f"{source.sample}: not loaded, rows would change ({'; '.join(cut)}); declare the column's real type (e.g. number(12,2)) or set `checks: {{truncated: warn}}` on source {name}")
            warnings += [f"{source.sample}: {c}; declare the column's real type (e.g. number(12,2)) to keep them" for c in cut]
        try:
            backend.execute(exp.insert(select, target))
        except Exception as error:  # the engine's own message names the bad value
            raise RulectlError(f"{source.sample}: cannot load into {source.table}: {str(error).splitlines()[0]}") from None
        count = backend.query(exp.select(exp.func("COUNT", exp.Star())).from_(target.copy()))[0][0]
        results.append(LoadedTable(name, source.table, count, tuple(warnings)))
    return results


def _value_scan(source: Source, read_csv: exp.Expression) -> exp.Select | None:
    """One scan of the CSV before the insert, four result columns per declared column (NULLs for
    text, which takes anything), lined up with `source.columns`:

    - how many values the cast to a fixed-point type (integer, number(p,s)) changes, one example and
      what it became. Both engines round silently
      (https://docs.snowflake.com/en/sql-reference/data-types-numeric#impact-of-precision-and-scale-on-storage-size),
      so 753.15 loaded into an integer column would be 753 and nothing would say so;
    - one value the cast refuses (TRY_CAST gives NULL), for what the pre-check (csv_checks.py) lets
      through: `2025-02-30`, a number too large for its type. The insert would fail with the engine's
      words and no line; this names file, line, column and value. Before the insert, because a failed
      statement aborts the load's transaction."""
    parts: list[exp.Expression] = []
    for column, type_text in source.columns.items():
        declared = exp.DataType.build(type_text, dialect="snowflake")
        if quick_pattern(type_text) is None:
            parts += [exp.Literal.number(0), exp.null(), exp.null(), exp.null()]
            continue
        refused = exp.and_(exp.column(column).is_(exp.null()).not_(), exp.TryCast(this=exp.column(column), to=declared.copy()).is_(exp.null()))
        refused_example = exp.Min(this=exp.If(this=refused, true=exp.column(column)))
        floating = (exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE)  # keep every digit; sqlglot's REAL_TYPES include DECIMAL
        if declared.this not in exp.DataType.NUMERIC_TYPES or declared.this in floating:
            parts += [exp.Literal.number(0), exp.null(), exp.null(), refused_example]
            continue
        exact = exp.TryCast(this=exp.column(column), to=exp.DataType.build("DECIMAL(38, 12)"))
        stored = exp.TryCast(this=exp.column(column), to=declared.copy())
        changed = exact.neq(exp.cast(stored.copy(), exp.DataType.build("DECIMAL(38, 12)")))
        example = exp.Min(this=exp.If(this=changed.copy(), true=exp.column(column)))
        parts += [exp.func("COUNT_IF", changed.copy()), example, exp.cast(exp.TryCast(this=example.copy(), to=declared.copy()), "VARCHAR"), refused_example]
    if all(isinstance(part, (exp.Literal, exp.Null)) for part in parts):
        return None
    return exp.select(*parts).from_(read_csv.copy())


def refused_value_message(path: Path, shown: str, source: Source, refused: list[tuple[str, str]]) -> str:
    """`file:line: column `c` (type): `value` …; fix` for the refused value that comes first in the file."""
    located = sorted((first_line_with(path, column, value), column, value) for column, value in refused)
    line, column, value = located[0]
    type_text = source.columns[column]
    problem = value_problem(value, type_text) or engine_refusal(value, type_text)
    return f"{shown}:{line}: column `{column}` ({type_text}): {problem}"


def first_line_with(path: Path, column: str, value: str) -> int:
    """The line where the first record holding `value` in `column` starts (the file passed csv_checks)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [cell.strip() for cell in next(reader)]
        index, line = header.index(column), reader.line_num
        for record in reader:
            start, line = line + 1, reader.line_num
            if len(record) > index and record[index].strip() == value.strip():
                return start
    return 1


def engine_refusal(value: str, type_text: str) -> str:
    """The fix for a value shaped right that the engine still refuses: a number too large for its type."""
    declared = exp.DataType.build(type_text, dialect="snowflake")
    if declared.this in exp.DataType.NUMERIC_TYPES:
        scale = declared.expressions[1].name if len(declared.expressions) > 1 else "0"
        return (f"`{value}` has more digits than {type_text} holds on this target; "
                f"declare the column wider, e.g. number(38,{scale}), or correct the value")
    if declared.this == exp.DataType.Type.BOOLEAN:  # DuckDB reads yes/no/y/n/t/f/1/0 but not on/off
        return f"`{value}` is not true or false as this target reads it; write true or false"
    return f"`{value}` is not {type_words(type_text)} as this target reads it; correct the value, or leave the field empty for a missing value (NULL)"


def _with_orphans(loaded: LoadedProject, backend: Backend, results: list[LoadedTable]) -> list[LoadedTable]:
    """Each loaded source's rows that match no customer, as a warning on its table (or a refusal
    when the source says `checks: {orphans: refuse}`); read after every table is loaded."""
    from engine.config.project import spine_name
    from engine.plan.orphan_rows import orphan_rows, unmatched_lookups

    spine = spine_name(loaded)
    key = loaded.config.sources[spine].key or ""
    loaded_now = {r.source for r in results}
    if spine not in loaded_now:  # the customer list is not in this load: nothing to match against
        return results
    found = {o.source: o.message(spine, key) for o in orphan_rows(loaded, backend, loaded_now)}
    lookups: dict[str, tuple[str, ...]] = {}  # rows whose lookup value is missing: a warning, never refused
    for source, message in unmatched_lookups(loaded, backend, loaded_now):
        lookups[source] = lookups.get(source, ()) + (message,)
    refused = [found[r.source] for r in results if r.source in found and loaded.config.sources[r.source].checks.orphans == "refuse"]
    if refused:
        raise RulectlError(f"not loaded: {'; '.join(refused)}; fix the keys in the CSV or set `checks: {{orphans: warn}}` on the source")
    return [replace(r, warnings=r.warnings + ((found[r.source],) if r.source in found else ()) + lookups.get(r.source, ())) for r in results]
