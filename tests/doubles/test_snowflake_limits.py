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
