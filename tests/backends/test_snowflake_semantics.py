"""Same answer on both targets: a project whose data holds zeros, NULLs and empty strings, applied on
the local DuckDB target, gives exactly what Snowflake's documented semantics give — computed here in
plain Python (fakesnow runs on DuckDB and would share its quirks).

Snowflake semantics the reference encodes:
- `/` by zero fails the query; DIV0(a, b) is 0 when b is 0 (NULL when a is NULL); NULLIF(b, 0)
  makes the quotient NULL — https://docs.snowflake.com/en/sql-reference/functions/div0
- fixed-point division has scale max(S1, min(S1 + 6, 12)): integers divide to 6 decimals —
  https://docs.snowflake.com/en/sql-reference/operators-arithmetic
- aggregates skip NULLs, SUM of no rows is NULL, COUNT_IF of no rows is 0; '' is a value, not NULL;
  a comparison with NULL is NULL, which no rule matches — https://docs.snowflake.com/en/sql-reference/functions/listagg
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from engine import workflow
from engine.config.loader import load_project
from engine.core.errors import RulectlError

PROJECT = """name: parity
default_target: local
targets: {local: {engine: duckdb, path: .rulectl/parity.duckdb}}
schemas: {analytics: REPORTING, ai: ENRICHED}
sources:
  accounts:
    table: RAW.ACCOUNTS
    key: acct
    columns: {acct: varchar, region: varchar}
  usage:
    table: RAW.USAGE
    grain: [acct, product]
    columns: {acct: varchar, product: varchar, seats: integer, active: integer, note: varchar}
"""

METRICS = """metrics:
  - {name: active_total, source: usage, expr: SUM(active)}
  - {name: utilization, source: usage, expr: "DIV0(SUM(active), SUM(seats))"}
  - {name: util_or_null, source: usage, expr: "SUM(active) / NULLIF(SUM(seats), 0)"}
  - {name: per_product, expr: active_total / 3}
  - {name: empty_notes, source: usage, expr: "COUNT_IF(note = '')"}
  - {name: notes, source: usage, expr: "LISTAGG(DISTINCT note, '|') WITHIN GROUP (ORDER BY note)"}
segmentations:
  - name: band
    rules:
      - {segment: High, when: utilization >= 0.5}
      - {segment: Unknown, when: util_or_null IS NULL}
    default: Low
  - name: flags
    match: all
    rules:
      - {segment: Empty note, when: empty_notes > 0}
      - {segment: Blank region, when: "region = ''"}
      - {segment: Two thirds, when: per_product >= 0.666667}
"""

ACCOUNTS = [("A1", "EU"), ("A2", ""), ("A3", None), ("A4", "US"), ("A5", "EU")]  # A5 has no usage rows
USAGE = [
    ("A1", "GL", 4, 3, "x"), ("A1", "AP", 0, 0, ""),
    ("A2", "GL", 0, 0, None),
    ("A3", "GL", 3, 1, ""), ("A3", "AR", None, 2, "y"),
    ("A4", "GL", 3, 2, None),
]

# ------------------------------------------------------------------ Snowflake, in plain Python


def sf_sum(values):
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def sf_divide(a, b, scale=6):
    """Fixed-point `/`: NULL in, NULL out; zero divisor fails; result rounded half up to `scale`."""
    if a is None or b is None:
        return None
    if b == 0:
        raise ZeroDivisionError("Division by zero")
    return float((Decimal(a) / Decimal(b)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP))


def sf_div0(a, b):
    return None if a is None else 0.0 if b == 0 else sf_divide(a, b)


def sf_nullif(a, b):
    return None if a == b else a


def snowflake_reference() -> dict[str, dict]:
    rows = {}
    for acct, region in ACCOUNTS:
        usage = [u for u in USAGE if u[0] == acct]
        active, seats = sf_sum(u[3] for u in usage), sf_sum(u[2] for u in usage)
        notes = sorted({u[4] for u in usage if u[4] is not None})
        m = {
            "active_total": active,
            "utilization": sf_div0(active, seats),
            "util_or_null": sf_divide(active, sf_nullif(seats, 0)) if seats is not None else None,
            "per_product": sf_divide(active, 3),
            "empty_notes": sum(1 for u in usage if u[4] == ""),
            "notes": "|".join(notes) if usage else None,
        }
        band = "High" if (m["utilization"] is not None and m["utilization"] >= 0.5) else "Unknown" if m["util_or_null"] is None else "Low"
        flags = [label for label, hit in (
            ("Empty note", m["empty_notes"] > 0),
            ("Blank region", region is not None and region == ""),
            ("Two thirds", m["per_product"] is not None and m["per_product"] >= 0.666667),
        ) if hit]
        rows[acct] = {**m, "band": band, "flags": flags}
    return rows


# ------------------------------------------------------------------ the local target


def make_project(root: Path, metrics: str = METRICS) -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "rulectl.yml").write_text(PROJECT)
    (root / "rules" / "rules.yml").write_text(metrics)
    (root / ".rulectl").mkdir()
    connection = duckdb.connect(str(root / ".rulectl" / "parity.duckdb"))
    connection.execute("CREATE SCHEMA RAW")
    connection.execute("CREATE TABLE RAW.ACCOUNTS (acct VARCHAR, region VARCHAR)")
    connection.execute("CREATE TABLE RAW.USAGE (acct VARCHAR, product VARCHAR, seats INTEGER, active INTEGER, note VARCHAR)")
    connection.executemany("INSERT INTO RAW.ACCOUNTS VALUES (?, ?)", ACCOUNTS)
    connection.executemany("INSERT INTO RAW.USAGE VALUES (?, ?, ?, ?, ?)", USAGE)
    connection.close()
    return root


def local_rows(root: Path) -> dict[str, dict]:
    workflow.apply(load_project(root))
    connection = duckdb.connect(str(root / ".rulectl" / "parity.duckdb"))
    columns = ["acct", "active_total", "utilization", "util_or_null", "per_product", "empty_notes", "notes", "band", "flags"]
    rows = connection.execute(f"SELECT {', '.join(columns)} FROM REPORTING.CUSTOMER_SEGMENTS").fetchall()
    connection.close()
    return {row[0]: {c: (float(v) if isinstance(v, (int, float, Decimal)) and c not in ("active_total", "empty_notes") else v) for c, v in zip(columns[1:], row[1:])} for row in rows}


def test_local_target_gives_snowflakes_answer_on_zeros_nulls_and_empty_strings(tmp_path: Path):
    expected = snowflake_reference()
    assert local_rows(make_project(tmp_path / "p")) == expected
    assert expected["A4"]["per_product"] == 0.666667 and "Two thirds" in expected["A4"]["flags"]  # the 6-digit scale decides
    assert expected["A2"]["band"] == "Unknown" and expected["A2"]["utilization"] == 0.0  # DIV0 of 0 / 0


def test_a_zero_divisor_fails_on_both(tmp_path: Path):
    with pytest.raises(ZeroDivisionError):
        sf_divide(0, 0)  # A2: SUM(active) / SUM(seats) = 0 / 0
    root = make_project(tmp_path / "p", METRICS.replace('"DIV0(SUM(active), SUM(seats))"', "SUM(active) / SUM(seats)"))
    with pytest.raises((RulectlError, duckdb.Error), match="Division by zero"):
        local_rows(root)
