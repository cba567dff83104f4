"""SQL analysts write, read as they mean it (retailer shape, tests/retailer.py): a simple CASE, derived
metrics that use metrics defined further down, impossible date literals and unknown functions
caught at validate with file:line."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import edit, run, target_rows
from tests.retailer import write_retailer

METRICS = """\
metrics:
  - name: spend_per_line
    expr: home_spend / NULLIF(line_count, 0)
  - name: home_spend
    source: lines
    expr: "SUM(CASE UPPER(currency) WHEN 'EUR' THEN amount * 2 WHEN 'USD' THEN amount ELSE 0 END)"
  - name: line_count
    source: lines
    expr: COUNT(*)
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shop")
    write_retailer(root, metrics=METRICS, segments="segmentations: []\n", generated=12)
    assert run("validate", project=root).exit_code == 0
    assert run("load", project=root).exit_code == 0
    applied = run("apply", "--yes", project=root)
    assert applied.exit_code == 0, applied.output
    return root


def by_hand(root: Path) -> dict[str, tuple[Decimal | None, int]]:
    """(home_spend, line_count) per shopper from lines.csv: EUR counts double, USD once, others 0."""
    spend: dict[str, Decimal] = {}
    count: dict[str, int] = {}
    with (root / "data" / "lines.csv").open() as handle:
        for row in csv.DictReader(handle):
            factor = {"EUR": 2, "USD": 1}.get(row["currency"].upper(), 0)
            spend[row["shopper_no"]] = spend.get(row["shopper_no"], Decimal(0)) + Decimal(row["amount"]) * factor
            count[row["shopper_no"]] = count.get(row["shopper_no"], 0) + 1
    return {shopper: (spend.get(shopper), count.get(shopper, 0)) for shopper in _shoppers(root)}


def _shoppers(root: Path) -> list[str]:
    with (root / "data" / "shoppers.csv").open() as handle:
        return [row["shopper_no"] for row in csv.DictReader(handle)]


def test_simple_case_and_a_forward_reference_compute_the_hand_numbers(shop: Path):
    rows = target_rows(shop, "SELECT shopper_no, spend_per_line, home_spend, line_count FROM MART.CUSTOMER_METRICS")
    expected = by_hand(shop)
    assert len(rows) == len(expected) == 18
    for shopper, per_line, spend, count in rows:
        hand_spend, hand_count = expected[shopper]
        assert (spend, count) == (hand_spend, hand_count), shopper
        assert per_line == (pytest.approx(float(hand_spend) / hand_count) if hand_count else None), shopper
    assert any(spend and spend > 0 for _, _, spend, _ in rows) and any(spend == 0 for _, _, spend, count in rows if count)


MISTAKES = [
    ("impossible date", "  - name: late\n    source: lines\n    expr: COUNT_IF(line_no > 0 AND '2026-02-30' < CURRENT_DATE)\n",
     "'2026-02-30' is not a real date (February 2026 has 28 days)"),
    ("impossible date in a cast", "  - name: late\n    source: lines\n    expr: COUNT_IF(CURRENT_DATE > DATE '2026-04-31')\n",
     "'2026-04-31' is not a real date (April 2026 has 30 days)"),
    ("unknown function", "  - name: rating\n    source: lines\n    expr: MEDIAN_RATING(amount)\n",
     "`MEDIAN_RATING` is not a function rulectl knows (it compiles the Snowflake SQL functions both targets run); did you mean `MEDIAN`?"),
    ("simple case compares text with a number", "  - name: eur\n    source: lines\n    expr: SUM(CASE currency WHEN 1 THEN amount END)\n",
     "`currency = 1` compares `currency` (text) with the number 1"),
    ("forward cycle", "  - name: a_share\n    expr: b_share + 1\n  - name: b_share\n    expr: a_share / 2\n",
     "metrics refer to each other in a cycle: a_share → b_share → a_share"),
]


@pytest.mark.parametrize("case_id, metric, words", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistakes_are_named_at_validate_with_file_and_line(tmp_path: Path, case_id: str, metric: str, words: str):
    write_retailer(tmp_path, metrics="metrics:\n  - name: spend\n    source: lines\n    expr: SUM(amount)\n" + metric, segments="segmentations: []\n", generated=0)
    result = run("validate", project=tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "rules/metrics.yml:" in result.output and words in result.output, result.output
    line = int(result.output.split("rules/metrics.yml:")[1].split(":")[0])
    assert line == (6 if case_id == "forward cycle" else 7), result.output  # the new metric's `expr:` line


def test_currency_format_takes_a_currency_code(tmp_path: Path):
    from engine.cli import terminal_output
    from engine.config.loader import load_project
    from engine.features.segment_sizes import SegmentSize
    from rich.console import Console

    write_retailer(tmp_path, metrics="metrics:\n  - name: spend\n    source: lines\n    expr: SUM(amount)\n", segments="segmentations: []\n", generated=0)
    edit(tmp_path / "rulectl.yml", "  name: shopper_name\n", "  name: shopper_name\n  size: {metric: spend, format: currency, currency: EUR, label: Spend}\n")
    loaded = load_project(tmp_path)
    console = Console(record=True, width=120)
    terminal_output.print_segment_sizes(console, loaded, [SegmentSize("shelf", "Readers", 2, 1234.5), SegmentSize("shelf", "Others", 1, None)])
    shown = console.export_text()
    assert "€1,234" in shown or "€1,235" in shown, shown
    assert "$" not in shown
    assert terminal_output.format_value(1200, "currency", "chf") == "1,200 CHF"
