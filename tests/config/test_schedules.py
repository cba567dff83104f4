"""Schedules: one rule (Snowflake's cron subset and interval forms) for validate, the compiler and the
local scheduler; the strict double agrees on every case."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.ai.scheduler import next_run_after
from engine.compile.prompts import schedule_literal
from engine.config.schedules import check_schedule
from engine.core.errors import RulectlError
from tests.conftest import edit, run
from tests.doubles.snowflake_limits import schedule_refusal

UTC = timezone.utc

# (schedule, words of the message) — each outside Snowflake's subset although croniter takes it
REFUSED = [
    ("USING CRON 0 6 * * 7 UTC", "day of week `7` is outside 0-6 (Sunday is 0 or SUN)"),
    ("USING CRON 0 6 15W * * UTC", "day of month `15W` uses `W` (nearest weekday)"),
    ("USING CRON 0 6 * * 1#2 UTC", "day of week `1#2` uses `#`"),
    ("USING CRON 0 6 ? * MON UTC", "day of month `?` uses `?`"),
    ("USING CRON 0 24 * * * UTC", "hour `24` is outside 0-23"),
    ("USING CRON 0 6 0 * * UTC", "day of month `0` is outside 1-31"),
    ("USING CRON 0 6 * 13 * UTC", "month `13` is outside 1-12"),
]
ACCEPTED = ["USING CRON 0 6 * * * UTC", "USING CRON 0 6 L * * UTC", "USING CRON 0 6 * * 5L UTC", "USING CRON */15 0-23/2 1,15 4/3 MON-FRI America/Chicago", "5 MINUTES", "2 HOURS", "30 SECONDS"]


@pytest.mark.parametrize("schedule, words", REFUSED)
def test_out_of_subset_cron_is_refused_by_rulectl_the_compiler_and_the_double(schedule, words):
    assert words in (check_schedule(schedule) or "")
    with pytest.raises(RulectlError, match="schedule"):
        schedule_literal(schedule)  # the compiler's guard is the same rule (was a crash on `#`/`?`)
    assert schedule_refusal(schedule)


@pytest.mark.parametrize("schedule", ACCEPTED)
def test_documented_forms_are_taken_by_rulectl_and_the_double(schedule):
    assert check_schedule(schedule) is None and schedule_refusal(schedule) is None
    assert schedule_literal(schedule).this == schedule


def test_last_forms_run_locally_when_snowflake_would():
    # the last Friday of December 2026 is the 25th; the last day is the 31st
    assert next_run_after("USING CRON 0 6 * * 5L UTC", datetime(2026, 12, 5, tzinfo=UTC)) == datetime(2026, 12, 25, 6, tzinfo=UTC)
    assert next_run_after("USING CRON 0 6 L * * UTC", datetime(2026, 12, 5, tzinfo=UTC)) == datetime(2026, 12, 31, 6, tzinfo=UTC)


@pytest.mark.parametrize("schedule, words", REFUSED[:4])
def test_validate_names_the_file_line_and_field(project, schedule, words):
    edit(project / "prompts" / "account_summary.yml", "USING CRON 0 6 * * * UTC", schedule)
    result = run("validate", project=project)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "prompts/account_summary.yml:15: " in result.output and words in result.output, result.output
