"""Numbers reach prompts as their metric's format or column type says, the same text on DuckDB and
on the Snowflake SQL (fakesnow), so the same input hash; an edit that changes no value re-prices
nothing. Shapes: the clinic (tests/clinic.py, text written out by hand) and the renamed project."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from engine import workflow
from engine.compile.project import compile_project
from engine.compile.prompt_values import NumberFormat, input_formats
from engine.compile.prompts import compile_prompt, rendered_inputs_query
from engine.config.loader import load_project
from engine.config.project import INSIGHTS_VIEW, LATEST_VIEW_PREFIX
from engine.features.sample_data import source_table_statements
from tests.clinic import FIELDS, HAND_TEXT, METRICS, data_block, write_clinic
from tests.conftest import REPO, edit, run


def rendered(root: Path, prompt_index: int = 0) -> dict[str, tuple[str, str]]:
    """key → (data block, input hash) as the local target renders them now."""
    loaded = load_project(root)
    query = rendered_inputs_query(compile_prompt(loaded, loaded.prompts[prompt_index]))
    from engine.backends.registry import open_backend

    backend = open_backend(loaded)
    try:
        rows = backend.query(query)
    finally:
        backend.close()
    return {row[0]: (row[5].split("\n\n")[0], row[3]) for row in rows}


@pytest.fixture(scope="module")
def clinic(tmp_path_factory) -> Path:
    root = write_clinic(tmp_path_factory.mktemp("clinic"))
    for command in ("load", "apply"):
        result = run(command, *(["--yes"] if command == "apply" else []), project=root)
        assert result.exit_code == 0, result.output
    return root


def test_each_number_is_written_as_its_format_or_declared_type_says(clinic: Path):
    texts = rendered(clinic)
    assert {key: block for key, (block, _) in texts.items()} == {key: data_block(key) for key in HAND_TEXT}


def test_the_snowflake_sql_writes_the_same_text_and_hash(clinic: Path):
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    loaded = load_project(clinic)
    compiled = compile_prompt(loaded, loaded.prompts[0])
    sql = rendered_inputs_query(compiled).sql("snowflake")
    assert "CAST(ROUND(CAST(b.total_fees AS DECIMAL(38, 12)), 2) AS DECIMAL(38, 2))" in sql  # the statement Snowflake is sent
    with fakesnow.patch():
        cursor = snowflake.connector.connect(database="CLINIC", schema="PUBLIC").cursor()
        for source in loaded.config.sources.values():
            for statement in source_table_statements(source):
                cursor.execute(statement.sql("snowflake"))
            with (clinic / source.sample).open() as handle:
                rows = list(csv.DictReader(handle))
            values = [exp.Tuple(expressions=[exp.Literal.string(r[c]) if r[c] != "" else exp.null() for c in source.columns]) for r in rows]
            cursor.execute(exp.insert(exp.values(values), source.table).sql("snowflake"))
        for obj in compile_project(loaded, "prod"):
            if obj.kind in ("schema", "view") and obj.name != INSIGHTS_VIEW and not obj.name.startswith(LATEST_VIEW_PREFIX):
                cursor.execute(obj.sql(pretty=False))
        cursor.execute(sql)
        snowflake_texts = {row[0]: (row[5].split("\n\n")[0], row[3]) for row in cursor.fetchall()}
    assert snowflake_texts == rendered(clinic)


def test_an_edit_that_changes_no_value_reprices_nothing(tmp_path: Path):
    root = write_clinic(tmp_path)
    assert run("load", project=root).exit_code == 0 and run("apply", "--yes", project=root).exit_code == 0
    first = workflow.run_refreshes(load_project(root), None, [])[0]
    assert first.calls == len(HAND_TEXT)
    # the same values from expressions of other SQL types and scales: NUMBER(38,2) → NUMBER(38,6),
    # FLOAT → FLOAT × 1, a divisor of scale 2 (the percent's ratio gets scale 8 instead of 6)
    edit(root / "rules" / "metrics.yml", "expr: SUM(fee)\n    format: currency\n    currency: EUR", "expr: SUM(fee * 1.0000)\n    format: currency\n    currency: EUR")
    edit(root / "rules" / "metrics.yml", "expr: AVG(rate)\n", "expr: AVG(rate) * 1\n")
    edit(root / "rules" / "metrics.yml", "visit_count / 3.0", "visit_count / 3.00")
    assert run("apply", "--yes", project=root).exit_code == 0
    assert workflow.run_refreshes(load_project(root), None, [])[0].calls == 0
    # a change of text for one patient only: Ana's 1/3 at 5 decimals (0.33333); 0.25 and 0.005 stay
    edit(root / "rules" / "metrics.yml", "decimals: 4", "decimals: 5")
    assert run("apply", "--yes", project=root).exit_code == 0
    assert workflow.run_refreshes(load_project(root), None, [])[0].calls == 1


def test_the_renamed_project_writes_its_size_metric_as_currency(tmp_path: Path):
    root = tmp_path / "renamed"
    shutil.copytree(REPO / "tests" / "projects" / "renamed", root)
    assert run("load", project=root).exit_code == 0 and run("apply", "--yes", project=root).exit_code == 0
    fees: dict[str, Decimal] = defaultdict(Decimal)
    with (root / "data" / "modules.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["state"] == "live":
                fees[row["account_id"]] += Decimal(row["module_fee"])
    tickets: dict[str, int] = defaultdict(int)
    with (root / "data" / "tickets.csv").open() as handle:
        for row in csv.DictReader(handle):
            tickets[row["account_id"]] += 1
    texts = rendered(root)  # account_summary: `display.size` says total_contract_value is currency (USD)
    assert texts, "no account rendered"
    for account, (block, _) in texts.items():
        lines = dict(line.split(": ", 1) for line in block.splitlines()[1:-1])
        assert lines["total_contract_value"] == (f"${fees[account]:.2f}" if account in fees else "n/a")
        assert lines["open_tickets"] == str(tickets[account])  # a count: no decimals


@pytest.mark.parametrize("fmt, value, text", [
    (NumberFormat(2), 0.06666666666666667, "0.07"),
    (NumberFormat(2), 15085.8864, "15085.89"),
    (NumberFormat(2), 3.0, "3"),
    (NumberFormat(1, percent=True), 0.06666666666666667, "6.7%"),
    (NumberFormat(2, currency="EUR"), -1200.5, "-€1200.50"),
    (NumberFormat(2, currency="CHF"), -0.001, "0.00 CHF"),
    (NumberFormat(0, currency="JPY"), 2.5, "¥3"),
])
def test_the_sql_and_its_documented_example_agree_on_duckdb(fmt: NumberFormat, value: float, text: str):
    from engine.backends.duckdb_fixes import FixContext, apply_fixes
    from engine.compile.prompt_values import number_text

    select = exp.select(number_text(exp.column("v"), fmt).as_("t")).from_("t")
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (v DOUBLE)")
    connection.execute("INSERT INTO t VALUES (?)", [value])
    assert connection.execute(apply_fixes(select, FixContext()).sql("duckdb")).fetchone()[0] == text == fmt.example(value)


def test_format_keys_are_checked(tmp_path: Path):
    write_clinic(tmp_path, METRICS.replace("    currency: chf\n", "    currency: chf\n    decimals: 12\n").replace("  - name: visit_count\n    source: visits\n", "  - name: visit_count\n    source: visits\n    currency: EUR\n"))
    result = run("validate", project=tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "rules/metrics.yml:" in result.output and "only applies to `format: currency`" in result.output, result.output


def test_every_number_field_of_the_clinic_has_a_format(clinic: Path):
    formats = input_formats(load_project(clinic))
    assert all(isinstance(formats[field], NumberFormat) for field in FIELDS if field != "full_name")


def test_the_terminal_prints_display_columns_by_the_same_formats(clinic: Path):
    from engine.cli.terminal_output import format_value, shown_formats

    formats = shown_formats(load_project(clinic))
    assert format_value(62.75, *formats["total_fees"]) == "€63"  # the terminal rounds money to whole units
    assert format_value(62.75, *formats["fees_chf"]) == "63 CHF"
    assert format_value(2 / 3, *formats["visit_share"]) == "66.7%"
    assert "visit_count" not in formats  # no format: a plain number
