"""`rulectl init`: a skeleton that validates, loads, applies, runs and tests as created; and
`--from-target` adding sources read from a DuckDB target's tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
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
    assert no_key.exit_code == 1 and "has no column `customer_ref` (the customer key); pass --key COLUMN" in no_key.output
    # a database file where the project has targets: said as such, not "unknown target"
    a_file = run("init", str(root), "--from-target", str(root / ".rulectl" / "local.duckdb"), "--table", "RAW.HEALTH")
    said = " ".join(a_file.output.split())
    assert a_file.exit_code == 1 and "already has a rulectl.yml, and in a project --from-target names one of its targets (local)" in said, said
    assert "rulectl init NEW_DIR --from-target" in said and "Traceback" not in said
    assert (root / "rulectl.yml").read_text() == before


def test_table_columns_on_duckdb(tmp_path: Path):
    backend = DuckDBBackend(tmp_path / "t.duckdb")
    backend.execute("CREATE SCHEMA gold")
    backend.execute("CREATE TABLE gold.Things (id VARCHAR, amount DECIMAL(12,2), n BIGINT, seen TIMESTAMP, d DOUBLE)")
    assert backend.table_columns("GOLD.THINGS") == [("id", "varchar"), ("amount", "number(12,2)"), ("n", "bigint"), ("seen", "timestampntz"), ("d", "double")]
    assert backend.table_columns("GOLD.MISSING") == []
    backend.close()


# ------------------------------------------------------------ a new project from a database's tables


def _database(path: Path, statements: list[str]) -> Path:
    connection = duckdb.connect(str(path))
    for statement in statements:
        connection.execute(statement)
    connection.close()
    return path


# Shape 1: an integer key that is not the first column, five types, an order table at its own grain.
CRM = [
    "CREATE SCHEMA crm",
    "CREATE TABLE crm.clients (client_name VARCHAR, client_no INTEGER, since DATE, score DOUBLE, vip BOOLEAN)",
    "INSERT INTO crm.clients VALUES ('Ames', 1, '2020-01-01', 1.5, true), ('Bly', 2, '2021-06-01', 2.5, false), ('Cole', 3, NULL, NULL, NULL)",
    "CREATE TABLE crm.orders (client_no INTEGER, order_no BIGINT, amount DECIMAL(10,2), placed TIMESTAMP)",
    "INSERT INTO crm.orders VALUES (1, 10, 120.50, '2026-01-02 10:00:00'), (1, 11, 79.50, '2026-02-01 09:00:00'), (2, 12, 40.00, '2026-03-01 08:00:00')",
]
# Shape 2: a text key, a second schema, a table whose rows repeat per key.
SHOP = [
    "CREATE SCHEMA gold", "CREATE SCHEMA events",
    "CREATE TABLE gold.shops (shop_code VARCHAR, city VARCHAR, seats SMALLINT)",
    "INSERT INTO gold.shops VALUES ('S1', 'Oslo', 12), ('S2', 'Bergen', 40)",
    "CREATE TABLE events.visits (shop_code VARCHAR, note VARCHAR)",
    "INSERT INTO events.visits VALUES ('S1', 'x'), ('S1', 'x'), ('S2', 'y')",
]


def test_init_from_a_database_file_starts_a_project_with_its_types_and_key(tmp_path: Path):
    database = _database(tmp_path / "warehouse.duckdb", CRM)
    root = tmp_path / "crm_project"
    result = run("init", str(root), "--from-target", str(database), "--table", "CRM.CLIENTS", "--table", "crm.orders", "--key", "client_no")
    assert result.exit_code == 0, result.output
    assert "added source `clients` (CRM.CLIENTS, 5 columns, key client_no)" in result.output
    text = (root / "rulectl.yml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert "entity: clients" in text and "path: ../crm.duckdb" not in text  # outside the project: an absolute path
    assert [line.strip() for line in text[text.index("sources:"):].splitlines()] == [
        "sources:",
        "clients:",
        "table: CRM.CLIENTS",
        "key: client_no",  # --key, not the first column
        "columns: {client_name: varchar, client_no: int, since: date, score: double, vip: boolean}",
        "orders:",
        "table: CRM.ORDERS",
        "grain: [client_no, order_no]",
        'columns: {client_no: int, order_no: bigint, amount: "number(10,2)", placed: timestampntz}',
    ]
    assert run("validate", project=root).exit_code == 0
    # the project works on the file as it stands: a metric over the imported types, applied and read back
    (root / "rules").mkdir()
    (root / "rules" / "metrics.yml").write_text(
        "metrics:\n  - {name: spend, source: orders, expr: SUM(amount)}\n  - {name: orders_2026, source: orders, expr: \"COUNT_IF(placed >= '2026-01-01')\"}\n"
        "segmentations:\n  - name: band\n    rules:\n      - {segment: Big, when: spend >= 100 AND vip}\n    default: Other\n"
    )
    applied = run("apply", "--yes", project=root)
    assert applied.exit_code == 0, applied.output
    connection = duckdb.connect(str(database), read_only=True)
    got = connection.execute("SELECT client_no, spend, orders_2026, band FROM ANALYTICS.CUSTOMER_SEGMENTS ORDER BY 1").fetchall()
    connection.close()
    assert [(n, float(s) if s is not None else None, c, b) for n, s, c, b in got] == [(1, 200.0, 2, "Big"), (2, 40.0, 1, "Other"), (3, None, 0, "Other")]


def test_init_from_a_database_file_second_shape_defaults_the_key_to_the_first_column(tmp_path: Path):
    database = _database(tmp_path / "stores.duckdb", SHOP)
    root = tmp_path / "shops"
    root.mkdir()  # an empty directory that exists
    result = run("init", str(root), "--from-target", str(database), "--table", "GOLD.SHOPS", "--table", "EVENTS.VISITS")
    assert result.exit_code == 0, result.output
    text = (root / "rulectl.yml").read_text()
    assert "columns: {shop_code: varchar, city: varchar, seats: smallint}" in text
    assert "grain: [shop_code]   # rows repeat: check the grain" in text
    assert "entity: shops" in text
    assert run("validate", project=root).exit_code == 0


def test_init_from_a_database_file_errors(tmp_path: Path):
    crm = _database(tmp_path / "warehouse.duckdb", CRM)
    shop = _database(tmp_path / "stores.duckdb", SHOP)
    cases = [
        ((str(tmp_path / "nope.duckdb"), "CRM.CLIENTS"), None, "has no rulectl.yml, so name the database to read: a DuckDB file"),
        ((str(crm), "CRM.CLIENTS"), "client_nr", "table CRM.CLIENTS has no column `client_nr` (the customer key); pass --key COLUMN; did you mean `client_no`?"),
        ((str(crm), "CRM.ORDERS"), "client_no", "none of the tables has one row per `client_no`; name a table that lists each customer once"),
        ((str(shop), "EVENTS.VISITS"), None, "none of the tables has one row per `shop_code`"),
    ]
    for (database, table), key, words in cases:
        root = tmp_path / "new"
        result = run("init", str(root), "--from-target", database, "--table", table, *(("--key", key) if key else ()))
        assert result.exit_code == 1, result.output
        assert words in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output and not (root / "rulectl.yml").exists()


def test_from_target_in_an_existing_project_honours_another_key(tmp_path: Path):
    """The skeleton's customers are keyed by account_id; tables naming them `acct` import with
    --key acct (before: --key was ignored and the tables joined nothing): a table with one row per
    acct as a `key:` source, one with several as a `grain:` source with `customer_key: acct`."""
    root = tmp_path / "p"
    assert run("init", str(root)).exit_code == 0
    assert run("load", project=root).exit_code == 0
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"))
    connection.execute("CREATE TABLE RAW.USAGE (acct VARCHAR, month DATE, logins INTEGER)")
    connection.execute("INSERT INTO RAW.USAGE VALUES ('A001', '2026-10-01', 10), ('A001', '2026-11-01', 5), ('A002', '2026-11-01', 7)")
    connection.execute("CREATE TABLE RAW.PROFILE (acct VARCHAR, plan VARCHAR)")
    connection.execute("INSERT INTO RAW.PROFILE VALUES ('A001', 'gold'), ('A003', 'basic')")
    connection.close()
    result = run("init", str(root), "--from-target", "local", "--table", "RAW.USAGE", "--table", "RAW.PROFILE", "--key", "acct")
    assert result.exit_code == 0, result.output
    text = (root / "rulectl.yml").read_text()
    added = [line.strip() for line in text[text.index("  usage:"):].splitlines()[:9]]
    assert added == [
        "usage:", "table: RAW.USAGE", "grain: [acct, month]", "customer_key: acct", "columns: {acct: varchar, month: date, logins: int}",
        "profile:", "table: RAW.PROFILE", "key: acct", "columns: {acct: varchar, plan: varchar}",
    ]
    with (root / "rules" / "metrics.yml").open("a") as metrics:
        metrics.write("  - {name: logins_total, source: usage, expr: SUM(logins)}\n  - {name: plan_name, source: profile, expr: plan}\n")
    applied = run("apply", "--yes", project=root)
    assert applied.exit_code == 0, applied.output
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    got = connection.execute("SELECT account_id, logins_total, plan_name FROM ANALYTICS.CUSTOMER_METRICS WHERE account_id IN ('A001', 'A002', 'A003') ORDER BY 1").fetchall()
    connection.close()
    assert got == [("A001", 15, "gold"), ("A002", 7, None), ("A003", None, "basic")]


@pytest.mark.snowflake
def test_init_from_a_snowflake_connection_starts_a_project(tmp_path: Path, monkeypatch):
    """`--from-target snowflake:NAME` in an empty directory: the connection from connections.toml
    (its own database), the tables' Snowflake types from INFORMATION_SCHEMA, --key honoured."""
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    home = tmp_path / "snowflake-home"
    home.mkdir()
    (home / "connections.toml").write_text('[prod]\naccount = "acme"\nuser = "analyst"\npassword = "not-a-secret"\ndatabase = "CRM_DB"\n')
    (home / "connections.toml").chmod(0o600)
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    monkeypatch.delenv("SNOWFLAKE_DEFAULT_CONNECTION_NAME", raising=False)
    root = tmp_path / "from_snowflake"
    with fakesnow.patch():
        setup = snowflake.connector.connect(database="CRM_DB", schema="PUBLIC")
        for statement in CRM:
            setup.cursor().execute(statement)
        result = run("init", str(root), "--from-target", "snowflake:prod", "--table", "CRM.CLIENTS", "--table", "CRM.ORDERS", "--key", "client_no")
        missing = run("init", str(tmp_path / "other"), "--from-target", "snowflake:prod", "--table", "CRM.NOPE")
        setup.close()
    assert result.exit_code == 0, result.output
    text = (root / "rulectl.yml").read_text()
    assert "not-a-secret" not in text + result.output
    assert [line.strip() for line in text[text.index("default_target:"):].splitlines()] == [
        "default_target: prod",
        "entity: clients                # the source that lists every customer once",
        "targets:",
        "prod:",
        "engine: snowflake",
        "connection: prod",
        "database: CRM_DB",
        "schemas: {analytics: ANALYTICS, ai: AI}",
        "sources:",
        "clients:",
        "table: CRM.CLIENTS",
        "key: client_no",
        'columns: {client_name: varchar, client_no: "number(38,0)", since: date, score: float, vip: boolean}',
        "orders:",
        "table: CRM.ORDERS",
        "grain: [client_no, order_no]",
        'columns: {client_no: "number(38,0)", order_no: "number(38,0)", amount: "number(10,2)", placed: timestamp_ntz}',
    ]
    assert run("validate", project=root).exit_code == 0
    assert missing.exit_code == 1 and "table CRM.NOPE was not found on the target" in missing.output
