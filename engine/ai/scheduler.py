"""A small local scheduler: runs started tasks whose schedule says they are due.

Snowflake schedules tasks itself; on the local target `rulectl scheduler` does it: a task is due
when it never ran, or when its schedule's next time after the last run has passed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

from engine.ai.runner import LocalTask, deployed_tasks, run_local_tasks
from engine.config.schedules import cron_of, croniter_expression, interval_of


def next_run_after(schedule: str, last: datetime) -> datetime:
    """When a task with `schedule` that last ran at `last` (UTC) is next due, in UTC."""
    interval = interval_of(schedule)
    if interval is not None:
        return last + interval
    cron = cron_of(schedule)
    if cron is None:
        raise ValueError(f"unsupported schedule {schedule!r}")
    expression, zone = cron
    local_last = last.astimezone(ZoneInfo(zone))
    return croniter(croniter_expression(expression), local_last).get_next(datetime).astimezone(timezone.utc)


def due_tasks(tasks: list[LocalTask], now: datetime) -> list[LocalTask]:
    due = []
    for task in tasks:
        if task.state != "started":
            continue
        if task.last_run_at is None:
            due.append(task)
            continue
        last = task.last_run_at if task.last_run_at.tzinfo else task.last_run_at.replace(tzinfo=timezone.utc)
        if next_run_after(task.schedule, last) <= now:
            due.append(task)
    return due


def run_due_local_refreshes(backend, loaded, target, now: datetime) -> list:
    """One scheduler tick on a local target: run every started task whose schedule is due."""
    return run_local_tasks(backend, loaded, target, due_tasks(deployed_tasks(backend), now))
