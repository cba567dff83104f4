"""Checks on a sample CSV before `rulectl load` touches any table: one streaming pass, linear in
the file's size, each problem reported with the file and line (or the offending key)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.config.models import Source
from engine.config.source_keys import identity_columns
from engine.config.value_types import quick_pattern, value_problem
from engine.core.errors import RulectlError

MAX_FIELD_BYTES = 1 << 20  # one value of a sample CSV; a bigger one is a broken quote, not data


@dataclass(frozen=True)
class CheckedCsv:
    rows: int


def check_sample(path: Path, shown: str, source_name: str, source: Source, allow_empty: bool = False) -> CheckedCsv:
    """Refuse what a load would accept silently or fail on without a line: an empty file, a header
    without rows (unless `allow_empty`), missing columns, ragged rows, mixed line endings, and, by
    the source's grain, empty or repeated keys."""
    grain = identity_columns(source)
    lines = _lines(path, shown)
    csv.field_size_limit(MAX_FIELD_BYTES)
    reader = csv.reader(lines)
    line = 0  # the last line of the last complete record: a broken record starts after it
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise RulectlError(f"{shown}:1: the file is empty; it needs a header line ({', '.join(source.columns)}) and one row per {_grain_text(grain)}")
        header = [cell.strip() for cell in header]
        missing = [column for column in source.columns if column not in header]
        if missing:
            raise RulectlError(f"{shown}:1: the header has no column {', '.join(missing)} (source `{source_name}` declares {', '.join(source.columns)})")
        positions = [header.index(column) for column in grain]
        typed = _typed_columns(header, source)
        seen: dict[tuple[str, ...], int] = {}
        rows, line = 0, reader.line_num
        for record in reader:
            start, line = line + 1, reader.line_num
            if not record:
                continue  # a blank line: DuckDB skips it as well
            if len(record) != len(header):
                raise RulectlError(f"{shown}:{start}: {len(record)} field(s) where the header has {len(header)}; check quoting and commas on that line")
            key = tuple(record[i].strip() for i in positions)
            for column, value in zip(grain, key):
                if not value:
                    raise RulectlError(f"{shown}:{start}: empty `{column}`; every row of source `{source_name}` needs one ({_grain_text(grain)})")
            if key in seen:
                shown_key = ", ".join(f"{c} {v!r}" for c, v in zip(grain, key))
                why = "; a lookup has one row per key, or the rows that join it would count twice" if source.lookup else ""
                raise RulectlError(f"{shown}:{start}: {shown_key} appears again (first on line {seen[key]}); source `{source_name}` has one row per {_grain_text(grain)}{why}")
            seen[key] = start
            for index, column, fits in typed:
                value = record[index].strip()
                if value and not fits(value):
                    problem = value_problem(value, source.columns[column])
                    if problem is not None:
                        raise RulectlError(f"{shown}:{start}: column `{column}` ({source.columns[column]}): {problem}")
            rows += 1
    except csv.Error as error:
        raise RulectlError(f"{shown}:{line + 1}: not readable as CSV from this line: {error} (an unclosed quote?)") from None
    if rows == 0 and not allow_empty:
        raise RulectlError(
            f"{shown}: has a header but no rows; loading it would empty {source.table}. "
            "Pass --allow-empty if emptying the table is what you want"
        )
    return CheckedCsv(rows)


def _typed_columns(header: list[str], source: Source) -> list[tuple[int, str, Callable[[str], bool]]]:
    """(position, column, quick test) for each column whose values the engine must convert: the
    quick test passes what certainly converts, so value_problem (slower, with the fix) runs only
    on the rare value that may not. Empty fields load as NULL and are not checked."""
    typed = []
    for column, type_text in source.columns.items():
        pattern = quick_pattern(type_text)
        if pattern is not None:
            typed.append((header.index(column), column, pattern.fullmatch))
    return typed


def _grain_text(grain: list[str]) -> str:
    return " and ".join(grain) if grain else "row"


def _lines(path: Path, shown: str) -> Iterator[str]:
    """Decoded lines with their endings, refusing undecodable bytes and a mix of CRLF and LF
    between records. A line break inside a quoted field (a note pasted from Excel keeps its CRLF
    in an LF file) is the field's text, not the file's line ending: DuckDB reads it as such."""
    first_ending: bytes | None = None
    in_quotes = False  # an odd count of `"` so far: the line ends inside a quoted field
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            in_quotes ^= raw.count(b'"') % 2 == 1
            ending = b"\r\n" if raw.endswith(b"\r\n") else b"\n" if raw.endswith(b"\n") else None
            if ending is not None and not in_quotes:
                if first_ending is None:
                    first_ending = ending
                elif ending != first_ending:
                    raise RulectlError(
                        f"{shown}:{number}: the file mixes Windows (CRLF) and Unix (LF) line endings (from line {number}); "
                        "save it with one kind of line ending"
                    )
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise RulectlError(f"{shown}:{number}: not UTF-8 text; save the file as UTF-8") from None
