"""Window scores over the customer set (NTILE, RANK …) in derived metrics, retailer shape
(tests/retailer.py): the same scores on DuckDB at 1 and 16 threads and from the Snowflake SQL on
fakesnow, equal to scores computed by hand (ties in NTILE broken by the customer key)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.features.sample_data import source_table_statements
from tests.conftest import run
from tests.retailer import write_retailer

METRICS = """\
metrics:
  - name: spend_band
    expr: NTILE(4) OVER (ORDER BY spend DESC)
  - name: spend
    source: lines
    expr: SUM(amount)
  - name: spend_rank
    expr: RANK() OVER (ORDER BY spend)
"""
COLUMNS = "shopper_no, spend, spend_band, spend_rank"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shop")
    write_retailer(root, metrics=METRICS, segments="segmentations:\n  - name: tier\n    rules:\n      - {segment: Top, when: spend_band = 1}\n    default: Rest\n", generated=14)
    assert run("validate", project=root).exit_code == 0
    assert run("load", project=root).exit_code == 0
    applied = run("apply", "--yes", project=root)
    assert applied.exit_code == 0, applied.output
    return root


def by_hand(root: Path) -> dict[str, tuple]:
    """NTILE(4) over spend descending (NULL first, as Snowflake orders DESC), ties by shopper key;
    RANK over spend ascending (NULL last), ties share a rank."""
    spend: dict[str, Decimal | None] = {}
    with (root / "data" / "shoppers.csv").open() as handle:
        spend = {row["shopper_no"]: None for row in csv.DictReader(handle)}
    with (root / "data" / "lines.csv").open() as handle:
        for row in csv.DictReader(handle):
            spend[row["shopper_no"]] = (spend[row["shopper_no"]] or Decimal(0)) + Decimal(row["amount"])
    ordered = sorted(spend, key=lambda s: (spend[s] is not None, -(spend[s] or 0), s))
    n, buckets = len(ordered), 4
    size, extra = divmod(n, buckets)
    band, position = {}, 0
    for bucket in range(1, buckets + 1):
        for shopper in ordered[position:position + size + (1 if bucket <= extra else 0)]:
            band[shopper] = bucket
        position += size + (1 if bucket <= extra else 0)
    ascending = sorted(spend, key=lambda s: (spend[s] is None, spend[s] or 0))
    rank = {s: 1 + sum(1 for o in ascending if (spend[o] is not None and spend[s] is not None and spend[o] < spend[s]) or (spend[s] is None and spend[o] is not None)) for s in spend}
    return {s: (spend[s], band[s], rank[s]) for s in spend}


def read(root: Path, threads: int) -> dict[str, tuple]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        connection.execute(f"SET threads = {threads}")
        return {row[0]: row[1:] for row in connection.execute(f"SELECT {COLUMNS} FROM MART.CUSTOMER_METRICS").fetchall()}
    finally:
        connection.close()


def test_scores_match_the_hand_computation_at_any_thread_count(shop: Path):
    expected = by_hand(shop)
    assert len({v[0] for v in expected.values()}) < len(expected)  # some shoppers tie on spend
    assert read(shop, 1) == read(shop, 16) == expected


def test_the_snowflake_sql_gives_the_same_scores(shop: Path):
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    loaded = load_project(shop)
    view = next(o for o in compile_project(loaded, "prod") if o.name == "CUSTOMER_METRICS")
    assert "NTILE(4) OVER (ORDER BY lines_by_customer.spend DESC, shoppers.shopper_no ASC)" in view.sql(pretty=False)
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
        cursor.execute(view.sql(pretty=False))
        cursor.execute(f"SELECT {COLUMNS} FROM MART.CUSTOMER_METRICS")
        assert {row[0]: tuple(row[1:]) for row in cursor.fetchall()} == by_hand(shop)


def test_the_segment_reads_the_score(shop: Path):
    connection = duckdb.connect(str(shop / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        rows = connection.execute("SELECT spend_band, tier FROM MART.CUSTOMER_SEGMENTS").fetchall()
    finally:
        connection.close()
    assert {tier for band, tier in rows if band == 1} == {"Top"} and {tier for band, tier in rows if band != 1} == {"Rest"}


@pytest.mark.parametrize("metric, line, words", [
    ("  - name: top\n    source: lines\n    expr: NTILE(5) OVER (ORDER BY amount)\n", 7, "define it as a metric without `source:`"),
    ("  - name: share\n    expr: SUM(spend) OVER ()\n", 6, "of the window functions rulectl takes the customer scores NTILE"),
    ("  - name: band\n    expr: NTILE(5) OVER (PARTITION BY home_currency)\n", 6, "has no ORDER BY"),
], ids=["window on a source", "aggregate window", "no order"])
def test_windows_where_they_do_not_belong_are_validate_errors(tmp_path: Path, metric: str, line: int, words: str):
    write_retailer(tmp_path, metrics="metrics:\n  - name: spend\n    source: lines\n    expr: SUM(amount)\n" + metric, segments="segmentations: []\n", generated=0)
    result = run("validate", project=tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"rules/metrics.yml:{line}: " in result.output and words in result.output, result.output


def test_validate_warns_where_shoppers_without_lines_score(shop: Path):
    """spend is NULL for a shopper without lines, and NULL sorts above every value: both scores
    would put such shoppers with the biggest spenders. A warning at each score's line, exit 0."""
    result = run("validate", project=shop)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "rules/metrics.yml:3: `NTILE(4) OVER (ORDER BY spend DESC)`: a customer with no rows in `lines` has `spend` NULL" in said, said
    assert "write `spend DESC NULLS LAST` to score them with the smallest, `NULLS FIRST` to keep this" in said
    assert "rules/metrics.yml:8: `RANK() OVER (ORDER BY spend)`" in said and "write `spend NULLS FIRST` to score them with the smallest" in said
    assert said.count("warning:") == 2


