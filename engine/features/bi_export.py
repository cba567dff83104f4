"""`rulectl export`: the customer-level insights as files for BI tools — Parquet or CSV for Power BI,
a `.hyper` extract for Tableau — with the view's column types carried over.

The rows come from the wide insights view (`<ai schema>.CUSTOMER_INSIGHTS`: segments, display
columns, every prompt's latest output); a project without prompts has no such view, so its
segments view is exported instead. Both targets hand the rows over as Arrow, so the types are the
engine's own, not guessed from text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from engine.backends.base import Backend
from engine.compile.objects import table
from engine.compile.segments import SEGMENTS_VIEW
from engine.compile.insights_view import view_columns
from engine.config.project import INSIGHTS_VIEW, LoadedProject, entity_key, input_view_columns
from engine.core.errors import RulectlError

FORMATS = ("parquet", "csv", "hyper")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    view: str  # the view the rows were read from, schema-qualified
    rows: int
    columns: int


def export_view(loaded: LoadedProject) -> str:
    """The view a BI tool should read: the wide insights view, or the segments view without prompts."""
    if loaded.prompts:
        return f"{loaded.config.schemas.ai}.{INSIGHTS_VIEW}"
    return f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}"


def export_query(loaded: LoadedProject) -> exp.Select:
    """Every row of the export view, in key order so two exports of the same data are identical.
    The insights view shows only the `display:` columns; every other customer column, metric and
    `<segmentation>_action` comes from the segments view, so a BI tool gets all of them."""
    key = entity_key(loaded)
    if not loaded.prompts:
        return exp.select("*").from_(table(export_view(loaded))).order_by(exp.column(key))
    shown = set(view_columns(loaded))
    extra = [c for c in input_view_columns(loaded, "customer_segments") if c not in shown]
    segments = exp.alias_(table(f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}"), "s", table=True)
    return (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("i")), *(exp.column(c, table="s") for c in extra))
        .from_(exp.alias_(table(export_view(loaded)), "i", table=True))
        .join(segments, on=exp.column(key, table="s").eq(exp.column(key, table="i")), join_type="left")
        .order_by(exp.column(key, table="i"))
    )


def read_export_rows(loaded: LoadedProject, backend: Backend) -> pa.Table:
    """The export view as an Arrow table with the engine's column types (lower-case names)."""
    try:
        return backend.query_arrow(export_query(loaded))
    except RulectlError:
        raise
    except Exception as error:
        reason = backend.cannot_read("view", export_view(loaded), error)
        advice = "; run `rulectl apply` (and `rulectl run`) first" if reason.endswith("does not exist on this target yet") else ""
        raise RulectlError(reason + advice) from None


def export_insights(loaded: LoadedProject, backend: Backend, fmt: str, out_dir: Path) -> ExportResult:
    """Write the export view to `out_dir/<view name>.<fmt>` and say what was written."""
    if fmt not in FORMATS:
        raise RulectlError(f"unknown export format `{fmt}`; use one of: {', '.join(FORMATS)}")
    rows = read_export_rows(loaded, backend)
    view = export_view(loaded)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{view.split('.')[-1].lower()}.{fmt}"
    WRITERS[fmt](rows, path)
    return ExportResult(path, view, rows.num_rows, rows.num_columns)


# ------------------------------------------------------------ writers


def write_parquet(rows: pa.Table, path: Path) -> None:
    """Parquet keeps every Arrow type as is, lists (match: all segmentations) included."""
    import pyarrow.parquet as pq

    pq.write_table(rows, path)


def write_csv(rows: pa.Table, path: Path) -> None:
    """CSV has no list type: list columns become JSON arrays, the rest as Arrow writes them."""
    import pyarrow.csv as pacsv

    pacsv.write_csv(flatten_lists(rows), path)


def flatten_lists(rows: pa.Table) -> pa.Table:
    """List columns (the labels of a `match: all` segmentation) as JSON text, for flat formats."""
    for index, field in enumerate(rows.schema):
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            texts = [None if value is None else json.dumps(value) for value in rows.column(index).to_pylist()]
            rows = rows.set_column(index, pa.field(field.name, pa.string()), pa.array(texts, pa.string()))
    return rows


def hyper_type(arrow_type: pa.DataType) -> Any:
    """The Hyper column type for an Arrow type; anything without a Hyper counterpart is text.
    https://tableau.github.io/hyper-db/docs/sql/datatype/"""
    from tableauhyperapi import SqlType

    simple: list[tuple[Callable[[pa.DataType], bool], Callable[[], Any]]] = [
        (pa.types.is_boolean, SqlType.bool),
        (pa.types.is_int8, SqlType.small_int),
        (pa.types.is_int16, SqlType.small_int),
        (pa.types.is_int32, SqlType.int),
        (pa.types.is_int64, SqlType.big_int),
        (pa.types.is_floating, SqlType.double),
        (pa.types.is_date, SqlType.date),
    ]
    for matches, build in simple:
        if matches(arrow_type):
            return build()
    if pa.types.is_decimal(arrow_type):
        return SqlType.numeric(arrow_type.precision, arrow_type.scale)
    if pa.types.is_timestamp(arrow_type):
        return SqlType.timestamp_tz() if arrow_type.tz else SqlType.timestamp()
    return SqlType.text()


def hyper_database_version(rows: pa.Table) -> str:
    """Hyper's file format 2 (readable by every supported Tableau) holds numerics up to precision
    18; wider ones (Snowflake's NUMBER(38, s), DuckDB's SUM of a decimal) need version 3.
    https://tableau.github.io/hyper-db/docs/hyper-api/hyper_process/ (default_database_version)"""
    wide = any(pa.types.is_decimal(field.type) and field.type.precision > 18 for field in rows.schema)
    return "3" if wide else "2"


def write_hyper(rows: pa.Table, path: Path) -> None:
    """A Tableau extract: one table `Extract.Extract` (the name Tableau opens by default)."""
    try:
        from tableauhyperapi import Connection, CreateMode, HyperProcess, Inserter, TableDefinition, TableName, Telemetry
    except ImportError:
        raise RulectlError("--format hyper needs Tableau's Hyper API: pip install 'rulectl[tableau]' (or use --format parquet)") from None

    rows = flatten_lists(rows)
    definition = TableDefinition(
        TableName("Extract", "Extract"),
        [TableDefinition.Column(field.name, hyper_type(field.type)) for field in rows.schema],
    )
    # log_config "": hyperd writes no hyperd.log into the working directory
    parameters = {"log_config": "", "default_database_version": hyper_database_version(rows)}
    with HyperProcess(telemetry=Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters=parameters) as hyper:
        with Connection(hyper.endpoint, str(path), CreateMode.CREATE_AND_REPLACE) as connection:
            connection.catalog.create_schema_if_not_exists("Extract")
            connection.catalog.create_table(definition)
            with Inserter(connection, definition) as inserter:
                inserter.add_rows(_row_tuples(rows))
                inserter.execute()


def _row_tuples(rows: pa.Table) -> list[tuple]:
    columns = [rows.column(i).to_pylist() for i in range(rows.num_columns)]
    return list(zip(*columns))


WRITERS: dict[str, Callable[[pa.Table, Path], None]] = {"parquet": write_parquet, "csv": write_csv, "hyper": write_hyper}
