"""One calendar in the deployed views: whoever reads them, in whatever session time zone, gets the
UTC date. The views' CURRENT_DATE / CURRENT_TIMESTAMP are compiled to their UTC forms, so a BI
user's session (Snowflake: the account's TIMEZONE; DuckDB: its own SET TimeZone) sees the segments
rulectl's UTC sessions and tasks see. Dates and timestamps enter prompt data blocks with an explicit
format, so input hashes do not follow DATE_OUTPUT_FORMAT.

Three shapes: the example (date metrics of its own), renamed and minimal (given a date metric here,
declared by the project, read back by its declared name)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from engine.compile.project import compile_project
from engine.compile.prompts import compile_prompt, rendered_inputs_query
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.loader import load_project
from engine.backends.registry import open_backend
from tests.conftest import REPO, run

# Kiritimati is UTC+14 and Honolulu UTC-10: their local dates always differ, by one day
ZONES = ("Pacific/Kiritimati", "Pacific/Honolulu")
DATE_METRIC = "  - name: days_counted\n    expr: DATEDIFF('day', '2020-01-01'::DATE, CURRENT_DATE)\n"
SHAPES = {"example": REPO, "renamed": REPO / "tests" / "projects" / "renamed", "minimal": REPO / "tests" / "projects" / "minimal"}


def _copy(shape: str, into: Path) -> Path:
    source = SHAPES[shape]
    root = into / shape
    root.mkdir()
    for part in ("rulectl.yml", "rules", "prompts", "data"):
        if (source / part).is_dir():
            shutil.copytree(source / part, root / part)
        elif (source / part).exists():
            shutil.copy(source / part, root / part)
    if shape != "example":  # a date-relative metric the project declares (derived: no source)
        rules = next(p for p in (root / "rules").glob("*.yml") if "metrics:" in p.read_text())
        text = rules.read_text()
        rules.write_text(text.replace("metrics:\n", "metrics:\n" + DATE_METRIC, 1))
    return root


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> dict[str, Path]:
    into = tmp_path_factory.mktemp("calendar")
    roots = {}
    for shape in SHAPES:
        root = _copy(shape, into)
        for command in (("load",), ("apply", "--yes")):
            result = run(*command, project=root)
            assert result.exit_code == 0, result.output
        roots[shape] = root
    return roots


def _read_in_zone(root: Path, zone: str, sql: str) -> tuple[str, list[tuple]]:
    """(the session's own CURRENT_DATE, rows of `sql`) in a DuckDB session set to `zone`."""
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        connection.execute(f"SET TimeZone = '{zone}'")
        (today,), = connection.execute("SELECT CAST(CURRENT_DATE AS VARCHAR)").fetchall()
        return today, sorted(connection.execute(sql).fetchall(), key=repr)
    finally:
        connection.close()


@pytest.mark.parametrize("shape", list(SHAPES))
def test_views_give_the_same_segments_in_any_reading_session_time_zone(applied, shape):
    root = applied[shape]
    loaded = load_project(root)
    segments = f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}"
    date_metrics = [m.item.name for m in loaded.metrics if "CURRENT_DATE" in m.item.expr.upper()]
    assert date_metrics, "each shape reads a date-relative metric"
    (today_east, rows_east), (today_west, rows_west) = (_read_in_zone(root, zone, f"SELECT * FROM {segments}") for zone in ZONES)
    assert today_east != today_west  # the sessions' own calendars differ: the views must not follow them
    assert rows_east == rows_west and len(rows_east) > 0
    # and the date the views use is the UTC date rulectl's own session computes
    backend = open_backend(loaded)
    try:
        ours = sorted(backend.query(f"SELECT * FROM {segments}"), key=repr)
    finally:
        backend.close()
    assert [tuple(r) for r in ours] == rows_east


@pytest.mark.parametrize("shape", list(SHAPES))
def test_compiled_snowflake_views_name_no_session_dependent_date(shape):
    """Every CURRENT_DATE / CURRENT_TIMESTAMP in a Snowflake view sits inside CONVERT_TIMEZONE('UTC', …)."""
    loaded = load_project(SHAPES[shape])
    for obj in compile_project(loaded, None):
        if obj.kind != "view":
            continue
        statement = obj.statement
        assert not list(statement.find_all(exp.CurrentDate, exp.Localtimestamp)), obj.qualified_name
        for now in statement.find_all(exp.CurrentTimestamp):
            assert now.args.get("sysdate") or (isinstance(now.parent, exp.ConvertTimezone) and now.parent.args["target_tz"].name == "UTC"), obj.qualified_name


def test_dates_enter_prompt_data_blocks_with_an_explicit_format(applied, tmp_path):
    """A date column in a prompt: TO_CHAR(…, 'YYYY-MM-DD') in Snowflake (DATE_OUTPUT_FORMAT ignored),
    the same text on DuckDB, so both targets hash the same input."""
    root = applied["renamed"]
    loaded = load_project(root)
    located = loaded.prompts[0]
    date_column = next(c.lower() for c, t in loaded.config.sources[loaded.config.entity].columns.items() if t == "date")
    prompt = located.item.model_copy(update={"template": located.item.template + f"\nSince {{{date_column}}}, counted {{days_counted}}."})
    compiled = compile_prompt(loaded, dataclasses.replace(located, item=prompt))
    assert (date_column, "YYYY-MM-DD") in compiled.formats
    query = rendered_inputs_query(compiled)
    assert f"TO_CHAR(b.{date_column}, 'YYYY-MM-DD')" in query.sql(dialect="snowflake")
    backend = open_backend(loaded)
    try:
        rows = backend.query(exp.select(exp.column(compiled.key), exp.column("prompt_text")).from_(query.subquery("r")))
        expected = {str(k): str(v) for k, v in backend.query(f"SELECT {compiled.key}, {date_column} FROM {compiled.input_view}")}
    finally:
        backend.close()
    for key, text in rows:
        assert f"{date_column}: {expected[str(key)] if expected[str(key)] != 'None' else 'n/a'}\n" in text
