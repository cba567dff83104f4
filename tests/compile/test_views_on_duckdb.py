"""The compiled views, executed on DuckDB against the sample data, give the numbers the CSVs imply."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import sample_rows
from tests.test_flow_helpers import deploy_views


@pytest.fixture
def metrics(project: Path) -> dict[str, dict]:
    backend = deploy_views(project)
    rows = backend.query("SELECT * FROM ANALYTICS.CUSTOMER_SEGMENTS")
    names = [d[0] for d in backend.connection.description]
    return {row[0]: dict(zip(names, row)) for row in rows}


def expected_by_customer() -> dict[str, dict]:
    """The metrics computed straight from the CSVs, in Python."""
    today = date.today()
    expected: dict[str, dict] = {}
    for customer in sample_rows("customer"):
        since = date.fromisoformat(customer["customer_since"])
        expected[customer["customer_id"]] = {
            "total_arr": None, "module_count": 0, "modules": set(), "renewals": [], "seats": 0, "users": 0,
            "tenure_years": today.year - since.year,
        }
    for product in sample_rows("products"):
        if product["status"] != "active":
            continue
        row = expected[product["customer_id"]]
        row["total_arr"] = (row["total_arr"] or Decimal(0)) + Decimal(product["arr"])
        row["modules"].add(product["module"])
        row["module_count"] = len(row["modules"])
        row["renewals"].append(date.fromisoformat(product["renewal_date"]))
        row["seats"] += int(product["seats"])
        row["users"] += int(product["active_users"])
    for row in expected.values():
        row["days_to_renewal"] = (min(row["renewals"]) - today).days if row["renewals"] else None
        row["adoption_rate"] = row["module_count"] / 4.0
        # integers divide to 6 decimals in Snowflake (https://docs.snowflake.com/en/sql-reference/operators-arithmetic)
        row["seat_utilization"] = round(row["users"] / row["seats"], 6) if row["seats"] else None
    return expected


def expected_tier(row: dict) -> str:
    arr, count, days, adoption = row["total_arr"], row["module_count"], row["days_to_renewal"], row["adoption_rate"]
    if arr is not None and arr >= 150000 and count >= 3:
        return "Strategic"
    if days is not None and days <= 120 and adoption < 0.5:
        return "At Risk"
    if count >= 2:
        return "Growth"
    return "Emerging"


def test_every_customer_appears_exactly_once(metrics):
    assert sorted(metrics) == sorted(c["customer_id"] for c in sample_rows("customer"))
    assert len(metrics) >= 150


def test_total_arr_equals_active_arr_in_products_csv(metrics):
    active_arr = sum(Decimal(p["arr"]) for p in sample_rows("products") if p["status"] == "active")
    all_arr = sum(Decimal(p["arr"]) for p in sample_rows("products"))
    assert sum(m["total_arr"] or 0 for m in metrics.values()) == active_arr
    assert active_arr < all_arr  # the sample has inactive modules, so the filter matters


def test_per_customer_metrics_match_python(metrics):
    expected = expected_by_customer()
    for customer_id, row in metrics.items():
        want = expected[customer_id]
        assert row["total_arr"] == want["total_arr"], customer_id
        assert row["module_count"] == want["module_count"], customer_id
        assert row["modules_owned"] == (", ".join(sorted(want["modules"])) or None), customer_id
        assert row["days_to_renewal"] == want["days_to_renewal"], customer_id
        assert row["tenure_years"] == want["tenure_years"], customer_id
        assert row["adoption_rate"] == pytest.approx(want["adoption_rate"]), customer_id
        if want["seat_utilization"] is None:
            assert row["seat_utilization"] is None
        else:
            # Snowflake divides fixed-point numbers at scale 6, and the DuckDB fixes do the same
            assert float(row["seat_utilization"]) == pytest.approx(round(want["seat_utilization"], 6), abs=1e-9), customer_id


def test_customers_without_products_get_zero_counts_and_null_sums(metrics):
    with_products = {p["customer_id"] for p in sample_rows("products") if p["status"] == "active"}
    without = [m for cid, m in metrics.items() if cid not in with_products]
    assert without, "the sample needs customers with no active products"
    assert all(m["module_count"] == 0 and m["total_arr"] is None and m["adoption_rate"] == 0 for m in without)
    assert all(m["account_tier"] == "Emerging" for m in without)


def test_each_customer_gets_the_first_matching_tier(metrics):
    expected = expected_by_customer()
    tiers = {cid: expected_tier(expected[cid]) for cid in metrics}
    assert {cid: m["account_tier"] for cid, m in metrics.items()} == tiers
    assert set(tiers.values()) == {"Strategic", "At Risk", "Growth", "Emerging"}


def test_match_all_lists_every_matching_label(metrics):
    expected = expected_by_customer()
    counts: dict[str, int] = defaultdict(int)
    for customer_id, row in metrics.items():
        want = expected[customer_id]
        labels = []
        if want["total_arr"] is not None and "CR" not in want["modules"] and want["total_arr"] >= 50000:
            labels.append("Cross-sell CR")
        if want["days_to_renewal"] is not None and 0 <= want["days_to_renewal"] <= 90:
            labels.append("Renewal due")
        if want["seat_utilization"] is not None and want["seat_utilization"] < 0.5:
            labels.append("Low adoption")
        assert row["opportunities"] == labels, customer_id
        for label in labels:
            counts[label] += 1
    assert all(counts[label] > 0 for label in ("Cross-sell CR", "Renewal due", "Low adoption"))


def test_action_column_follows_the_tier(metrics):
    actions = {"Strategic": "Executive business review before renewal", "At Risk": "Adoption workshop and renewal call", "Growth": "Quarterly value review", "Emerging": None}
    assert all(m["account_tier_action"] == actions[m["account_tier"]] for m in metrics.values())


def add_nps_source(project: Path, first: bool = False) -> dict[str, int]:
    """A second key-grain source (survey scores) covering only some customers."""
    scores = {c["customer_id"]: (index * 7) % 11 for index, c in enumerate(sample_rows("customer")[:40])}
    (project / "data" / "sample_inputs" / "nps.csv").write_text("customer_id,nps_score\n" + "".join(f"{cid},{score}\n" for cid, score in scores.items()))
    source = "  nps:\n    table: GOLD.NPS\n    key: customer_id\n    columns: {customer_id: varchar, nps_score: integer}\n    sample: data/sample_inputs/nps.csv\n"
    config = project / "rulectl.yml"
    text = config.read_text()
    anchor = "sources:\n" if first else "display:"  # first among the sources, or the last one
    config.write_text(text.replace(anchor, "sources:\n" + source if first else source + anchor, 1))
    with (project / "rules" / "metrics.yml").open("a") as handle:
        handle.write("  - name: nps\n    source: nps\n    expr: nps_score\n  - name: promoter\n    expr: nps >= 9\n")
    return scores


def test_a_second_key_grain_source_joins_without_duplicating_customers(project: Path):
    scores = add_nps_source(project)
    backend = deploy_views(project)
    rows = dict(backend.query("SELECT customer_id, nps FROM ANALYTICS.CUSTOMER_METRICS"))
    assert len(rows) == len(sample_rows("customer"))
    assert rows == {c["customer_id"]: scores.get(c["customer_id"]) for c in sample_rows("customer")}
    promoters = backend.query("SELECT COUNT(*) FROM ANALYTICS.CUSTOMER_METRICS WHERE promoter")[0][0]
    assert promoters == sum(1 for score in scores.values() if score >= 9)


def test_entity_names_the_source_that_lists_every_customer(project: Path):
    add_nps_source(project, first=True)  # the first key-grain source now covers only 40 customers
    assert "entity: customer" in (project / "rulectl.yml").read_text()
    backend = deploy_views(project)
    assert backend.query("SELECT COUNT(*) FROM ANALYTICS.CUSTOMER_METRICS")[0][0] == len(sample_rows("customer"))
