"""Task schedules as Snowflake's CREATE TASK accepts them, shared by validation and the local scheduler.

https://docs.snowflake.com/en/sql-reference/sql/create-task (SCHEDULE):
  '<num> { HOURS | MINUTES | SECONDS }'  — a positive integer interval
  'USING CRON <expr> <time_zone>'        — five cron fields and an IANA time zone
Older versions of that page documented '<num> MINUTE' (singular), which Snowflake still accepts.
"""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

INTERVAL = re.compile(r"^\s*(\d+)\s+(MINUTE|MINUTES|HOURS|SECONDS)\s*$", re.IGNORECASE)
CRON = re.compile(r"^\s*USING\s+CRON\s+(.+?)\s+(\S+)\s*$", re.IGNORECASE)
# Snowflake caps interval schedules at 11520 minutes (8 days); the same span in other units.
MAX_INTERVAL = timedelta(minutes=11520)
_UNITS = {"MINUTE": "minutes", "MINUTES": "minutes", "HOURS": "hours", "SECONDS": "seconds"}


def interval_of(schedule: str) -> timedelta | None:
    """The interval of a '<num> MINUTES|HOURS|SECONDS' schedule, or None for anything else."""
    match = INTERVAL.match(schedule)
    if not match:
        return None
    return timedelta(**{_UNITS[match.group(2).upper()]: int(match.group(1))})


def cron_of(schedule: str) -> tuple[str, str] | None:
    """(cron expression, time zone) of a 'USING CRON …' schedule, or None."""
    match = CRON.match(schedule)
    return (match.group(1), match.group(2)) if match else None


def check_schedule(schedule: str) -> str | None:
    """None when `schedule` is a schedule CREATE TASK accepts, else the reason and the fix."""
    interval = interval_of(schedule)
    if interval is not None:
        if not interval or interval > MAX_INTERVAL:
            return f"`{schedule}` is out of range: Snowflake takes 1 second up to 11520 minutes (8 days); for longer, write `USING CRON …`"
        return None
    cron = cron_of(schedule)
    if cron is None:
        return (
            f"`{schedule}` is not a task schedule; write `<n> MINUTES`, `<n> HOURS`, `<n> SECONDS` "
            "or `USING CRON <minute> <hour> <day> <month> <weekday> <time zone>` (e.g. `USING CRON 0 6 * * * UTC`)"
        )
    expression, zone = cron
    whole = f"{expression} {zone}"
    if len(whole.split()) == 5 and croniter.is_valid(whole):  # Snowflake needs the zone after the five fields
        return f"`USING CRON {whole}` needs a time zone after the five cron fields; write `USING CRON {whole} UTC` (or e.g. America/Chicago)"
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        return f"`{expression}` is not a valid cron expression (five fields: minute hour day-of-month month day-of-week)"
    try:
        ZoneInfo(zone)
    except Exception:
        return f"`{zone}` is not a time zone; use e.g. UTC or America/Chicago"
    return None
