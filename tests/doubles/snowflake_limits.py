"""Snowflake's documented limits and refusals that the recording double enforces.

Each rule sits beside the page that states it (checked against the current docs, Dec 2026) and has a
refusal test in tests/doubles/test_snowflake_limits.py. Written independently of rulectl's own checks:
a double that reused engine code would agree with rulectl's mistakes.
"""

from __future__ import annotations

import re

# ---------------------------------------------------------------- cron subset
# https://docs.snowflake.com/en/sql-reference/sql/create-task (SCHEDULE) and
# https://docs.snowflake.com/en/developer-guide/snowflake-python-api/reference/latest/_autosummary/snowflake.core.task.Cron:
# "Supports a subset of standard cron utility syntax" — "day of month (1-31, or L)", "month (1-12,
# JAN-DEC)", "day of week (0-6, SUN-SAT, or L)"; "The following special characters are supported:
# * … L … /n". No `?`, `W` or `#`; 7 is not a day of the week.
_NUMBER = r"(?:\d{1,2})"
_MONTH = r"(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|\d{1,2})"
_WEEKDAY = r"(?:SUN|MON|TUE|WED|THU|FRI|SAT|[0-6])"


def _field(value: str, last: str = "") -> re.Pattern[str]:
    item = rf"(?:\*|{value}(?:-{value})?{last})(?:/\d+)?"
    return re.compile(rf"^{item}(?:,{item})*$", re.IGNORECASE)


CRON_FIELDS = (
    (_field(_NUMBER), 0, 59),
    (_field(_NUMBER), 0, 23),
    (re.compile(r"^(?:L|(?:\*|\d{1,2}(?:-\d{1,2})?)(?:/\d+)?)(?:,(?:L|(?:\*|\d{1,2}(?:-\d{1,2})?)(?:/\d+)?))*$"), 1, 31),
    (_field(_MONTH), 1, 12),
    (re.compile(rf"^(?:L|{_WEEKDAY}L|(?:\*|{_WEEKDAY}(?:-{_WEEKDAY})?)(?:/\d+)?)(?:,(?:L|{_WEEKDAY}L|(?:\*|{_WEEKDAY}(?:-{_WEEKDAY})?)(?:/\d+)?))*$", re.IGNORECASE), 0, 6),
)
CRON_SCHEDULE = re.compile(r"^USING CRON (?P<expr>(?:\S+ ){5})(?P<zone>\S+)$")
INTERVAL_SCHEDULE = re.compile(r"^\d+ (?:MINUTE|MINUTES|HOURS|SECONDS)$")


def schedule_refusal(schedule: str) -> str | None:
    """Snowflake's error for a SCHEDULE outside its documented forms, or None when it takes it."""
    if INTERVAL_SCHEDULE.match(schedule):
        return None
    match = CRON_SCHEDULE.match(schedule)
    fields = match["expr"].split() if match else []
    ok = bool(match) and all(pattern.match(text) and _numbers_within(text, low, high) for (pattern, low, high), text in zip(CRON_FIELDS, fields))
    # the double's wording; the refusal itself is what the pages above document
    return None if ok else f"SQL compilation error: invalid value [{schedule}] for parameter 'SCHEDULE'"


def _numbers_within(text: str, low: int, high: int) -> bool:
    values = [int(n) for n in re.findall(r"(?<![/\d])\d+", text)]  # steps (/n) are not values
    return all(low <= v <= high for v in values)


# ---------------------------------------------------------------- SHOW's row cap
# https://docs.snowflake.com/en/sql-reference/sql/show-columns (usage notes): "Any records above the
# ten thousand records limit aren't returned, even with a filter applied" — silently, no error.
SHOW_ROW_LIMIT = 10_000


def show_rows(rows: list[tuple]) -> list[tuple]:
    """What SHOW COLUMNS returns of `rows`: the first 10,000, the rest dropped without a word."""
    return rows[:SHOW_ROW_LIMIT]
