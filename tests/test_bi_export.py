"""`rulectl export`: the files read back (pyarrow for Parquet and CSV, tableauhyperapi for Hyper) hold
the same rows with the same column types as the view they were exported from — on the example
project (the wide insights view, with AI output), the renamed project (two prompts in one table)
and the minimal one (no prompts: the segments view)."""

from __future__ import annotations

import datetime
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from engine.backends.duckdb import DuckDBBackend
from engine.backends.snowflake import SnowflakeBackend
from engine.features.bi_export import export_insights, export_view, flatten_lists, hyper_database_version, hyper_type, read_export_rows
from engine.config.loader import load_project
from tests.conftest import run
from tests.doubles.recording import RecordingConnection

SHAPES = Path(__file__).resolve().parent / "projects"


def applied(root: Path, with_ai: bool = True) -> Path:
    for command in ("load", "apply", "run") if with_ai else ("load", "apply"):
        result = run(command, *(["--yes"] if command == "apply" else []), project=root)
        assert result.exit_code == 0, result.output
    return root


def view_rows(root: Path) -> pa.Table:
    loaded = load_project(root)
    backend = DuckDBBackend.from_target(loaded, "local", read_only=True)
    try:
        return read_export_rows(loaded, backend)
    finally:
        backend.close()


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """The example project, loaded, applied and enriched once for every test here (read only)."""
    from tests.conftest import PROJECT_PARTS, REPO

    root = tmp_path_factory.mktemp("export") / "project"
    root.mkdir()
    for part in PROJECT_PARTS:
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / part)
    return applied(root)


def test_parquet_has_the_views_rows_and_types(example: Path, tmp_path: Path):
    result = run("export", "--format", "parquet", "--out", str(tmp_path), project=example)
    assert result.exit_code == 0, result.output
    view = view_rows(example)
    assert f"wrote {view.num_rows:,} rows × {view.num_columns} columns of AI.CUSTOMER_INSIGHTS" in result.output
    written = pq.read_table(tmp_path / "customer_insights.parquet")
    assert written.schema.equals(view.schema)
    assert written.equals(view)
    # the AI fields and typed metrics are there, not text
    assert view.schema.field("account_summary_generated_at").type == pa.timestamp("us")
    assert view.schema.field("account_summary_stale").type == pa.bool_()
    assert pa.types.is_decimal(view.schema.field("total_arr").type)
    assert pa.types.is_list(view.schema.field("opportunities").type)
    assert "account_tier_action" in view.schema.names  # each first-match rule's action travels too
    assert written.column("account_summary_response").null_count == 0  # every customer was enriched


def test_csv_reads_back_with_the_views_types(example: Path, tmp_path: Path):
    assert run("export", "-f", "csv", "-o", str(tmp_path), project=example).exit_code == 0
    expected = flatten_lists(view_rows(example))  # lists (match: all) as JSON arrays
    written = pacsv.read_csv(
        tmp_path / "customer_insights.csv",
        convert_options=pacsv.ConvertOptions(column_types=expected.schema, strings_can_be_null=True),
    )
    assert written.column_names == expected.column_names
    assert written.to_pylist() == expected.to_pylist()
    labels = [json.loads(v) for v in written.column("opportunities").to_pylist()]
    assert all(isinstance(v, list) for v in labels)


def hyper_contents(path: Path) -> tuple[list[tuple[str, str]], list[list]]:
    from tableauhyperapi import Connection, HyperProcess, TableName, Telemetry

    with HyperProcess(telemetry=Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}) as hyper:
        with Connection(hyper.endpoint, str(path)) as connection:
            name = TableName("Extract", "Extract")
            definition = connection.catalog.get_table_definition(name)
            columns = [(c.name.unescaped, str(c.type)) for c in definition.columns]
            rows = connection.execute_list_query(f"SELECT * FROM {name}")
    return columns, [[_python(value) for value in row] for row in rows]


def _python(value):
    """Hyper's Date/Timestamp values as Python's, to compare with Arrow's."""
    if hasattr(value, "to_datetime"):
        return value.to_datetime()
    if hasattr(value, "to_date"):
        return value.to_date()
    return value


def test_hyper_extract_has_the_views_rows_and_types(example: Path, tmp_path: Path):
    assert run("export", "--format", "hyper", "--out", str(tmp_path), project=example).exit_code == 0
    expected = flatten_lists(view_rows(example))
    columns, rows = hyper_contents(tmp_path / "customer_insights.hyper")
    assert columns == [(field.name, str(hyper_type(field.type))) for field in expected.schema]
    types = dict(columns)
    assert types["total_arr"] == "NUMERIC(38, 2)" and types["account_summary_stale"] == "BOOL"
    assert types["account_summary_generated_at"] == "TIMESTAMP" and types["opportunities"] == "TEXT"
    assert rows == [list(row.values()) for row in expected.to_pylist()]
    assert any(isinstance(row[columns.index(("total_arr", "NUMERIC(38, 2)"))], Decimal) for row in rows)


