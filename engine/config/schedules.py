"""Task schedules as Snowflake's CREATE TASK accepts them: one rule shared by validation, the compiler
and the local scheduler.

https://docs.snowflake.com/en/sql-reference/sql/create-task (SCHEDULE):
  '<num> { HOURS | MINUTES | SECONDS }'  — a positive integer interval
  'USING CRON <expr> <time_zone>'        — five cron fields and an IANA time zone
Older versions of that page documented '<num> MINUTE' (singular), which Snowflake still accepts.

The cron expression is "a subset of standard cron utility syntax"
(https://docs.snowflake.com/en/developer-guide/snowflake-python-api/reference/latest/_autosummary/snowflake.core.task.Cron):
"minute (0-59) | hour (0-23) | day of month (1-31, or L) | month (1-12, JAN-DEC) | day of week (0-6,
SUN-SAT, or L)", and "The following special characters are supported: * Wildcard … L Stands for
“last” … /n Indicates the nth instance of a given unit of time". Quartz extensions that croniter also
takes (`?`, `W`, `#`, 7 for Sunday) are refused here, before Snowflake refuses them at apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

INTERVAL = re.compile(r"^\s*(\d+)\s+(MINUTE|MINUTES|HOURS|SECONDS)\s*$", re.IGNORECASE)
CRON = re.compile(r"^\s*USING\s+CRON\s+(.+?)\s+(\S+)\s*$", re.IGNORECASE)
# Snowflake caps interval schedules at 11520 minutes (8 days); the same span in other units.
MAX_INTERVAL = timedelta(minutes=11520)
_UNITS = {"MINUTE": "minutes", "MINUTES": "minutes", "HOURS": "hours", "SECONDS": "seconds"}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# what standard-cron habits mean in Snowflake's subset, for the message
_NOT_IN_SUBSET = {
    "?": "`?` (no specific value), which Snowflake does not have (write `*`)",
    "#": "`#` (the nth weekday of the month), which Snowflake does not have",
}
_NEAREST_WEEKDAY = re.compile(r"^(\d+|L)W$", re.IGNORECASE)  # 15W, LW: Quartz's nearest weekday


@dataclass(frozen=True)
class CronField:
    """One of the five fields of Snowflake's cron subset."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # JAN-DEC or SUN-SAT, numbered from `low`
    last: bool = False  # takes L ("last")

    def spelled(self) -> str:
        forms = [f"{self.low}-{self.high}"] + ([f"{self.names[0]}-{self.names[-1]}"] if self.names else []) + (["L"] if self.last else [])
        return ", ".join(forms[:-1]) + " or " + forms[-1] if len(forms) > 1 else forms[0]


CRON_FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day of month", 1, 31, last=True),
    CronField("month", 1, 12, _MONTHS),
    CronField("day of week", 0, 6, _WEEKDAYS, last=True),
)


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
    fields = expression.split()
    if len(fields) == 4 and check_cron(f"{expression} {zone}") is None:  # Snowflake needs the zone after the five fields
        whole = f"{expression} {zone}"
        return f"`USING CRON {whole}` needs a time zone after the five cron fields; write `USING CRON {whole} UTC` (or e.g. America/Chicago)"
    problem = check_cron(expression)
    if problem:
        return problem
    try:
        ZoneInfo(zone)
    except Exception:
        return f"`{zone}` is not a time zone; use e.g. UTC or America/Chicago"
    return None


def check_cron(expression: str) -> str | None:
    """None when `expression` is in Snowflake's cron subset, else which field is wrong and why."""
    fields = expression.split()
    if len(fields) != 5:
        return f"`{expression}` is not a cron expression Snowflake takes: it needs five fields (minute hour day-of-month month day-of-week), not {len(fields)}"
    for field, text in zip(CRON_FIELDS, fields):
        problem = _field_problem(field, text)
        if problem:
            return f"`{expression}`: {field.name} {problem}; Snowflake's cron takes {field.spelled()} there (with `*`, `,`, `-` and `/n`)"
    return None


def _field_problem(field: CronField, text: str) -> str | None:
    for mark, meaning in _NOT_IN_SUBSET.items():
        if mark in text:
            return f"`{text}` uses {meaning}"
    for item in text.split(","):
        problem = _item_problem(field, item)
        if problem:
            return problem
    return None


def _item_problem(field: CronField, item: str) -> str | None:
    base, _, step = item.partition("/")
    if step and not (step.isdigit() and int(step) >= 1):
        return f"`{item}` has step `/{step}`, which is not a positive whole number"
    if base == "*" or (field.last and base.upper() == "L"):
        return None
    if field.last and field.names and len(base) > 1 and base.upper().endswith("L"):  # 5L: the last Friday of the month
        return _value_problem(field, base[:-1])
    low, dash, high = base.partition("-")
    return _value_problem(field, low) or (_value_problem(field, high) if dash else None)


def _value_problem(field: CronField, value: str) -> str | None:
    if value.upper() in field.names:
        return None
    if _NEAREST_WEEKDAY.match(value):
        return f"`{value}` uses `W` (nearest weekday), which Snowflake does not have"
    if not value.isdigit():
        return f"`{value}` is not a value"
    if not field.low <= int(value) <= field.high:
        hint = " (Sunday is 0 or SUN)" if field.names == _WEEKDAYS and int(value) == 7 else ""
        return f"`{value}` is outside {field.low}-{field.high}{hint}"
    return None


def croniter_expression(expression: str) -> str:
    """The same schedule as croniter spells it (the local scheduler): Snowflake's `5L` (last Friday)
    is croniter's `L5`, and a bare `L` in day of week is the last day of the week, Saturday (6)."""
    fields = expression.split()
    weekday = ",".join(_croniter_weekday(item) for item in fields[4].split(","))
    return " ".join(fields[:4] + [weekday])


def _croniter_weekday(item: str) -> str:
    if item.upper() == "L":
        return "6"
    if len(item) > 1 and item.upper().endswith("L"):
        return f"L{item[:-1]}"
    return item
