"""A third project shape, a small retailer: customers keyed by `shopper_no`, order lines at line grain.

Written by the tests that need it (not the example's names anywhere), small enough to build once per
module. `write_retailer(root, metrics=…)` lays the project out; the data are built here with the
expected values beside them, computed in plain Python.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

RULECTL_YML = """\
name: corner_shop
default_target: local
entity: shoppers
targets:
  local: {engine: duckdb, path: .rulectl/local.duckdb, llm: {provider: offline}}
  prod: {engine: snowflake, connection: prod, database: SHOP, warehouse: SHOP_WH}
schemas: {analytics: MART, ai: MART_AI}
sources:
  shoppers:
    table: RAW.SHOPPERS
    key: shopper_no
    columns: {shopper_no: varchar, shopper_name: varchar, home_currency: varchar}
    sample: data/shoppers.csv
  lines:
    table: RAW.ORDER_LINES
    grain: [shopper_no, line_no]
    columns: {shopper_no: varchar, line_no: integer, category: varchar, amount: "number(10,2)", currency: varchar}
    sample: data/lines.csv
display:
  name: shopper_name
"""

DEFAULT_METRICS = """\
metrics:
  - name: favourite_category
    source: lines
    expr: MODE(category)
  - name: spend
    source: lines
    expr: SUM(amount)
"""

SEGMENTS = """\
segmentations:
  - name: shelf
    rules:
      - {segment: Readers, when: favourite_category = 'Books'}
    default: Others
"""

# Hand-written shoppers whose favourite category is a tie or otherwise worth a look; the
# documented tie-break is the most frequent non-NULL value, ties to the smallest value.
HAND_LINES = {
    "S1": ["Toys", "Books", "Books", "Toys"],  # 2-2 tie → Books
    "S2": ["Garden", "Toys", "Garden", "Garden"],  # Garden
    "S3": ["toys", "Toys"],  # a tie between cases → 'Toys' (upper case sorts first)
    "S4": [],  # no lines → NULL
    "S5": [None, None, None, "Books"],  # NULLs are not a value → Books
    "S6": ["Zebra", "Mango", "Apple"],  # three-way tie → Apple
}
HAND_FAVOURITE = {"S1": "Books", "S2": "Garden", "S3": "Toys", "S4": None, "S5": "Books", "S6": "Apple"}
CATEGORIES = ["Toys", "Books", "Garden", "Food", "Music"]


def shopper_lines(generated: int = 400) -> dict[str, list[str | None]]:
    """The hand-written shoppers, then `generated` more whose lines often tie (2 + 2 of two categories)."""
    lines = dict(HAND_LINES)
    for number in range(generated):
        first, second = CATEGORIES[number % 5], CATEGORIES[(number * 3 + 1) % 5]
        lines[f"G{number:04d}"] = [first, second, second, first] + ([CATEGORIES[number % 3]] if number % 4 == 0 else [])
    return lines


def favourite(values: list[str | None]) -> str | None:
    """The reference: most frequent non-NULL value, smallest among ties (Python's str order is byte order)."""
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    top = max(counts.values())
    return min(v for v, n in counts.items() if n == top)


def write_retailer(root: Path, metrics: str = DEFAULT_METRICS, segments: str = SEGMENTS, generated: int = 400) -> dict[str, list[str | None]]:
    """Lay out the retailer project under `root`; return each shopper's line categories."""
    (root / "rules").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "rulectl.yml").write_text(RULECTL_YML)
    (root / "rules" / "metrics.yml").write_text(metrics)
    (root / "rules" / "segments.yml").write_text(segments)
    lines = shopper_lines(generated)
    with (root / "data" / "shoppers.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["shopper_no", "shopper_name", "home_currency"])
        for number, shopper in enumerate(lines):
            writer.writerow([shopper, f"Shopper {shopper}", ("EUR", "usd", "GBP")[number % 3]])
    with (root / "data" / "lines.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["shopper_no", "line_no", "category", "amount", "currency"])
        line_no = 0
        for number, (shopper, categories) in enumerate(lines.items()):
            for category in categories:
                line_no += 1
                writer.writerow([shopper, line_no, category or "", f"{10 + line_no % 7}.50", ("EUR", "USD", "GBP")[number % 3]])
    return lines
