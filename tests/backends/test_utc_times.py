"""Times are UTC with explicit types on both targets, whatever the session's time zone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from engine.backends.duckdb import render_duckdb
from engine.backends.duckdb_fixes import FixContext
from engine.backends.snowflake import SnowflakeBackend
from engine.config.loader import load_project
from engine.core.expressions import utc_now
from tests.conftest import run
from tests.doubles.recording import RecordingConnection


def test_utc_now_on_duckdb_ignores_the_session_time_zone():
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'America/Los_Angeles'")
    stored = connection.execute(render_duckdb(exp.select(utc_now()), FixContext())).fetchone()[0]
    assert stored.tzinfo is None
    assert abs((stored - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds()) < 60


# sqlglot writes TIMESTAMP_NTZ as its documented synonym TIMESTAMPNTZ
# (https://docs.snowflake.com/en/sql-reference/data-types-datetime#timestamp-ltz-timestamp-ntz-timestamp-tz)
def test_utc_now_on_snowflake_is_converted_and_typed():
    assert utc_now().sql("snowflake") == "CAST(CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP()) AS TIMESTAMPNTZ)"


@pytest.mark.snowflake
def test_state_tables_and_output_tables_use_explicit_ntz_types(project: Path, monkeypatch):
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(load_project(project).config.sources)
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, **options: cls(connection, "CUSTOMER_INTEL")))
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    ddl = [s for s in connection.statements if s.startswith("CREATE TABLE")]
    assert ddl and all(" TIMESTAMP," not in s and " TIMESTAMP)" not in s for s in ddl)
    assert any("RUN_LOG" in s and "started_at TIMESTAMPNTZ" in s for s in ddl)
    inserts = [s for s in connection.statements if s.startswith("INSERT INTO _RULECTL.HISTORY")]
    # rulectl's own timestamps carry their format: TIMESTAMP_INPUT_FORMAT of the account plays no part
    assert inserts and all(re.match(r"INSERT INTO _RULECTL\.HISTORY VALUES \(TO_TIMESTAMP_NTZ\('\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}', 'YYYY-MM-DD HH24:MI:SS\.FF6'\), ", s) for s in inserts)
    assert not [s for s in connection.statements if re.search(r"CAST\('\d{4}-\d\d-\d\d \d", s)]  # no timestamp text left to the session's format
    assert any("MERGE INTO _RULECTL.OBJECTS" in s and ", 'YYYY-MM-DD HH24:MI:SS.FF6') AS applied_at" in s for s in connection.statements)
    merge = next(s for s in connection.statements if s.startswith("CREATE TASK"))
    assert "generated_at = CAST(CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP()) AS TIMESTAMPNTZ)" in merge


MOMENT = datetime(2026, 11, 24, 21, 50, 10, 316591, tzinfo=timezone.utc)


def test_snowflake_timestamps_are_parsed_with_an_explicit_format():
    # https://docs.snowflake.com/en/sql-reference/functions/to_timestamp : a CAST would follow the
    # account's TIMESTAMP_INPUT_FORMAT; six fractional digits even on a whole second, to match FF6
    backend = SnowflakeBackend(None, "DB")
    assert backend.to_sql(backend.timestamp_literal(MOMENT)) == "TO_TIMESTAMP_NTZ('2026-11-24 21:50:10.316591', 'YYYY-MM-DD HH24:MI:SS.FF6')"
    whole = MOMENT.replace(microsecond=0).astimezone(timezone(timedelta(hours=-8)))  # any aware time is written in UTC
    assert backend.to_sql(backend.timestamp_literal(whole)) == "TO_TIMESTAMP_NTZ('2026-11-24 21:50:10.000000', 'YYYY-MM-DD HH24:MI:SS.FF6')"


def test_duckdb_keeps_its_cast_and_reads_the_exact_time(tmp_path: Path):
    from engine.backends.duckdb import DuckDBBackend

    backend = DuckDBBackend(tmp_path / "t.duckdb")
    literal = backend.timestamp_literal(MOMENT)
    assert backend.to_sql(literal) == "CAST('2026-11-24 21:50:10.316591' AS TIMESTAMP)"
    assert backend.query(exp.select(literal)) == [(MOMENT.replace(tzinfo=None),)]


def test_the_snowflake_format_means_the_same_instant():
    """The Snowflake text, read through sqlglot's own TO_TIMESTAMP_NTZ format mapping on DuckDB (what the
    recording double does), is the very microsecond written."""
    backend = SnowflakeBackend(None, "DB")
    sql = backend.to_sql(exp.select(backend.timestamp_literal(MOMENT)))
    from sqlglot import parse_one

    assert duckdb.connect().execute(render_duckdb(parse_one(sql, read="snowflake"), FixContext())).fetchone()[0] == MOMENT.replace(tzinfo=None)
