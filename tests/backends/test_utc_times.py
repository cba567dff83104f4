"""Times are UTC with explicit types on both targets, whatever the session's time zone."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from engine.backends.duckdb import render_duckdb
from engine.backends.duckdb_fixes import FixContext
from engine.backends.snowflake import SnowflakeBackend
from engine.config.loader import load_project
from engine.expressions import utc_now
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
    assert inserts and all("AS TIMESTAMPNTZ)" in s for s in inserts)
    merge = next(s for s in connection.statements if s.startswith("CREATE TASK"))
    assert "generated_at = CAST(CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP()) AS TIMESTAMPNTZ)" in merge
