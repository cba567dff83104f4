"""Sources are checked before anything is applied: a missing table, a missing column or a column of
another type is a plan error that says what to do, and apply changes nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from engine.backends.snowflake import SnowflakeBackend
from engine.config.loader import load_project
from engine.plan.source_check import source_steps, type_category
from tests.conftest import edit, run
from tests.doubles.recording import RecordingConnection


def schemas(project: Path) -> list[str]:
    database = project / ".rulectl" / "local.duckdb"
    if not database.exists():
        return []
    connection = duckdb.connect(str(database))
    try:
        return [r[0] for r in connection.execute("SELECT schema_name FROM duckdb_schemas() WHERE NOT internal AND schema_name <> 'main'").fetchall()]
    finally:
        connection.close()


def test_apply_before_load_names_the_missing_tables_and_creates_nothing(project: Path):
    planned = run("plan", project=project)
    assert planned.exit_code == 1
    assert "table GOLD.CUSTOMER does not exist on this target; run `rulectl load`" in planned.output
    applied = run("apply", "--yes", project=project)
    assert applied.exit_code == 1 and "Traceback" not in applied.output
    assert "GOLD.PRODUCTS does not exist" in applied.output and "nothing was changed" in applied.output
    assert schemas(project) == []  # not even rulectl's own state schema


def test_a_missing_column_is_named_with_a_suggestion(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    connection = duckdb.connect(str(project / ".rulectl" / "local.duckdb"))
    connection.execute("ALTER TABLE GOLD.PRODUCTS RENAME COLUMN active_users TO active_user")
    connection.close()
    result = run("plan", project=project)
    assert result.exit_code == 1
    assert "column `active_users` is declared in rulectl.yml but GOLD.PRODUCTS has no such column; did you mean `active_user`?" in result.output
    assert run("apply", "--yes", project=project).exit_code == 1
    assert "ANALYTICS" not in schemas(project)


def test_a_column_of_another_type_is_an_error_and_compatible_spellings_are_not(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    assert run("plan", project=project).exit_code == 0  # number(12,2) vs DECIMAL, integer vs INTEGER, date vs DATE
    edit(project / "rulectl.yml", "population: integer", "population: date")
    result = run("plan", project=project)
    assert result.exit_code == 1
    assert "column `population` is declared `date` (date) but GOLD.CUSTOMER has it as INTEGER (number)" in result.output


@pytest.mark.parametrize(
    "declared, actual, dialect, same",
    [
        ("number(12,2)", "DECIMAL(12,2)", "duckdb", True),
        ("integer", "FIXED", "snowflake", True),  # SHOW COLUMNS spells NUMBER as FIXED
        ("varchar", "TEXT", "snowflake", True),
        ("float", "REAL", "snowflake", True),
        ("date", "TIMESTAMP_NTZ", "snowflake", False),
        ("varchar", "BIGINT", "duckdb", False),
    ],
)
def test_type_categories(declared: str, actual: str, dialect: str, same: bool):
    assert (type_category(declared, "snowflake") == type_category(actual, dialect)) is same


@pytest.mark.snowflake
def test_snowflake_checks_every_source_schema_with_one_column_query(project: Path):
    loaded = load_project(project)
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(loaded.config.sources)
    backend = SnowflakeBackend(connection, "CUSTOMER_INTEL")
    assert source_steps(loaded, backend) == []
    assert backend.statements == [
        # two tables, one query; INFORMATION_SCHEMA, not SHOW COLUMNS (which stops at 10,000 rows)
        "SELECT table_name, column_name, data_type FROM CUSTOMER_INTEL.INFORMATION_SCHEMA.COLUMNS WHERE table_schema = 'GOLD' "
        "AND table_name IN ('CUSTOMER', 'PRODUCTS') ORDER BY table_name NULLS FIRST, ordinal_position NULLS FIRST",
        # and the key-grain sources' keys, one query for all
        "SELECT * FROM (SELECT 'GOLD.CUSTOMER' AS source_table, CAST(customer_id AS VARCHAR) AS key_value, COUNT(*) AS row_count FROM GOLD.CUSTOMER "
        "GROUP BY customer_id HAVING COUNT(*) > 1 OR customer_id IS NULL ORDER BY row_count DESC NULLS LAST LIMIT 3) AS k0",
    ]
    del connection.catalog.tables["GOLD.PRODUCTS"]
    problems = source_steps(loaded, backend)
    assert [p.qualified_name for p in problems] == ["GOLD.PRODUCTS"]
    assert "check `table:` in rulectl.yml and that your role can read the table" in problems[0].reason


@pytest.mark.snowflake
def test_a_column_past_ten_thousand_in_a_large_source_schema_is_found(project: Path):
    """A source schema holding 12,000 columns before ours: SHOW COLUMNS IN SCHEMA would have dropped
    GOLD.PRODUCTS' columns and plan would have called real columns missing."""
    loaded = load_project(project)
    connection = RecordingConnection("CUSTOMER_INTEL")
    for index in range(300):
        connection.catalog.tables[f"GOLD.A_WIDE_{index:03}"] = {"comment": None, "columns": [(f"c{n}", "VARCHAR") for n in range(40)]}
    connection.add_source_tables(loaded.config.sources)
    assert len(connection.cursor().execute("SHOW COLUMNS IN SCHEMA CUSTOMER_INTEL.GOLD").fetchall()) == 10_000  # the cap is real in the double
    assert source_steps(loaded, SnowflakeBackend(connection, "CUSTOMER_INTEL")) == []


