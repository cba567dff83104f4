"""Two project shapes for sources that are not keyed by the customer (issue 23, issue 26 item 5),
written into a directory by the tests that need them, with the expected numbers worked out by hand.

`shop`: shoppers keyed by `shopper_no`; orders at their own grain [order_id] whose customer is in
`buyer`, joined to a currency-rates lookup; order lines at [order_id, line_no] that carry neither
customer nor currency and take both from their order (join orders, then rates on the order's currency).

`helpdesk`: accounts keyed by an integer `account_no`; tickets at their own grain [ticket_id] whose
customer is the integer `account_ref`, with sentiment scored per ticket; contracts keyed by `acct`
(one row per account under another name).
"""

from __future__ import annotations

from pathlib import Path

SHOP_YML = """\
name: lookup_shop
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
    columns: {shopper_no: varchar, shopper_name: varchar}
    sample: data/shoppers.csv
  rates:
    table: REF.RATES
    lookup: {key: currency}          # no customers: one row per currency
    columns: {currency: varchar, eur_per_unit: "number(10,4)"}
    sample: data/rates.csv
  orders:
    table: RAW.ORDERS
    grain: [order_id]                # one row per order
    customer_key: buyer              # the shopper who placed it
    join: {rates: currency}          # each order's rate, by its currency
    columns: {order_id: varchar, buyer: varchar, status: varchar, currency: varchar, total: "number(10,2)"}
    sample: data/orders.csv
  order_lines:
    table: RAW.ORDER_LINES
    grain: [order_id, line_no]
    customer_key: buyer              # from the order
    join: {orders: order_id, rates: currency}
    columns: {order_id: varchar, line_no: integer, amount: "number(10,2)"}
    sample: data/order_lines.csv
display:
  name: shopper_name
"""

SHOP_METRICS = """\
metrics:
  - name: order_count
    source: orders
    expr: COUNT(*)
  - name: revenue_eur
    source: orders
    expr: SUM(total * eur_per_unit)
  - name: shipped_line_total
    source: order_lines
    expr: SUM(amount)
    filter: status = 'shipped'
  - name: shipped_lines_eur
    source: order_lines
    expr: SUM(amount * eur_per_unit)
    filter: status = 'shipped'
  - name: line_count
    source: order_lines
    expr: COUNT(*)
"""

SHOP_SEGMENTS = """\
segmentations:
  - name: value
    rules:
      - {segment: Big, when: revenue_eur >= 150}
    default: Small
"""

SHOP_DATA = {
    "shoppers.csv": "shopper_no,shopper_name\nS1,Ana\nS2,Ben\nS3,Cleo\n",
    "rates.csv": "currency,eur_per_unit\nEUR,1\nUSD,0.9\nGBP,1.2\n",
    # O5's buyer is no shopper; O6 is in a currency the rates do not list
    "orders.csv": "order_id,buyer,status,currency,total\nO1,S1,shipped,EUR,100\nO2,S1,cancelled,USD,50\nO3,S2,shipped,USD,200\n"
                  "O4,S2,shipped,GBP,10\nO5,S9,shipped,EUR,5\nO6,S3,open,CHF,40\n",
    # O7 has no order, so no shopper
    "order_lines.csv": "order_id,line_no,amount\nO1,1,60\nO1,2,40\nO2,1,50\nO3,1,120\nO3,2,80\nO4,1,10\nO6,1,40\nO7,1,99\n",
}

# By hand: revenue_eur S1 = 100×1 + 50×0.9, S2 = 200×0.9 + 10×1.2, S3's only order is in CHF (no rate);
# shipped lines: S1 O1 (60 + 40), S2 O3 (120 + 80) and O4 (10); S3's order is open.
SHOP_EXPECTED = {  # shopper → (order_count, revenue_eur, shipped_line_total, shipped_lines_eur, line_count, value)
    "S1": (2, 145.0, 100.0, 100.0, 3, "Small"),
    "S2": (2, 192.0, 210.0, 192.0, 3, "Big"),
    "S3": (1, None, None, None, 1, "Small"),
}

HELPDESK_YML = """\
name: helpdesk
targets:
  local: {engine: duckdb, llm: {provider: offline}}
  prod: {engine: snowflake, connection: prod, database: HELPDESK}
sources:
  accounts:
    table: CRM.ACCOUNTS
    key: account_no
    columns: {account_no: integer, account_name: varchar}
    sample: data/accounts.csv
  tickets:
    table: DESK.TICKETS
    grain: [ticket_id]               # one row per ticket
    customer_key: account_ref        # the account that raised it
    columns: {ticket_id: varchar, account_ref: integer, priority: varchar, body: varchar}
    sample: data/tickets.csv
    checks: {orphans: warn}
    enrich:
      sentiment: {text: body}
  contracts:
    table: CRM.CONTRACTS
    key: acct                        # one row per account, keyed by another name
    columns: {acct: integer, seats: integer}
    sample: data/contracts.csv
display:
  name: account_name
search:
  text: [ticket_text]                # each account's tickets, embedded for `rulectl search`
"""

HELPDESK_METRICS = """\
metrics:
  - name: ticket_count
    source: tickets
    expr: COUNT(*)
  - name: urgent_tickets
    source: tickets
    expr: COUNT_IF(priority = 'high')
  - name: mood
    source: tickets_sentiment
    expr: AVG(sentiment)
  - name: urgent_mood
    source: tickets_sentiment
    expr: AVG(sentiment)
    filter: priority = 'high'
  - name: seats
    source: contracts
    expr: seats * 1
  - name: ticket_text
    source: tickets
    expr: LISTAGG(body, ' ') WITHIN GROUP (ORDER BY ticket_id, body)
"""

HELPDESK_SEGMENTS = """\
segmentations:
  - name: care
    rules:
      - {segment: Watch, when: urgent_tickets >= 1}
    default: Quiet
"""

HELPDESK_DATA = {
    "accounts.csv": "account_no,account_name\n1,Acme\n2,Globex\n3,Initech\n",
    # T4's account does not exist
    "tickets.csv": "ticket_id,account_ref,priority,body\nT1,1,high,The new release is great and support was wonderful\n"
                   "T2,1,low,Terrible outage and awful support we are very angry\nT3,2,high,Still broken and useless\n"
                   "T4,7,low,Thanks for the quick help\n",
    "contracts.csv": "acct,seats\n1,10\n2,25\n",
}
HELPDESK_SEATS = {1: 10, 2: 25, 3: None}  # account 3 has no contract
HELPDESK_TICKETS = {"T1": (1, "high"), "T2": (1, "low"), "T3": (2, "high"), "T4": (7, "low")}


def write_project(root: Path, yml: str, metrics: str, segments: str, data: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rules").mkdir(exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "rulectl.yml").write_text(yml)
    (root / "rules" / "metrics.yml").write_text(metrics)
    (root / "rules" / "segments.yml").write_text(segments)
    for name, text in data.items():
        (root / "data" / name).write_text(text)
    return root


def write_shop(root: Path) -> Path:
    return write_project(root, SHOP_YML, SHOP_METRICS, SHOP_SEGMENTS, SHOP_DATA)


def write_helpdesk(root: Path) -> Path:
    return write_project(root, HELPDESK_YML, HELPDESK_METRICS, HELPDESK_SEGMENTS, HELPDESK_DATA)
