"""`rulectl init`: a skeleton that validates, loads, applies, runs and tests as created; and
`--from-target` adding sources read from a DuckDB target's tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from engine.backends.duckdb import DuckDBBackend
from tests.config.test_json_schemas import errors_in, project_files
from tests.conftest import run


def test_init_creates_a_project_that_works_end_to_end(tmp_path: Path):
    root = tmp_path / "new_project"
    result = run("init", str(root))
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((root / "rulectl.yml").read_text())["name"] == "new_project"
    for command, words in (
        ("validate", "ok: 2 sources, 2 metrics, 1 segmentations, 1 prompts, 1 rule tests"),
        ("load", "loaded        6 rows into RAW.ACCOUNTS"),
        ("apply", "Apply complete"),
        ("run", "6 row(s) enriched"),
        ("test", "1 passed, 0 failed"),
        ("lint", "0 warning(s)"),
    ):
        args = [command, "--yes"] if command == "apply" else [command]
        step = run(*args, project=root)
        assert step.exit_code == 0, f"{command}: {step.output}"
        assert words in step.output, f"{command}: {step.output}"
    assert run("plan", "--detailed-exitcode", project=root).exit_code == 0  # nothing left to do


def test_init_files_carry_the_schema_line_and_match_the_schema(tmp_path: Path):
    root = tmp_path / "p"
    assert run("init", str(root)).exit_code == 0
    for relative in project_files(root):
        first_line = (root / relative).read_text().splitlines()[0]
        assert first_line.startswith("# yaml-language-server: $schema="), relative
        schema_path = (root / relative).parent / first_line.split("=", 1)[1]
        assert schema_path.resolve().is_file(), relative
        assert errors_in(root, relative) == [], relative


def test_init_never_overwrites(tmp_path: Path):
    root = tmp_path / "p"
    assert run("init", str(root)).exit_code == 0
    (root / "rules" / "metrics.yml").write_text("# mine\n")
    again = run("init", str(root))
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert (root / "rules" / "metrics.yml").read_text() == "# mine\n"


def make_tables(root: Path) -> None:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"))
    connection.execute("CREATE TABLE RAW.TICKETS (account_id VARCHAR, ticket_no INTEGER, opened DATE, cost DECIMAL(8,2), urgent BOOLEAN)")
    connection.execute("INSERT INTO RAW.TICKETS VALUES ('A001', 1, '2024-01-01', 1.5, true), ('A001', 2, '2024-01-02', 2, false), ('A002', 1, '2024-01-03', 3, NULL)")
    connection.execute("CREATE TABLE RAW.HEALTH AS SELECT account_id, 5 AS score FROM RAW.ACCOUNTS")
    connection.execute("CREATE TABLE RAW.NOTES (account_id VARCHAR, note VARCHAR)")
    connection.execute("INSERT INTO RAW.NOTES VALUES ('A001', 'x'), ('A001', 'x')")
    connection.close()


def test_from_target_adds_sources_with_types_and_grain(tmp_path: Path):
    root = tmp_path / "p"
    assert run("init", str(root)).exit_code == 0
    assert run("load", project=root).exit_code == 0
    make_tables(root)
    before = (root / "rulectl.yml").read_text()

    result = run("init", str(root), "--from-target", "local", "--table", "RAW.TICKETS", "--table", "raw.health", "--table", "RAW.NOTES")

    assert result.exit_code == 0, result.output
    text = (root / "rulectl.yml").read_text()
    assert text.startswith(before.rstrip("\n"))  # everything else, comments included, is kept
    added = text[len(before.rstrip("\n")):]
    assert [line.strip() for line in added.strip().splitlines()] == [
        "tickets:",
        "table: RAW.TICKETS",
        "grain: [account_id, ticket_no]",
        'columns: {account_id: varchar, ticket_no: int, opened: date, cost: "number(8,2)", urgent: boolean}',
        "health:",
        "table: RAW.HEALTH",
        "key: account_id",
        "columns: {account_id: varchar, score: int}",
        "notes:",
        "table: RAW.NOTES",
        "grain: [account_id]   # rows repeat: check the grain",
        "columns: {account_id: varchar, note: varchar}",
    ]
    assert run("validate", project=root).exit_code == 0


def test_from_target_errors(tmp_path: Path):
    root = tmp_path / "p"
    assert run("init", str(root)).exit_code == 0
    assert run("load", project=root).exit_code == 0
    before = (root / "rulectl.yml").read_text()
    missing = run("init", str(root), "--from-target", "local", "--table", "RAW.NOPE")
    assert missing.exit_code == 1 and "RAW.NOPE was not found" in missing.output
    taken = run("init", str(root), "--from-target", "local", "--table", "RAW.ACCOUNTS")
    assert taken.exit_code == 1 and "`accounts` already exists" in taken.output
    make_tables(root)
    no_key = run("init", str(root), "--from-target", "local", "--table", "RAW.HEALTH", "--key", "customer_ref")
    assert no_key.exit_code == 1 and "pass --key" in no_key.output
    assert (root / "rulectl.yml").read_text() == before


def test_table_columns_on_duckdb(tmp_path: Path):
    backend = DuckDBBackend(tmp_path / "t.duckdb")
    backend.execute("CREATE SCHEMA gold")
    backend.execute("CREATE TABLE gold.Things (id VARCHAR, amount DECIMAL(12,2), n BIGINT, seen TIMESTAMP, d DOUBLE)")
    assert backend.table_columns("GOLD.THINGS") == [("id", "varchar"), ("amount", "number(12,2)"), ("n", "bigint"), ("seen", "timestampntz"), ("d", "double")]
    assert backend.table_columns("GOLD.MISSING") == []
    backend.close()
