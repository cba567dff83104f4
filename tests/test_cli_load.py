"""`rulectl load`: sample CSVs into the local source tables, with clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run, sample_rows


def test_load_reports_row_counts(project: Path):
    result = run("load", project=project)
    assert result.exit_code == 0
    assert f"{len(sample_rows('customer'))} rows into GOLD.CUSTOMER" in result.output
    assert f"{len(sample_rows('products'))} rows into GOLD.PRODUCTS" in result.output


def test_a_bad_value_names_the_file_and_changes_nothing(project: Path):
    import duckdb

    assert run("load", project=project).exit_code == 0
    path = project / "data" / "sample_inputs" / "customer.csv"
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[3], "lots of people")
    path.write_text("\n".join(lines) + "\n")
    result = run("load", project=project)
    assert result.exit_code == 1, result.output
    assert "data/sample_inputs/customer.csv:6: column `population` (integer): `lots of people` is not a whole number" in result.output
    assert "Traceback" not in result.output
    connection = duckdb.connect(str(project / ".rulectl" / "local.duckdb"))
    counts = [connection.execute(f"SELECT count(*) FROM GOLD.{t}").fetchone()[0] for t in ("CUSTOMER", "PRODUCTS")]
    connection.close()
    assert counts == [len(sample_rows("customer")), len(sample_rows("products"))]  # the earlier load is intact


def test_a_missing_sample_file(project: Path):
    (project / "data" / "sample_inputs" / "products.csv").unlink()
    result = run("load", project=project)
    assert result.exit_code == 1 and "sources.products.sample: data/sample_inputs/products.csv not found" in result.output


def test_load_refuses_a_snowflake_target(project: Path):
    result = run("load", "--target", "prod", project=project)
    assert result.exit_code == 1 and "local DuckDB targets only" in result.output
