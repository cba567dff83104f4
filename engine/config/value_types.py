"""What a value of a declared column type looks like, and how to write one an analyst got wrong.

Used where analysts type values by hand: rule tests' `given:` rows (checked at validate) and sample
CSVs (a load that the engine refused, explained with the column, the value and the fix).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlglot import exp

from engine.config.expression_types import BOOLEAN, DATE, NUMBER, TIMESTAMP, calendar_problem, declared_category
from engine.core.expressions import DIALECT

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_DECIMAL = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_ISO_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")
_ISO_TIMESTAMP = re.compile(r"\s*\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*")
# The quick test of a CSV's dates and times: months 01-12, days 01-31, hours 00-23 (2025-13-45 goes
# to value_problem, which says why; the rare 2025-02-30 is caught by the load's TRY_CAST scan).
_QUICK_DATE = re.compile(r"\s*\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\s*")
_QUICK_TIMESTAMP = re.compile(r"\s*\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])([ T]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?)?\s*")
_BOOLEAN_WORDS = frozenset({"true", "false", "t", "f", "yes", "no", "y", "n", "1", "0", "on", "off"})
_BOOLEAN = re.compile(r"\s*(" + "|".join(sorted(_BOOLEAN_WORDS)) + r")\s*", re.IGNORECASE)


def is_whole_number_type(type_text: str) -> bool:
    """INTEGER, NUMBER, NUMBER(p) and NUMBER(p, 0): a fraction would be rounded or refused."""
    try:
        data_type = exp.DataType.build(type_text, dialect=DIALECT)
    except Exception:
        return False
    if data_type.is_type(*exp.DataType.INTEGER_TYPES):
        return True
    if data_type.is_type(exp.DataType.Type.DECIMAL):
        scale = data_type.expressions[1] if len(data_type.expressions) > 1 else None
        return scale is None or scale.name in ("", "0")
    return False


def quick_pattern(type_text: str) -> re.Pattern[str] | None:
    """A pattern every value the column certainly accepts matches (None for text, which takes
    anything): checking a large CSV runs this, and value_problem only on a value that fails it."""
    kind = declared_category(type_text)
    if kind == NUMBER:
        return _INTEGER if is_whole_number_type(type_text) else _DECIMAL
    return {DATE: _QUICK_DATE, TIMESTAMP: _QUICK_TIMESTAMP, BOOLEAN: _BOOLEAN}.get(kind)


def type_words(type_text: str) -> str:
    """The kind of value a column holds, in words."""
    kind = declared_category(type_text)
    if kind == NUMBER:
        return "a whole number" if is_whole_number_type(type_text) else "a number"
    return {DATE: "a date", TIMESTAMP: "a date and time", BOOLEAN: "true or false"}.get(kind, "text")


def value_problem(value: object, type_text: str) -> str | None:
    """Why `value` cannot go into a column declared `type_text`, with the fix; None when it can.

    Conservative: only what the engine would certainly refuse (text in a number column, a date not
    written YYYY-MM-DD); anything it might accept is left to it."""
    if value is None or isinstance(value, bool) and declared_category(type_text) == BOOLEAN:
        return None
    kind = declared_category(type_text)
    text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
    if kind == NUMBER:
        if isinstance(value, bool) or isinstance(value, (date, datetime)):
            return f"`{text}` is not {type_words(type_text)}; {number_fix(text, type_text)}"
        if isinstance(value, (int, float)) or _DECIMAL.fullmatch(text) and (not is_whole_number_type(type_text) or _INTEGER.fullmatch(text)):
            return None
        return f"`{text}` is not {type_words(type_text)}; {number_fix(text, type_text)}"
    if kind == DATE and not isinstance(value, date) and not _ISO_DATE.fullmatch(text):
        return f"`{text}` is not a date; {date_fix(text)}"
    if kind == TIMESTAMP and not isinstance(value, date) and not _ISO_TIMESTAMP.fullmatch(text):
        return f"`{text}` is not a date and time; write it as YYYY-MM-DD HH:MM:SS, e.g. 2025-04-10 09:30:00"
    if kind in (DATE, TIMESTAMP) and not isinstance(value, date) and (reason := calendar_problem(text.strip())) is not None:
        what = "date" if kind == DATE else "date and time"
        return f"`{text.strip()}` is not a real {what} ({reason}); write an existing {what} as YYYY-MM-DD{'' if kind == DATE else ' HH:MM:SS'}, or leave the field empty for a missing value (NULL)"
    if kind == BOOLEAN and text.strip().lower() not in _BOOLEAN_WORDS:
        return f"`{text}` is not true or false; write true or false"
    return None


def number_fix(text: str, type_text: str) -> str:
    """How to write `text` as a number the engine reads."""
    digits = re.sub(r"[\s,$€£_]", "", text)
    if digits != text.strip() and _DECIMAL.fullmatch(digits):
        return f"write numbers as plain digits without thousands separators, spaces or currency signs: {digits}"
    if is_whole_number_type(type_text) and _DECIMAL.fullmatch(text):
        return f"the column holds whole numbers; round it (e.g. {round(float(text))}) or declare the column as number(12,2)"
    return "write digits only, or leave the field empty for a missing value (NULL)"


def date_fix(text: str) -> str:
    """How to write `text` as a date the engine reads: YYYY-MM-DD, with the likely reading shown."""
    parts = re.split(r"[./\-]", text.strip())
    if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[2]) == 4:
        day, month, year = parts
        if int(month) <= 12 and int(day) <= 31:
            return f"write dates as YYYY-MM-DD (e.g. {year}-{int(month):02d}-{int(day):02d} if it means day {int(day)} of month {int(month)})"
    return "write dates as YYYY-MM-DD, e.g. 2025-04-10, or leave the field empty for a missing date (NULL)"