def test_hyper_file_version_is_the_oldest_that_holds_the_types():
    narrow = pa.table({"a": pa.array([Decimal("1.50")], pa.decimal128(12, 2))})
    wide = pa.table({"a": pa.array([Decimal("1.50")], pa.decimal128(38, 2))})
    assert hyper_database_version(narrow) == "2" and hyper_database_version(wide) == "3"


def test_dates_and_integers_keep_their_hyper_types(tmp_path: Path):
    from engine.features.bi_export import write_hyper

    rows = pa.table({
        "k": pa.array([1, 2], pa.int64()),
        "since": pa.array([datetime.date(2020, 1, 2), None], pa.date32()),
        "share": pa.array([0.5, None], pa.float64()),
        "labels": pa.array([["a", "b"], []], pa.list_(pa.string())),
    })
    write_hyper(rows, tmp_path / "t.hyper")
    columns, back = hyper_contents(tmp_path / "t.hyper")
    assert columns == [("k", "BIG_INT"), ("since", "DATE"), ("share", "DOUBLE"), ("labels", "TEXT")]
    assert back == [[1, datetime.date(2020, 1, 2), 0.5, '["a", "b"]'], [2, None, None, "[]"]]


def test_renamed_project_exports_both_prompts(tmp_path: Path):
    root = tmp_path / "renamed"
    shutil.copytree(SHAPES / "renamed", root, ignore=shutil.ignore_patterns(".rulectl"))
    applied(root)
    result = run("export", "-o", str(tmp_path / "out"), project=root)
    assert result.exit_code == 0, result.output
    written = pq.read_table(tmp_path / "out" / "customer_insights.parquet")
    assert written.equals(view_rows(root))
    assert written.column("account_id").to_pylist() == ["A1", "A2", "A3", "A4", "A5"]
    assert {"account_summary_response", "recommended_action_response", "value_band", "signals"} <= set(written.column_names)
    # every metric and customer column, not only the display columns (was: display columns only)
    import duckdb

    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        expected = connection.execute("SELECT account_id, signed_on, module_total, worst_severity FROM REPORTING.CUSTOMER_SEGMENTS ORDER BY account_id").fetchall()
    finally:
        connection.close()
    assert list(zip(*(written.column(c).to_pylist() for c in ("account_id", "signed_on", "module_total", "worst_severity")))) == expected
    assert len(written.column_names) == len(set(written.column_names))


def test_project_without_prompts_exports_its_segments(tmp_path: Path):
    root = tmp_path / "minimal"
    shutil.copytree(SHAPES / "minimal", root, ignore=shutil.ignore_patterns(".rulectl"))
    applied(root, with_ai=False)
    result = run("export", "-f", "hyper", "-o", str(tmp_path / "out"), project=root)
    assert result.exit_code == 0, result.output
    assert "of ANALYTICS.CUSTOMER_SEGMENTS" in result.output
    columns, rows = hyper_contents(tmp_path / "out" / "customer_segments.hyper")
    assert columns[0] == ("member_id", "INT")
    assert [(row[0], row[-1]) for row in rows] == [(1, "Regular"), (2, "Occasional"), (3, "Regular"), (4, "Occasional")]


def test_export_before_apply_says_what_to_do(project: Path, tmp_path: Path):
    result = run("export", "-o", str(tmp_path / "out"), project=project)
    assert result.exit_code == 1
    assert "view AI.CUSTOMER_INSIGHTS does not exist on this target yet; run `rulectl apply`" in result.output
    assert "Traceback" not in result.output


def test_unknown_format_is_refused(project: Path, tmp_path: Path):
    result = run("export", "--format", "xlsx", "-o", str(tmp_path / "out"), project=project)
    assert result.exit_code == 1
    assert "unknown export format `xlsx`; use one of: parquet, csv, hyper" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.snowflake
def test_snowflake_export_reads_the_view_as_arrow(tmp_path: Path):
    """On Snowflake the rows come from the connector's Arrow result (names lower-cased) in one query."""
    loaded = load_project(SHAPES / "minimal")
    connection = RecordingConnection()
    connection.duck.execute("CREATE SCHEMA ANALYTICS")
    connection.duck.execute("CREATE TABLE ANALYTICS.CUSTOMER_SEGMENTS AS SELECT 2 AS MEMBER_ID, 'Occasional' AS ACTIVITY UNION ALL SELECT 1, 'Regular'")
    backend = SnowflakeBackend(connection, "CUSTOMER_INTEL")
    result = export_insights(loaded, backend, "parquet", tmp_path)
    assert connection.statements == ["SELECT * FROM ANALYTICS.CUSTOMER_SEGMENTS ORDER BY member_id"]
    assert export_view(loaded) == "ANALYTICS.CUSTOMER_SEGMENTS" and result.rows == 2
    assert pq.read_table(result.path).to_pylist() == [{"member_id": 1, "activity": "Regular"}, {"member_id": 2, "activity": "Occasional"}]
