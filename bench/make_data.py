"""Write customer.csv and products.csv of the sample shape at any scale.

    python bench/make_data.py --customers 150 --out data/sample_inputs            # the shipped sample
    python bench/make_data.py --customers 1000000 --out /tmp/big                  # ~2.5M product rows

Deterministic for a given --seed and --as-of: municipalities with varied module mixes, ARR, seats and
active users, contract and renewal dates spread around the as-of date, some customers with no
products and some inactive modules. Streams rows, so memory stays flat at any scale.
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from pathlib import Path

MODULES = ("GL", "AP", "AR", "CR")
# ARR per module scales with population; GL is the anchor product, CR the cheapest.
BASE_ARR = {"GL": 30000, "AP": 18000, "AR": 16000, "CR": 9000}
STATES = ("IL", "OH", "MI", "WI", "MN", "IA", "MO", "IN", "PA", "NY", "TX", "CO", "OR", "WA", "GA", "NC", "VA", "KS", "NE", "AZ")
PLACES = (
    "Springfield,Riverton,Fairview,Franklin,Greenville,Bristol,Clinton,Madison,Georgetown,Salem,Arlington,"
    "Ashland,Burlington,Manchester,Milton,Oxford,Dover,Hudson,Kingston,Lebanon,Marion,Newport,Oakland,"
    "Centerville,Jackson,Lakewood,Monroe,Plymouth,Richmond,Winchester,Auburn,Dayton,Lexington,Milford,"
    "Mount Vernon,Shelbyville,Trenton,Waverly,Columbia,Hamilton,Lancaster,Chester,Cleveland,Troy,Athens,"
    "Florence,Glendale,Hillsboro,Oak Grove,Pleasant Hill,Riverside,Rockford,Summit,Union,Warren"
).split(",")
KINDS = ("City of {}", "Town of {}", "{} County", "Village of {}", "{} Township")
OWNERS = ("Dana Whitfield", "Marcus Lee", "Priya Raman", "Tom Kowalski", "Alicia Gomez", "Sam Okafor")


def customer_rows(count: int, rng: random.Random, as_of: date):
    for index in range(1, count + 1):
        place = rng.choice(PLACES)
        name = rng.choice(KINDS).format(place)
        population = int(rng.lognormvariate(10, 1.2)) + 500
        since = as_of - timedelta(days=rng.randint(120, 365 * 22))
        yield {
            "customer_id": f"C{index:07d}",
            "customer_name": f"{name} #{index}" if count > 2000 else name,
            "state": rng.choice(STATES),
            "population": population,
            "customer_since": since.isoformat(),
            "account_owner": rng.choice(OWNERS),
        }


def product_rows(customer: dict, rng: random.Random, as_of: date):
    roll = rng.random()
    if roll < 0.06:  # prospects still in the gold table: no modules at all
        return
    owned = ["GL"] if roll < 0.9 else []
    owned += [m for m in ("AP", "AR", "CR") if rng.random() < 0.55]
    if not owned:
        owned = [rng.choice(MODULES)]
    scale = max(0.4, min(6.0, customer["population"] / 40000))
    since = date.fromisoformat(customer["customer_since"])
    for module in owned:
        seats = max(2, int(rng.gauss(8, 4) * scale))
        start = since + timedelta(days=rng.randint(0, max(1, (as_of - since).days - 30)))
        renewal = as_of + timedelta(days=rng.randint(-45, 420))
        status = "inactive" if rng.random() < 0.08 else "active"
        yield {
            "customer_id": customer["customer_id"],
            "module": module,
            "status": status,
            "arr": f"{BASE_ARR[module] * scale * rng.uniform(0.7, 1.4):.2f}",
            "seats": seats,
            "active_users": max(0, min(seats, int(seats * rng.uniform(0.15, 1.0)))),
            "contract_start": start.isoformat(),
            "renewal_date": renewal.isoformat(),
        }


def write_sources_config(source: Path, destination: Path) -> None:
    """The example's rulectl.yml (targets, and the customer and products sources this module
    generates data for) without its support tickets, `display:` and `search:`, which name the
    example's metrics: generated projects declare metrics of their own."""
    text = source.read_text()
    cut = min((i for i in (text.find("\n  support_tickets:"), text.find("\ndisplay:")) if i >= 0), default=-1)
    destination.write_text(text[: cut + 1] if cut >= 0 else text)


def write(customers: int, out: Path, seed: int, as_of: date) -> tuple[int, int]:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    product_count = 0
    with (out / "customer.csv").open("w", newline="") as cf, (out / "products.csv").open("w", newline="") as pf:
        customer_writer = csv.DictWriter(cf, ["customer_id", "customer_name", "state", "population", "customer_since", "account_owner"])
        product_writer = csv.DictWriter(pf, ["customer_id", "module", "status", "arr", "seats", "active_users", "contract_start", "renewal_date"])
        customer_writer.writeheader()
        product_writer.writeheader()
        for customer in customer_rows(customers, rng, as_of):
            customer_writer.writerow(customer)
            for product in product_rows(customer, rng, as_of):
                product_writer.writerow(product)
                product_count += 1
    return customers, product_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path("data/sample_inputs"))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 24))
    args = parser.parse_args()
    customers, products = write(args.customers, args.out, args.seed, args.as_of)
    print(f"wrote {customers} customers and {products} product rows to {args.out}")


if __name__ == "__main__":
    main()