def test_nulls_last_written_out_ranks_shoppers_without_lines_last(tmp_path: Path):
    """The fix the warning names, run as rule tests (the compiled view on DuckDB): by hand, spend
    A 10, D 7, C 5, B none; NTILE(2) by spend DESC NULLS LAST gives A, D band 1 and C, B band 2,
    where DESC alone gives B (NULL first) and A band 1."""
    metrics = METRICS.replace("ORDER BY spend DESC)", "ORDER BY spend DESC NULLS LAST)").replace("NTILE(4)", "NTILE(2)")
    metrics = metrics.replace("ORDER BY spend)", "ORDER BY spend NULLS LAST)")
    write_retailer(tmp_path, metrics=metrics, segments="segmentations:\n  - name: tier\n    rules:\n      - {segment: Top, when: spend_band = 1}\n    default: Rest\n", generated=0)
    (tmp_path / "tests").mkdir()
    shoppers = "".join(f"        - {{shopper_no: {s}, shopper_name: {s}, home_currency: EUR}}\n" for s in "ABCD")
    lines = "".join(f"        - {{shopper_no: {s}, line_no: {n}, category: Toys, amount: {a}, currency: EUR}}\n" for n, (s, a) in enumerate([("A", 10), ("C", 5), ("D", 7)], 1))
    expect = "".join(f"      - {{shopper_no: {s}, spend_band: {band}, spend_rank: {rank}, tier: {tier}}}\n"
                     for s, band, rank, tier in [("A", 1, 3, "Top"), ("B", 2, 4, "Rest"), ("C", 2, 1, "Rest"), ("D", 1, 2, "Top")])
    (tmp_path / "tests" / "scores.yml").write_text(f"tests:\n  - name: shoppers without lines score last\n    given:\n      shoppers:\n{shoppers}      lines:\n{lines}    expect:\n{expect}")
    validated = run("validate", project=tmp_path)
    assert validated.exit_code == 0 and "warning" not in validated.output, validated.output
    tested = run("test", project=tmp_path)
    assert tested.exit_code == 0 and "1 passed, 0 failed" in tested.output, tested.output
