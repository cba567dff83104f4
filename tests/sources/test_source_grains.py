"""Sources that are not keyed by the customer (issue 23: a source at its own grain with a customer key
column; issue 26 item 5: lookups joined by a declared key), on two shapes (tests/sources/shapes.py):
numbers from the compiled SQL on a real DuckDB file and from the Snowflake SQL on fakesnow, equal to
numbers worked out by hand; orphans, duplicate lookup keys, explain, lint and rule tests on them."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.features.sample_data import source_table_statements
from tests.conftest import run
from tests.sources.shapes import HELPDESK_SEATS, HELPDESK_TICKETS, SHOP_EXPECTED, write_helpdesk, write_shop

SHOP_COLUMNS = "shopper_no, order_count, revenue_eur, shipped_line_total, shipped_lines_eur, line_count, value"


def read(root: Path, sql: str) -> list[tuple]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def plain(row: tuple) -> tuple:
    return tuple(float(v) if v is not None and not isinstance(v, (str, int)) else v for v in row)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[Path, str]:
    root = write_shop(tmp_path_factory.mktemp("lookups") / "shop")
    assert run("validate", project=root).exit_code == 0
    loaded = run("load", project=root)
    assert loaded.exit_code == 0, loaded.output
    applied = run("apply", "--yes", project=root)
    assert applied.exit_code == 0, applied.output
    return root, loaded.output


@pytest.fixture(scope="module")
def helpdesk(tmp_path_factory) -> tuple[Path, str]:
    root = write_helpdesk(tmp_path_factory.mktemp("grain") / "helpdesk")
    loaded = run("load", project=root)
    assert loaded.exit_code == 0, loaded.output
    for command in (("apply", "--yes"), ("run",)):
        result = run(*command, project=root)
        assert result.exit_code == 0, result.output
    return root, loaded.output


# ---------------------------------------------------------------- the shop: lookups and joins


def test_shop_numbers_match_the_hand_computation(shop):
    root, _ = shop
    got = {row[0]: plain(row[1:]) for row in read(root, f"SELECT {SHOP_COLUMNS} FROM MART.CUSTOMER_SEGMENTS")}
    assert got == SHOP_EXPECTED


def _fill_snowflake(cursor, root: Path, loaded) -> None:
    """Each declared source's table and sample rows (score tables are rulectl's own: left out)."""
    for source in (s for s in loaded.config.sources.values() if s.sample):
        for statement in source_table_statements(source):
            cursor.execute(statement.sql("snowflake"))
        with (root / source.sample).open() as handle:
            rows = list(csv.DictReader(handle))
        values = [exp.Tuple(expressions=[exp.Literal.string(r[c]) if r[c] != "" else exp.null() for c in source.columns]) for r in rows]
        cursor.execute(exp.insert(exp.values(values), source.table).sql("snowflake"))


def test_shop_snowflake_sql_gives_the_same_numbers(shop):
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    root, _ = shop
    loaded = load_project(root)
    views = {o.name: o for o in compile_project(loaded, "prod") if o.kind == "view"}
    metrics_sql = views["CUSTOMER_METRICS"].sql(pretty=False)
    # the lines take their customer and currency from their order, then the rate by that currency
    assert ("FROM RAW.ORDER_LINES AS order_lines LEFT JOIN RAW.ORDERS AS orders ON order_lines.order_id = orders.order_id "
            "LEFT JOIN REF.RATES AS rates ON orders.currency = rates.currency") in metrics_sql
    with fakesnow.patch():
        cursor = snowflake.connector.connect(database="SHOP", schema="PUBLIC").cursor()
        _fill_snowflake(cursor, root, loaded)
        cursor.execute("CREATE SCHEMA IF NOT EXISTS MART")
        for name in ("CUSTOMER_METRICS", "CUSTOMER_SEGMENTS"):
            cursor.execute(views[name].sql(pretty=False))
        cursor.execute(f"SELECT {SHOP_COLUMNS} FROM MART.CUSTOMER_SEGMENTS")
        assert {row[0]: plain(tuple(row[1:])) for row in cursor.fetchall()} == SHOP_EXPECTED


def test_shop_rows_without_a_customer_or_a_rate_are_named_at_load_and_in_plan(shop):
    root, load_output = shop
    order = "source orders: 1 row(s) have a `buyer` (the customer's `shopper_no`) that matches no row of `shoppers`, e.g. 'S9'; they count in no metric"
    line = ("source order_lines: 1 row(s) have a `buyer` (the customer's `shopper_no`) that matches no row of `shoppers` "
            "(their key is empty, or their `order_id` has no row in `orders`); they count in no metric")
    # O6 is in CHF, which the rates do not list: its order and its line keep their rows, without a rate
    rates = [f"source {name}: 1 row(s) have a `currency` that matches no row of `rates`, e.g. 'CHF'; their `eur_per_unit` is NULL" for name in ("orders", "order_lines")]
    assert all(message in load_output for message in [order, line, *rates])
    assert "warning: source rates" not in load_output  # a lookup has no customers
    assert "`order_id` that matches no row of `orders`" not in load_output  # said once, as the line's missing customer
    planned = run("plan", project=root)
    assert planned.exit_code == 0, planned.output
    assert all(message in planned.output for message in [order, line, *rates])


def test_shop_explain_shows_the_joined_rows(shop):
    root, _ = shop
    result = run("explain", "S2", project=root)
    assert result.exit_code == 0, result.output
    assert "shipped_line_total = 210    SUM(amount) over order_lines where status = 'shipped'  [3 row(s) of order_lines]" in result.output
    assert "revenue_eur = 192" in result.output
    # each line with what its joins add: the order's buyer and status, the rate of its currency
    assert "order_id: 'O4', line_no: 1, amount: 10, buyer: 'S2', status: 'shipped', currency: 'GBP', total: 10, eur_per_unit: 1.2" in result.output


def test_shop_lint_reads_joined_columns(shop):
    root, _ = shop
    result = run("lint", project=root)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def test_shop_rule_test_through_the_lookup(shop, tmp_path: Path):
    root = tmp_path / "shop"
    shutil.copytree(shop[0], root, ignore=shutil.ignore_patterns(".rulectl"))
    (root / "tests").mkdir()
    (root / "tests" / "eur.yml").write_text(
        "tests:\n  - name: a shipped USD order converts at its rate; a cancelled one counts in revenue only\n    given:\n"
        "      shoppers: [{shopper_no: A, shopper_name: Ann}]\n"
        "      rates: [{currency: USD, eur_per_unit: 0.5}, {currency: EUR, eur_per_unit: 1}]\n"
        "      orders: [{order_id: X1, buyer: A, status: shipped, currency: USD, total: 300}, {order_id: X2, buyer: A, status: cancelled, currency: EUR, total: 7}]\n"
        "      order_lines: [{order_id: X1, line_no: 1, amount: 300}, {order_id: X2, line_no: 1, amount: 7}]\n"
        "    expect:\n      - {shopper_no: A, order_count: 2, revenue_eur: 157, shipped_line_total: 300, shipped_lines_eur: 150, line_count: 2, value: Big}\n"
    )
    assert run("test", project=root).exit_code == 0
    (root / "tests" / "eur.yml").write_text((root / "tests" / "eur.yml").read_text().replace("shipped_lines_eur: 150", "shipped_lines_eur: 300"))
    failed = run("test", project=root)
    assert failed.exit_code == 1 and "shipped_lines_eur" in failed.output


def test_shop_duplicate_lookup_key_on_the_target_stops_plan(shop, tmp_path: Path):
    root = tmp_path / "shop"
    shutil.copytree(shop[0], root)
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"))
    connection.execute("INSERT INTO REF.RATES VALUES ('USD', 0.8)")
    connection.close()
    result = run("plan", project=root)
    assert result.exit_code == 1, result.output
    assert ("source `rates`: `currency` must identify one row, because other sources `join:` on it, but REF.RATES has USD (2 rows); "
            "a repeated key would count the rows that join it twice: fix the table") in result.output


@pytest.mark.parametrize("sample, line, new_line, message", [
    ("data/rates.csv", 5, "USD,0.8", "currency 'USD' appears again (first on line 3); source `rates` has one row per currency; a lookup has one row per key, or the rows that join it would count twice"),
    ("data/orders.csv", 4, "O1,S2,shipped,USD,200", "order_id 'O1' appears again (first on line 2); source `orders` has one row per order_id"),
], ids=["repeated lookup key", "repeated order at its own grain"])
def test_bad_load_input_repeated_key_is_refused_with_file_and_line(shop, tmp_path: Path, sample: str, line: int, new_line: str, message: str):
    root = tmp_path / "shop"
    shutil.copytree(shop[0], root, ignore=shutil.ignore_patterns(".rulectl"))
    lines = (root / sample).read_text().splitlines()
    lines[line - 1:line] = [new_line] if line <= len(lines) else []
    if line > len(lines):
        lines.append(new_line)
    (root / sample).write_text("\n".join(lines) + "\n")
    result = run("load", project=root)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{sample}:{line}: {message}" in result.output, result.output
    database = root / ".rulectl" / "local.duckdb"
    assert not database.exists() or read(root, "SELECT table_name FROM information_schema.tables WHERE table_schema <> 'main'") == []  # nothing loaded


# ---------------------------------------------------------------- the helpdesk: a ticket grain, an integer key


def test_helpdesk_numbers_match_the_hand_computation(helpdesk):
    root, _ = helpdesk
    scores = dict(read(root, "SELECT ticket_id, sentiment FROM AI.TICKETS_SENTIMENT"))
    assert set(scores) == set(HELPDESK_TICKETS)  # every ticket scored once, the orphan too
    expected = {}
    for account in (1, 2, 3):
        mine = [t for t, (owner, _) in HELPDESK_TICKETS.items() if owner == account]
        urgent = [t for t in mine if HELPDESK_TICKETS[t][1] == "high"]
        mean = lambda ids: sum(scores[t] for t in ids) / len(ids) if ids else None  # noqa: E731
        expected[account] = (len(mine), len(urgent), mean(mine), mean(urgent), HELPDESK_SEATS[account], "Watch" if urgent else "Quiet")
    got = {row[0]: tuple(row[1:]) for row in read(root, "SELECT account_no, ticket_count, urgent_tickets, mood, urgent_mood, seats, care FROM ANALYTICS.CUSTOMER_SEGMENTS")}
    assert got == expected
    assert scores["T1"] > 0 > scores["T2"]  # so account 1's mood is a mean of two different scores


def test_helpdesk_orphan_ticket_is_named_by_its_own_column(helpdesk):
    _, load_output = helpdesk
    assert "source tickets: 1 row(s) have a `account_ref` (the customer's `account_no`) that matches no row of `accounts`, e.g. '7'; they count in no metric" in load_output


def test_helpdesk_snowflake_sql(helpdesk):
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    root, _ = helpdesk
    loaded = load_project(root)
    objects = {o.qualified_name: o for o in compile_project(loaded, "prod")}
    # scores are kept per ticket; the account is read from the ticket when metrics aggregate them
    assert objects["AI.TICKETS_SENTIMENT"].sql(pretty=False) == (
        "CREATE TABLE AI.TICKETS_SENTIMENT (ticket_id VARCHAR, input_hash VARCHAR, sentiment DOUBLE, scored_at TIMESTAMPNTZ)"
    )
    metrics_sql = objects["ANALYTICS.CUSTOMER_METRICS"].sql(pretty=False)
    assert "tickets.account_ref AS account_no FROM AI.TICKETS_SENTIMENT AS tickets_sentiment LEFT JOIN DESK.TICKETS AS tickets ON tickets_sentiment.ticket_id = tickets.ticket_id" in metrics_sql
    scores = read(root, "SELECT ticket_id, sentiment FROM AI.TICKETS_SENTIMENT")
    with fakesnow.patch():
        cursor = snowflake.connector.connect(database="HELPDESK", schema="PUBLIC").cursor()
        _fill_snowflake(cursor, root, loaded)
        cursor.execute("CREATE SCHEMA IF NOT EXISTS AI")
        cursor.execute(objects["AI.TICKETS_SENTIMENT"].sql(pretty=False))
        cursor.execute("INSERT INTO AI.TICKETS_SENTIMENT (ticket_id, sentiment) VALUES " + ", ".join(f"('{t}', {s})" for t, s in scores))
        cursor.execute("CREATE SCHEMA IF NOT EXISTS ANALYTICS")
        cursor.execute(metrics_sql)
        cursor.execute("SELECT account_no, ticket_count, urgent_tickets, mood, urgent_mood, seats FROM ANALYTICS.CUSTOMER_METRICS")
        on_snowflake = sorted(tuple(row) for row in cursor.fetchall())
    on_duckdb = read(root, "SELECT account_no, ticket_count, urgent_tickets, mood, urgent_mood, seats FROM ANALYTICS.CUSTOMER_METRICS ORDER BY 1")
    assert on_snowflake == on_duckdb


@pytest.mark.parametrize("file, old, new, line, words", [
    ("rules/metrics.yml", "  - name: order_count\n    source: orders\n", "  - name: order_count\n    source: rates\n", 3,
     "`rates` is a lookup (it has no customers); aggregate the source that joins it (`join: {rates: <its column that holds the currency>}`)"),
    ("rulectl.yml", "    sample: data/order_lines.csv\n", "    sample: data/order_lines.csv\n    enrich: {sentiment: {text: order_id}}\n", 33,
     "sentiment scores of `order_lines` are kept per order_id and line_no and need the customer's `buyer` beside them"),
    ("rulectl.yml", "    lookup: {key: currency}          # no customers: one row per currency\n",
     "    lookup: {key: currency}          # no customers: one row per currency\n    join: {orders: currency}\n", 17,
     "a lookup is read through the sources that join it and cannot join others itself"),
], ids=["metric over a lookup", "sentiment where the customer comes by a join", "lookup that joins"])
def test_bad_input_on_the_shop_is_a_validate_error(tmp_path: Path, file: str, old: str, new: str, line: int, words: str):
    root = write_shop(tmp_path / "shop")
    text = (root / file).read_text()
    assert old in text
    (root / file).write_text(text.replace(old, new, 1))
    result = run("validate", project=root)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{file}:{line}: " in result.output and words in result.output, result.output


def test_helpdesk_search_finds_an_account_by_its_tickets(helpdesk):
    root, _ = helpdesk
    result = run("search", "still broken useless", project=root)
    assert result.exit_code == 0, result.output
    assert "1. Globex (2)" in result.output and "2. Acme (1)" in result.output  # Globex's one ticket says just that
    assert "Thanks for the quick help" not in result.output  # the orphan ticket belongs to no account's text


def test_a_lookup_columns_range_bounds_the_metrics_of_the_sources_that_join_it(tmp_path: Path):
    """lint's solver knows a joined column's declared range: a sum of rates that are never negative is never negative."""
    root = write_shop(tmp_path / "shop")
    (root / "rulectl.yml").write_text((root / "rulectl.yml").read_text().replace(
        "    sample: data/rates.csv\n", "    sample: data/rates.csv\n    ranges: {eur_per_unit: {min: 0}}\n"))
    (root / "rules" / "metrics.yml").write_text((root / "rules" / "metrics.yml").read_text() + "  - name: rate_sum\n    source: orders\n    expr: SUM(eur_per_unit)\n")
    (root / "rules" / "segments.yml").write_text(
        "segmentations:\n  - name: value\n    rules:\n      - {segment: Big, when: revenue_eur >= 150}\n      - {segment: Odd, when: rate_sum < 0}\n    default: Small\n")
    result = run("validate", project=root)
    assert result.exit_code == 1
    assert "rules/segments.yml:5: `when`: rule `Odd` can never match: `rate_sum < 0` is TRUE for no customer" in result.output
