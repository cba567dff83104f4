"""MIN_BY / MAX_BY with ties in the ordering key, and LISTAGG without a delimiter, give one answer on
every run and on both targets: the view read at 1 and 16 DuckDB threads and the Snowflake SQL on
fakesnow agree with a Python reference (retailer shape, many ties), and with values written out by
hand (clinic shape). The forms rulectl cannot make deterministic are refused with the fix."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.features.sample_data import source_table_statements
from tests.clinic import METRICS, write_clinic
from tests.conftest import run
from tests.retailer import write_retailer

SHOP_METRICS = """\
metrics:
  - name: cheapest_category
    source: lines
    expr: MIN_BY(category, FLOOR(amount / 5))
  - name: priciest_category
    source: lines
    expr: (MAX_BY(category, FLOOR(amount / 5)))
  - name: priciest_known
    source: lines
    expr: MAX_BY(category, FLOOR(amount / 5))
    filter: category IS NOT NULL
  - name: shelves
    source: lines
    expr: LISTAGG(DISTINCT category) WITHIN GROUP (ORDER BY category)
"""
COLUMNS = ("cheapest_category", "priciest_category", "priciest_known", "shelves")


def build(root: Path) -> Path:
    for command in ("load", "apply"):
        result = run(command, *(["--yes"] if command == "apply" else []), project=root)
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shop_ties")
    write_retailer(root, metrics=SHOP_METRICS, segments="segmentations: []\n", generated=150)
    return build(root)


def price_band(amount: str) -> int:
    """FLOOR(amount / 5), the ordering key: amounts 10.50 … 16.50 fall in two bands, so most
    shoppers have several lines that tie on it."""
    return math.floor(float(amount) / 5)


def reference(root: Path) -> dict[str, tuple]:
    """Each shopper's answers in plain Python from the CSV: the smallest (largest) price band's rows,
    the smallest category among them (NULL only when every tied row has none)."""
    lines: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
    with (root / "data" / "lines.csv").open() as handle:
        for row in csv.DictReader(handle):
            lines[row["shopper_no"]].append((price_band(row["amount"]), row["category"] or None))
    with (root / "data" / "shoppers.csv").open() as handle:
        shoppers = [row["shopper_no"] for row in csv.DictReader(handle)]

    def pick(rows: list[tuple[int, str | None]], best) -> str | None:
        if not rows:
            return None
        target = best(amount for amount, _ in rows)
        tied = [category for amount, category in rows if amount == target]
        known = [c for c in tied if c is not None]
        return min(known) if known else None

    answers = {}
    for shopper in shoppers:
        rows = lines.get(shopper, [])
        known_rows = [r for r in rows if r[1] is not None]
        categories = sorted({c for _, c in known_rows})
        answers[shopper] = (pick(rows, min), pick(rows, max), pick(known_rows, max), "".join(categories) if rows else None)
    return answers


def read_at(root: Path, threads: int) -> dict[str, tuple]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        connection.execute(f"SET threads = {threads}")
        rows = connection.execute(f"SELECT shopper_no, {', '.join(COLUMNS)} FROM MART.CUSTOMER_METRICS").fetchall()
    finally:
        connection.close()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_min_by_max_by_and_listagg_are_the_same_at_1_and_16_threads(shop: Path):
    one, sixteen = read_at(shop, 1), read_at(shop, 16)
    assert one == sixteen == reference(shop)
    assert tied_shoppers(shop) > 50  # shoppers whose cheapest or dearest lines hold different categories


def tied_shoppers(root: Path) -> int:
    lines: dict[str, list[tuple[int, str]]] = defaultdict(list)
    with (root / "data" / "lines.csv").open() as handle:
        for row in csv.DictReader(handle):
            lines[row["shopper_no"]].append((price_band(row["amount"]), row["category"]))
    tied = 0
    for rows in lines.values():
        for best in (min, max):
            target = best(a for a, _ in rows)
            tied += len({c for a, c in rows if a == target}) > 1
    return tied


def test_the_snowflake_sql_gives_the_same_answers(shop: Path):
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    loaded = load_project(shop)
    view = next(o for o in compile_project(loaded, "prod") if o.name == "CUSTOMER_METRICS")
    sql = view.sql(pretty=False)
    assert "LISTAGG(DISTINCT category, '') WITHIN GROUP (ORDER BY category)" in sql  # Snowflake's default, written out
    assert "ORDER BY rulectl_order DESC NULLS LAST, rulectl_value ASC) = 1" in sql  # ASC: NULLs last in Snowflake
    with fakesnow.patch():
        cursor = snowflake.connector.connect(database="SHOP", schema="PUBLIC").cursor()
        for source in loaded.config.sources.values():
            for statement in source_table_statements(source):
                cursor.execute(statement.sql("snowflake"))
            with (shop / source.sample).open() as handle:
                rows = list(csv.DictReader(handle))
            values = [exp.Tuple(expressions=[exp.Literal.string(r[c]) if r[c] != "" else exp.null() for c in source.columns]) for r in rows]
            cursor.execute(exp.insert(exp.values(values), source.table).sql("snowflake"))
        cursor.execute("CREATE SCHEMA IF NOT EXISTS MART")
        cursor.execute(sql)
        cursor.execute(f"SELECT shopper_no, {', '.join(COLUMNS)} FROM MART.CUSTOMER_METRICS")
        assert {row[0]: tuple(row[1:]) for row in cursor.fetchall()} == reference(shop)


def test_ties_by_hand_on_the_clinic(tmp_path: Path):
    extra = (
        "  - name: dearest_visit\n    source: visits\n    expr: MAX_BY(visit_no, fee)\n"  # Ben's two 45.00 visits tie → visit 4
        "  - name: quickest_rate\n    source: visits\n    expr: MIN_BY(rate, minutes)\n"
        "  - name: visit_list\n    source: visits\n    expr: LISTAGG(visit_no) WITHIN GROUP (ORDER BY visit_no)\n"
    )
    root = build(write_clinic(tmp_path, METRICS + extra))
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        rows = connection.execute("SELECT patient_ref, dearest_visit, quickest_rate, visit_list FROM CARE.CUSTOMER_METRICS ORDER BY 1").fetchall()
    finally:
        connection.close()
    assert rows == [("P1", 2, 0.1, "123"), ("P2", 4, 0.25, "45"), ("P3", None, None, None), ("P4", 6, 0.005, "6")]


REFUSED = [
    ("MIN_BY(category, amount) || 'x'", "make `MIN_BY(category, amount)` a metric of its own"),
    ("MAX_BY(category, amount, 3)", "ARRAY_SLICE(ARRAY_AGG(category) WITHIN GROUP (ORDER BY amount DESC, category), 0, 3)"),
]


@pytest.mark.parametrize("expr, fix", REFUSED, ids=[e for e, _ in REFUSED])
def test_forms_without_a_tie_break_are_refused_with_the_deterministic_form(tmp_path: Path, expr: str, fix: str):
    write_retailer(tmp_path, metrics=f"metrics:\n  - name: pick\n    source: lines\n    expr: {expr}\n", segments="segmentations: []\n", generated=0)
    result = run("validate", project=tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "rules/metrics.yml:4: " in result.output and fix in result.output, result.output


def test_min_by_reads_a_joined_lookup_column_on_the_lookup_shop(tmp_path: Path):
    from tests.sources.shapes import SHOP_DATA, SHOP_SEGMENTS, SHOP_YML, write_project

    metrics = (
        "metrics:\n"
        "  - name: biggest_order\n    source: orders\n    expr: MAX_BY(order_id, total * eur_per_unit)\n"  # the rate comes from the join
        "  - name: first_currency\n    source: orders\n    expr: MIN_BY(currency, status)\n"
    )
    root = build(write_project(tmp_path, SHOP_YML, metrics, SHOP_SEGMENTS.replace("revenue_eur >= 150", "biggest_order = 'O3'"), SHOP_DATA))
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        rows = connection.execute("SELECT shopper_no, biggest_order, first_currency FROM MART.CUSTOMER_METRICS ORDER BY 1").fetchall()
    finally:
        connection.close()
    # by hand: S1's O1 is worth 100 € against O2's 45 €, and `cancelled` sorts before `shipped`; S2's O3
    # (180 €) beats O4 (12 €), and both are `shipped`: the tie goes to the smaller currency, GBP; S3's
    # only order is in CHF, which has no rate, so no value to order by
    assert rows == [("S1", "O1", "USD"), ("S2", "O3", "GBP"), ("S3", None, "CHF")]
