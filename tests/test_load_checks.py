"""Loads say what they would change or lose silently (retailer shape, tests/retailer.py): a decimal
CSV column declared integer, rows whose customer key matches no customer (unknown, other case);
plan notes the unmatched rows per source; `checks:` on a source turns a warning into a refusal."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import edit, run, target_rows
from tests.retailer import write_retailer

EXTRA_LINES = "s1,900,Toys,4.25,EUR\n S2 ,901,Toys,5.00,EUR\nZZ9,902,Toys,6.00,EUR\n"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shop")
    write_retailer(root, generated=4)
    edit(root / "rulectl.yml", 'amount: "number(10,2)"', 'amount: "number(10,1)"')
    with (root / "data" / "lines.csv").open("a") as handle:
        handle.write(EXTRA_LINES)
    return root


def hand_counts(root: Path) -> tuple[int, int]:
    """(amounts with a second decimal, lines whose shopper is not a shopper) read straight from the CSVs."""
    with (root / "data" / "shoppers.csv").open() as handle:
        shoppers = {row["shopper_no"] for row in csv.DictReader(handle)}
    with (root / "data" / "lines.csv").open() as handle:
        lines = list(csv.DictReader(handle))
    return sum(1 for r in lines if r["amount"].rstrip("0").split(".")[1:] and len(r["amount"].rstrip("0").split(".")[1]) > 1), sum(1 for r in lines if r["shopper_no"] not in shoppers)


def test_load_warns_about_cut_values_and_unmatched_rows_and_plan_repeats_the_counts(shop: Path):
    cut, unmatched = hand_counts(shop)
    assert (cut, unmatched) == (1, 3)
    loaded = run("load", project=shop)
    assert loaded.exit_code == 0, loaded.output
    assert f"warning: data/lines.csv: {cut} value(s) of `amount` cut to number(10,1) (e.g. 4.25 → 4.3)" in loaded.output, loaded.output
    note = f"source lines: {unmatched} row(s) have a `shopper_no` that matches no row of `shoppers` (2 differ from a customer's key only in letter case or spaces), e.g. ' S2 '; they count in no metric"
    assert f"warning: {note}" in loaded.output
    assert [float(v) for (v,) in target_rows(shop, "SELECT amount FROM RAW.ORDER_LINES WHERE line_no = 900")] == [4.3]  # loaded as declared, and said so

    assert run("apply", "--yes", project=shop).exit_code == 0
    planned = run("plan", "--detailed-exitcode", project=shop)
    assert planned.exit_code == 0 and f"note: {note}" in planned.output, planned.output


def test_refuse_policy_loads_nothing(shop: Path, tmp_path: Path):
    root = tmp_path / "strict"
    write_retailer(root, generated=0)
    edit(root / "rulectl.yml", "    sample: data/lines.csv\n", "    sample: data/lines.csv\n    checks: {orphans: refuse}\n")
    with (root / "data" / "lines.csv").open("a") as handle:
        handle.write("ZZ9,902,Toys,6.00,EUR\n")
    refused = run("load", project=root)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "not loaded: source lines: 1 row(s) have a `shopper_no` that matches no row of `shoppers`, e.g. 'ZZ9'" in refused.output, refused.output
    assert not (root / ".rulectl" / "local.duckdb").exists() or target_rows(root, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'ORDER_LINES'") == [(0,)]
