"""Aggregates whose result depends on row order are refused or compiled with a documented tie-break:
the same view read at 1 and 16 DuckDB threads, and the Snowflake SQL on fakesnow, give the
hand-computed favourite of every shopper (retailer shape, tests/retailer.py)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.features.sample_data import source_table_statements
from tests.conftest import run
from tests.retailer import HAND_FAVOURITE, favourite, write_retailer


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("shop")
    lines = write_retailer(root)
    assert run("validate", project=root).exit_code == 0
    assert run("load", project=root).exit_code == 0
    applied = run("apply", "--yes", project=root)
    assert applied.exit_code == 0, applied.output
    return root, lines


def favourites_at(root: Path, threads: int) -> dict[str, str | None]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        connection.execute(f"SET threads = {threads}")
        return dict(connection.execute("SELECT shopper_no, favourite_category FROM MART.CUSTOMER_METRICS").fetchall())
    finally:
        connection.close()


def test_mode_breaks_ties_to_the_smallest_value_at_any_thread_count(shop):
    root, lines = shop
    one, sixteen = favourites_at(root, 1), favourites_at(root, 16)
    assert one == sixteen
    assert {s: one[s] for s in HAND_FAVOURITE} == HAND_FAVOURITE
    assert one == {shopper: favourite(values) for shopper, values in lines.items()}
    assert sum(1 for values in lines.values() if tied(values)) > 250  # most answers are a tie-break


def tied(values: list[str | None]) -> bool:
    counts = sorted(Counter(v for v in values if v is not None).values(), reverse=True)
    return len(counts) > 1 and counts[0] == counts[1]


def test_the_snowflake_sql_gives_the_same_favourites(shop):
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    root, lines = shop
    loaded = load_project(root)
    view = next(o for o in compile_project(loaded, "prod") if o.name == "CUSTOMER_METRICS")
    assert "ROW_NUMBER() OVER (PARTITION BY shopper_no ORDER BY rulectl_rows DESC NULLS LAST, rulectl_value) = 1" in view.sql(pretty=False)
    with fakesnow.patch():
        cursor = snowflake.connector.connect(database="SHOP", schema="PUBLIC").cursor()
        for name, source in loaded.config.sources.items():
            for statement in source_table_statements(source):
                cursor.execute(statement.sql("snowflake"))
            with (root / source.sample).open() as handle:
                rows = list(csv.DictReader(handle))
            values = [exp.Tuple(expressions=[exp.Literal.string(r[c]) if r[c] != "" else exp.null() for c in source.columns]) for r in rows]
            cursor.execute(exp.insert(exp.values(values), source.table).sql("snowflake"))
        cursor.execute("CREATE SCHEMA IF NOT EXISTS MART")
        cursor.execute(view.sql(pretty=False))
        cursor.execute("SELECT shopper_no, favourite_category FROM MART.CUSTOMER_METRICS")
        assert dict(cursor.fetchall()) == {shopper: favourite(values) for shopper, values in lines.items()}


ORDER_DEPENDENT = [
    ("ANY_VALUE(category)", "write MIN(category) or MAX(category)"),
    ("LISTAGG(category, ', ')", "LISTAGG(category, ', ') WITHIN GROUP (ORDER BY category)"),
    ("LISTAGG(DISTINCT category, '/') WITHIN GROUP (ORDER BY amount)", "LISTAGG(DISTINCT category, '/') WITHIN GROUP (ORDER BY amount, category)"),
    ("ARRAY_AGG(category)", "ARRAY_AGG(category) WITHIN GROUP (ORDER BY category)"),
    ("ARRAY_UNIQUE_AGG(category)", "ARRAY_AGG(DISTINCT category) WITHIN GROUP (ORDER BY category)"),
    ("COUNT(*) + LENGTH(MODE(category))", "make `MODE(category)` a metric of its own"),
]


@pytest.mark.parametrize("expr, fix", ORDER_DEPENDENT, ids=[e for e, _ in ORDER_DEPENDENT])
def test_order_dependent_aggregates_are_refused_with_the_deterministic_form(tmp_path: Path, expr: str, fix: str):
    write_retailer(tmp_path, metrics=f"metrics:\n  - name: shelf_mix\n    source: lines\n    expr: {expr}\n", segments="segmentations: []\n", generated=0)
    result = run("validate", project=tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "rules/metrics.yml:4: " in result.output and fix in result.output, result.output


def test_ordered_forms_are_accepted(tmp_path: Path):
    metrics = (
        "metrics:\n"
        "  - name: shelves\n    source: lines\n    expr: LISTAGG(DISTINCT category, '/') WITHIN GROUP (ORDER BY category)\n"
        "  - name: by_amount\n    source: lines\n    expr: ARRAY_AGG(category) WITHIN GROUP (ORDER BY amount DESC, category)\n"
        "  - name: top\n    source: lines\n    expr: (MODE(UPPER(category)))\n"
    )
    write_retailer(tmp_path, metrics=metrics, segments="segmentations: []\n", generated=0)
    result = run("validate", project=tmp_path)
    assert result.exit_code == 0, result.output
