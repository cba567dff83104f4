"""The strict double refuses what Snowflake's documentation says Snowflake refuses (one test per rule)."""

from __future__ import annotations

import pytest

from tests.doubles.recording import RecordingConnection

TASK = "CREATE TASK AI.T WAREHOUSE=W SCHEDULE='{schedule}' COMMENT='c' AS SELECT 1"


@pytest.mark.parametrize("schedule", ["USING CRON 0 6 * * 7 UTC", "USING CRON 0 6 15W * * UTC", "USING CRON 0 6 * * 1#2 UTC", "USING CRON 0 6 ? * MON UTC", "USING CRON 0 24 * * * UTC", "1 HOUR"])
def test_double_refuses_a_schedule_outside_snowflakes_cron_subset(schedule):
    connection = RecordingConnection()
    with pytest.raises(RuntimeError, match="SCHEDULE"):
        connection.cursor().execute(TASK.format(schedule=schedule))
    assert "AI.T" not in connection.catalog.tasks


@pytest.mark.parametrize("schedule", ["USING CRON 0 6 * * * UTC", "USING CRON 0 6 L * 5L UTC", "USING CRON */15 0-23/2 1,15 4/3 MON-FRI America/Chicago", "5 MINUTES", "2 HOURS"])
def test_double_takes_the_documented_forms(schedule):
    connection = RecordingConnection()
    connection.cursor().execute(TASK.format(schedule=schedule))
    assert connection.catalog.tasks["AI.T"]["schedule"] == schedule


def test_double_refuses_a_view_definition_over_1_mb():
    # https://docs.snowflake.com/en/sql-reference/sql/create-view (1 MB view definition)
    connection = RecordingConnection()
    connection.cursor().execute("CREATE SCHEMA AI")
    padding = "'" + "x" * (1024 * 1024) + "'"
    with pytest.raises(RuntimeError, match="over the 1 MB limit"):
        connection.cursor().execute(f"CREATE VIEW AI.W AS SELECT {padding} AS x")
    assert "AI.W" not in connection.catalog.views
    connection.cursor().execute("CREATE VIEW AI.W AS SELECT 1 AS x")
    assert "AI.W" in connection.catalog.views


EMBED_MERGE = "MERGE INTO AI.E AS e USING (SELECT 'k' AS k, AI_EMBED('m', 't') AS v) AS x ON e.k = x.k WHEN NOT MATCHED THEN INSERT (k, v) VALUES (x.k, x.v)"


def test_double_refuses_vector_inside_a_snowflake_scripting_task_body():
    # https://docs.snowflake.com/en/sql-reference/data-types-vector ("only supported in SQL, the Python
    # connector, and the Snowpark Python library")
    connection = RecordingConnection()
    scripted = "EXECUTE IMMEDIATE $$\nDECLARE\n  n NUMBER DEFAULT 0;\nBEGIN\n  " + EMBED_MERGE + ";\nEND;\n$$"
    with pytest.raises(RuntimeError, match="VECTOR data type is not supported in Snowflake Scripting"):
        connection.cursor().execute(TASK.format(schedule="5 MINUTES").replace("AS SELECT 1", "AS " + scripted))
    assert "AI.T" not in connection.catalog.tasks
    connection.cursor().execute(TASK.format(schedule="5 MINUTES").replace("AS SELECT 1", "AS " + EMBED_MERGE))  # plain SQL: taken
    assert connection.catalog.tasks["AI.T"]["definition"] == EMBED_MERGE


@pytest.mark.parametrize("limit", [0, 10_001])
def test_double_refuses_a_task_history_result_limit_outside_1_to_10000(limit):
    # https://docs.snowflake.com/en/sql-reference/functions/task_history (RESULT_LIMIT: 1 to 10000)
    connection = RecordingConnection()
    with pytest.raises(RuntimeError, match="RESULT_LIMIT"):
        connection.cursor().execute(f"SELECT NAME FROM TABLE(CUSTOMER_INTEL.INFORMATION_SCHEMA.TASK_HISTORY(RESULT_LIMIT => {limit}))")
