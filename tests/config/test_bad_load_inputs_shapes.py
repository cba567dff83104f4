"""The bad-input corpus, CSV part on other shapes (issue 23): a value its column cannot hold is
refused before anything loads, naming file:line, the column, its type, the value and the fix; a
quoted field holding a Windows line break is text, not a mixed-line-ending file."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO, run

MINIMAL = REPO / "tests" / "projects" / "minimal"
RENAMED = REPO / "tests" / "projects" / "renamed"

# (case id, shape, sample file, line to replace (1-based), new line, message after file:line)
CASES = [
    ("n/a in an integer column", MINIMAL, "data/members.csv", 3, "2,n/a",
     "column `visits` (integer): `n/a` is not a whole number; write digits only, or leave the field empty for a missing value (NULL)"),
    ("a fraction in an integer column", MINIMAL, "data/members.csv", 2, "1,10.5",
     "column `visits` (integer): `10.5` is not a whole number; the column holds whole numbers; round it (e.g. 10) or declare the column as number(12,2)"),
    ("a date written day first", RENAMED, "data/accounts.csv", 3, "A2,Beta Town,East,10.04.2025",
     "column `signed_on` (date): `10.04.2025` is not a date; write dates as YYYY-MM-DD (e.g. 2025-04-10 if it means day 10 of month 4)"),
    ("thousands separator in a quoted number", RENAMED, "data/modules.csv", 2, 'A1,GL,live,"3,497.26",2027-01-01',
     "column `module_fee` (number(12,2)): `3,497.26` is not a number; write numbers as plain digits without thousands separators, spaces or currency signs: 3497.26"),
    ("a word in an integer column of a third source", RENAMED, "data/tickets.csv", 2, "A1,T1,high,2026-10-01",
     "column `severity` (integer): `high` is not a whole number; write digits only, or leave the field empty for a missing value (NULL)"),
    # values shaped right that the engine refuses: named with file, line, column and value all the same
    ("an impossible date", RENAMED, "data/accounts.csv", 3, "A2,Beta Town,East,2025-13-45",
     "column `signed_on` (date): `2025-13-45` is not a real date (there is no month 13); write an existing date as YYYY-MM-DD, or leave the field empty for a missing value (NULL)"),
    ("february 30th, found by the load's scan", RENAMED, "data/modules.csv", 5, "A2,GL,live,12000.00,2027-02-30",
     "column `renews_on` (date): `2027-02-30` is not a real date (February 2027 has 28 days); write an existing date as YYYY-MM-DD, or leave the field empty for a missing value (NULL)"),
    ("a whole number too large for the local integer", MINIMAL, "data/members.csv", 4, "3,3000000000",
     "column `visits` (integer): `3000000000` has more digits than integer holds on this target; declare the column wider, e.g. number(38,0), or correct the value"),
    ("a fee with more digits than number(12,2)", RENAMED, "data/modules.csv", 3, "A1,AP,live,12345678901.50,2027-01-01",
     "column `module_fee` (number(12,2)): `12345678901.50` has more digits than number(12,2) holds on this target; declare the column wider, e.g. number(38,2), or correct the value"),
]


@pytest.mark.parametrize("case_id, shape, sample, line, new_line, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_csv_value_is_refused_with_its_column(tmp_path: Path, case_id, shape, sample, line, new_line, message):
    root = tmp_path / shape.name
    shutil.copytree(shape, root)
    lines = (root / sample).read_text().splitlines()
    lines[line - 1] = new_line
    (root / sample).write_text("\n".join(lines) + "\n")
    result = run("load", project=root)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"error: {sample}:{line}: {message}\n" in result.output, result.output
    assert not (root / ".rulectl" / "local.duckdb").exists() or _tables(root) == []  # nothing loaded


def _tables(root: Path) -> list:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return connection.execute("SELECT table_name FROM information_schema.tables WHERE table_schema NOT IN ('main')").fetchall()
    finally:
        connection.close()


def test_a_quoted_field_with_a_windows_line_break_loads(tmp_path: Path):
    """A note pasted from Excel keeps its CRLF inside quotes in an LF file: valid CSV, loaded as text."""
    root = tmp_path / "renamed"
    shutil.copytree(RENAMED, root)
    path = root / "data" / "accounts.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("Alpha City", '"Alpha City\r\n(old name: Alpha Village)"')
    path.write_bytes(("\n".join(lines) + "\n").encode())
    result = run("load", project=root)
    assert result.exit_code == 0, result.output
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        names = connection.execute("SELECT account_name FROM GOLD.CUSTOMER_GOLD WHERE account_id = 'A1'").fetchall()
        count = connection.execute("SELECT count(*) FROM GOLD.CUSTOMER_GOLD").fetchone()[0]
    finally:
        connection.close()
    assert names == [("Alpha City\r\n(old name: Alpha Village)",)]
    assert count == len(lines) - 1


def test_a_boolean_word_the_local_engine_does_not_read_is_named(tmp_path: Path):
    """A project written here (a boolean column, which neither shape has): `on` passes the pre-check
    (Snowflake reads it) but DuckDB's cast refuses it; the load's scan names line, column and value."""
    root = tmp_path / "club"
    (root / "data").mkdir(parents=True)
    (root / "rulectl.yml").write_text(
        "name: club\ntargets:\n  local: {engine: duckdb}\nsources:\n  members:\n    table: CLUB.MEMBERS\n    key: member_id\n"
        "    columns: {member_id: integer, active: boolean}\n    sample: data/members.csv\n"
    )
    (root / "data" / "members.csv").write_text("member_id,active\n1,yes\n2,no\n3,on\n")
    result = run("load", project=root)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: data/members.csv:4: column `active` (boolean): `on` is not true or false as this target reads it; write true or false\n" in result.output, result.output
