from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from engine.ai.runner import LocalTask
from engine.ai.scheduler import due_tasks, next_run_after
from tests.conftest import run

UTC = timezone.utc


def test_cron_next_run_respects_the_time_zone():
    last = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert next_run_after("USING CRON 0 6 * * * UTC", last) == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    # 06:00 in Chicago (UTC-6 in November) is 12:00 UTC
    assert next_run_after("USING CRON 0 6 * * * America/Chicago", last) == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert next_run_after("60 MINUTE", last) == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    assert next_run_after("2 HOURS", last) == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert next_run_after("90 SECONDS", last) == datetime(2026, 11, 24, 12, 1, 30, tzinfo=UTC)


def test_due_tasks():
    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    never = LocalTask("AI", "A", "", "USING CRON 0 6 * * * UTC", "started", None)
    ran_yesterday = LocalTask("AI", "B", "", "USING CRON 0 6 * * * UTC", "started", datetime(2026, 11, 24, 6, 0))
    ran_today = LocalTask("AI", "C", "", "USING CRON 0 6 * * * UTC", "started", datetime(2026, 11, 25, 6, 30))
    suspended = LocalTask("AI", "D", "", "5 MINUTE", "suspended", None)
    assert [t.name for t in due_tasks([never, ran_yesterday, ran_today, suspended], now)] == ["A", "B"]


def test_scheduler_once_runs_due_tasks_then_nothing(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    first = run("scheduler", "--once", project=project)
    assert first.exit_code == 0 and "AI.REFRESH_ACCOUNT_SUMMARY" in first.output and "enriched" in first.output
    second = run("scheduler", "--once", project=project)
    assert second.exit_code == 0 and "no task is due" in second.output
