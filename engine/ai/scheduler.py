"""A small local scheduler: runs started tasks whose schedule says they are due.

Snowflake schedules tasks itself; on the local target `rulectl scheduler` does it: a task is due
when it never ran, or when its schedule's next time after the last run has passed.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

from engine.ai.runner import LocalTask

EVERY = re.compile(r"^\s*(\d+)\s+(MINUTE|MINUTES|HOUR|HOURS)\s*$", re.IGNORECASE)
CRON = re.compile(r"^\s*USING\s+CRON\s+(.+?)\s+(\S+)\s*$", re.IGNORECASE)


def next_run_after(schedule: str, last: datetime) -> datetime:
    """When a task with `schedule` that last ran at `last` (UTC) is next due, in UTC."""
    every = EVERY.match(schedule)
    if every:
        amount = int(every.group(1))
        return last + (timedelta(hours=amount) if every.group(2).upper().startswith("HOUR") else timedelta(minutes=amount))
    cron = CRON.match(schedule)
    if not cron:
        raise ValueError(f"unsupported schedule {schedule!r}")
    zone = ZoneInfo(cron.group(2))
    local_last = last.astimezone(zone)
    return croniter(cron.group(1), local_last).get_next(datetime).astimezone(timezone.utc)


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
