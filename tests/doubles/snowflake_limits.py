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


# ---------------------------------------------------------------- view definitions
# https://docs.snowflake.com/en/sql-reference/sql/create-view: a view's definition is limited to 1 MB
# (issue 20 quotes the page; the wide insights view hit it at ~180 prompts when it inlined each
# prompt's query). The double counts the statement's UTF-8 bytes.
VIEW_DEFINITION_LIMIT = 1024 * 1024


def view_refusal(sql: str) -> str | None:
    """Snowflake's refusal of a CREATE VIEW whose definition passes 1 MB, or None."""
    size = len(sql.encode())
    if size <= VIEW_DEFINITION_LIMIT:
        return None
    return f"SQL compilation error: view definition is {size:,} bytes, over the 1 MB limit"


# ---------------------------------------------------------------- VECTOR outside SQL
# https://docs.snowflake.com/en/sql-reference/data-types-vector: "The VECTOR data type is only
# supported in SQL, the Python connector, and the Snowpark Python library. No other languages are
# supported." A task body that is a Snowflake Scripting block (EXECUTE IMMEDIATE of DECLARE/BEGIN …
# END) may not produce or store VECTOR values: AI_EMBED returns one, a VECTOR type names one.
_SCRIPTING = re.compile(r"^\s*EXECUTE IMMEDIATE\s+(\$\$|')\s*(DECLARE|BEGIN)\b", re.I)
_VECTOR_USE = re.compile(r"\bVECTOR\s*\(|\bAI_EMBED\s*\(|\bEMBED_TEXT_(768|1024)\s*\(", re.I)


def scripting_vector_refusal(body: str) -> str | None:
    """Snowflake's refusal of a Snowflake Scripting task body that handles VECTOR values, or None."""
    if _SCRIPTING.match(body) and _VECTOR_USE.search(body):
        return "SQL compilation error: the VECTOR data type is not supported in Snowflake Scripting"
    return None


# ---------------------------------------------------------------- TASK_HISTORY
# https://docs.snowflake.com/en/sql-reference/functions/task_history: RESULT_LIMIT 1 to 10,000
# (default 100), the most recent runs first.
TASK_HISTORY_LIMITS = (1, 10_000)