@pytest.mark.snowflake
def test_a_source_in_another_database_is_read_from_that_databases_information_schema(project: Path):
    edit(project / "rulectl.yml", "table: GOLD.PRODUCTS", "table: SHARED_DB.GOLD.PRODUCTS")
    loaded = load_project(project)
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(loaded.config.sources)
    backend = SnowflakeBackend(connection, "CUSTOMER_INTEL")
    found = backend.source_columns(["GOLD.CUSTOMER", "SHARED_DB.GOLD.PRODUCTS"])
    assert set(found) == {"GOLD.CUSTOMER", "SHARED_DB.GOLD.PRODUCTS"} and "arr" in found["SHARED_DB.GOLD.PRODUCTS"]
    assert [s.split(" WHERE ")[0] for s in backend.statements] == [
        "SELECT table_name, column_name, data_type FROM CUSTOMER_INTEL.INFORMATION_SCHEMA.COLUMNS",
        "SELECT table_name, column_name, data_type FROM SHARED_DB.INFORMATION_SCHEMA.COLUMNS",
    ]
    assert backend.table_columns("SHARED_DB.GOLD.PRODUCTS")[:2] == [("customer_id", "varchar"), ("module", "varchar")]
    assert "FROM SHARED_DB.INFORMATION_SCHEMA.COLUMNS" in backend.statements[-1]


def test_a_repeated_or_null_customer_key_is_a_plan_error(loaded_project: Path):
    """Loads refuse them, but a table filled by another tool may have them: a repeated key counts a
    customer twice and breaks Snowflake's MERGE; a NULL key would be re-sent to the model every run."""
    project = loaded_project  # the core example, loaded
    connection = duckdb.connect(str(project / ".rulectl" / "local.duckdb"))
    connection.execute("INSERT INTO GOLD.CUSTOMER SELECT * FROM GOLD.CUSTOMER WHERE customer_id IN ('C0000007', 'C0000009')")
    connection.execute("INSERT INTO GOLD.CUSTOMER SELECT * FROM GOLD.CUSTOMER WHERE customer_id = 'C0000007'")
    connection.execute("INSERT INTO GOLD.CUSTOMER (customer_id, customer_name) VALUES (NULL, 'Nowhere')")
    connection.close()
    planned = run("plan", project=project)
    assert planned.exit_code == 1, planned.output
    said = " ".join(planned.output.split())  # the terminal wraps long lines
    assert "source `customer`: `customer_id` must identify one customer per row, but GOLD.CUSTOMER has C0000007 (4 rows), C0000009 (2 rows), NULL;" in said
    applied = run("apply", "--yes", project=project)
    assert applied.exit_code == 1 and "nothing was changed" in applied.output
    assert schemas(project) == ["GOLD"]



def test_duckdb_source_columns_in_order_any_case_views_too_and_without_missing_tables(tmp_path: Path):
    """One pragma_table_info query answers (the catalog function is ~7× slower on a fresh
    connection); a missing table falls back to the catalog query, which leaves it out."""
    from engine.backends.duckdb import DuckDBBackend

    backend = DuckDBBackend(tmp_path / "s.duckdb")
    try:
        backend.connection.execute(
            "CREATE SCHEMA gold; CREATE TABLE gold.customer (customer_id VARCHAR, arr DECIMAL(12,2), since DATE);"
            "CREATE TABLE gold.\"Odd Name\" (\"Zeta\" INTEGER, alpha VARCHAR[]); CREATE VIEW gold.v AS SELECT customer_id, arr * 2 AS double_arr FROM gold.customer"
        )
        expected = {
            "DB.GOLD.CUSTOMER": {"customer_id": "VARCHAR", "arr": "DECIMAL(12,2)", "since": "DATE"},
            "gold.Odd Name": {"zeta": "INTEGER", "alpha": "VARCHAR[]"},
            "GOLD.V": {"customer_id": "VARCHAR", "double_arr": "DECIMAL(18,2)"},
        }
        found = backend.source_columns(list(expected))
        assert found == expected and [list(columns) for columns in found.values()] == [list(columns) for columns in expected.values()]
        assert len(backend.statements) == 1 and "pragma_table_info" in backend.statements[0].lower()
        with_missing = backend.source_columns(["GOLD.CUSTOMER", "GOLD.NOPE"])
        assert with_missing == {"GOLD.CUSTOMER": expected["DB.GOLD.CUSTOMER"]}
    finally:
        backend.close()
