"""`rulectl init DIR`: a small working project — a local target, two sources with sample data, two
metrics, a segmentation, a prompt and a rule test — that validates, applies, runs and tests as created.
Every YAML file starts with the `yaml-language-server` line pointing at the schemas written beside it."""

from __future__ import annotations

import re
from pathlib import Path

from engine.config.json_schemas import DEFAULT_DIR, modeline, write_json_schemas
from engine.core.errors import RulectlError

PROJECT_YAML = """\
# rulectl project: where to deploy, and the tables to read. Docs: rulectl --help
name: {name}
default_target: local
entity: accounts                # the source that lists every customer once
targets:
  local:
    engine: duckdb
    path: .rulectl/local.duckdb
    llm: {{provider: offline}}    # or {{provider: openai, base_url: http://localhost:11434/v1, model: llama3.1}}
schemas: {{analytics: ANALYTICS, ai: AI}}
display:
  name: account_name
sources:
  accounts:
    table: RAW.ACCOUNTS
    key: account_id
    columns: {{account_id: varchar, account_name: varchar, region: varchar, signup_date: date}}
    sample: data/accounts.csv
  subscriptions:
    table: RAW.SUBSCRIPTIONS
    grain: [account_id, product]  # one row per account per product
    columns: {{account_id: varchar, product: varchar, status: varchar, mrr: "number(10,2)"}}
    sample: data/subscriptions.csv
"""

METRICS_YAML = """\
# Metrics: one value per customer. A source with several rows per customer is aggregated first.
metrics:
  - name: monthly_revenue
    description: Recurring revenue of active subscriptions
    source: subscriptions
    expr: SUM(mrr)
    filter: status = 'active'
  - name: active_products
    source: subscriptions
    expr: COUNT(DISTINCT product)
    filter: status = 'active'
"""

SEGMENTS_YAML = """\
# Segmentations: ordered rules. `match: first` gives one label; `match: all` a list.
segmentations:
  - name: size_band
    match: first
    rules:
      - segment: Large
        when: monthly_revenue >= 1000 AND active_products >= 2
        action: Quarterly business review
      - segment: Multi-product
        when: active_products >= 2
    default: Small
"""

PROMPT_YAML = """\
# A prompt: rendered per customer from the input view, answered by the target's LLM provider.
name: account_note
description: One-line note for the account manager
input: customer_segments
key: account_id
model: llama3.1-8b
options: {{temperature: 0.2, max_tokens: 120}}
system: You write short, factual notes for account managers.
template: |
  Account {{account_name}} ({{region}}) is in band {{size_band}} with monthly revenue {{monthly_revenue}}.
  Write one sentence on what to do next.
output: ACCOUNT_NOTES
refresh:
  schedule: USING CRON 0 6 * * * UTC
  max_rows: 100
"""

TESTS_YAML = """\
# Rule tests: `rulectl test` runs them on an in-memory database through the compiled SQL.
today: 2026-01-15
tests:
  - name: revenue and two products make a Large account
    given:
      accounts:
        - {{account_id: T1, account_name: Big Co}}
        - {{account_id: T2, account_name: Two Products}}
        - {{account_id: T3, account_name: No Subscriptions}}
      subscriptions:
        - {{account_id: T1, product: core, status: active, mrr: 1000}}
        - {{account_id: T1, product: reports, status: active, mrr: 200}}
        - {{account_id: T2, product: core, status: active, mrr: 300}}
        - {{account_id: T2, product: reports, status: active, mrr: 50}}
        - {{account_id: T2, product: mobile, status: cancelled, mrr: 80}}
    expect:
      - {{account_id: T1, monthly_revenue: 1200, size_band: Large}}
      - {{account_id: T2, monthly_revenue: 350, active_products: 2, size_band: Multi-product}}
      - {{account_id: T3, monthly_revenue: null, active_products: 0, size_band: Small}}
"""

ACCOUNTS_CSV = """\
account_id,account_name,region,signup_date
A001,Harbor Foods,West,2021-03-04
A002,Northwind Traders,East,2019-11-20
A003,Blue Ridge Clinic,South,2022-06-01
A004,Summit Legal,West,2020-01-15
A005,Lakeside Books,North,2023-09-09
A006,Granite Works,East,2018-05-30
"""

SUBSCRIPTIONS_CSV = """\
account_id,product,status,mrr
A001,core,active,900
A001,reports,active,250
A002,core,active,400
A002,reports,active,120
A003,core,active,150
A004,core,cancelled,300
A006,core,active,2200
A006,mobile,active,180
"""

GITIGNORE = ".rulectl/local.duckdb*\n.rulectl/cache/\n.rulectl/journal/\nexport/\n"  # the local database, rulectl's caches, the reply journal (model replies: customer data) and `rulectl export` files are outputs, not the project

FILES: dict[str, str] = {
    "rulectl.yml": PROJECT_YAML,
    "rules/metrics.yml": METRICS_YAML,
    "rules/segments.yml": SEGMENTS_YAML,
    "prompts/account_note.yml": PROMPT_YAML,
    "tests/size_band.yml": TESTS_YAML,
    "data/accounts.csv": ACCOUNTS_CSV,
    "data/subscriptions.csv": SUBSCRIPTIONS_CSV,
    ".gitignore": GITIGNORE,
}


def project_name(directory: Path) -> str:
    """A valid project name from the directory's name."""
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", directory.resolve().name).strip("_")[:64]
    return name or "rulectl_project"


def create_project(directory: Path) -> list[Path]:
    """Write the skeleton into `directory` (new or empty of rulectl files); returns the files written."""
    if (directory / "rulectl.yml").exists():
        raise RulectlError(f"{directory / 'rulectl.yml'} already exists; `rulectl init` never overwrites a project (pick another directory)")
    clashes = [relative for relative in FILES if (directory / relative).exists()]
    if clashes:
        raise RulectlError(f"{directory} already has {', '.join(clashes)}; `rulectl init` never overwrites files (pick another directory)")
    written = []
    for relative, template in FILES.items():
        text = template.format(name=project_name(directory)) if relative.endswith(".yml") else template
        if relative.endswith(".yml"):
            text = modeline(relative) + "\n" + text
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    written += write_json_schemas(directory / DEFAULT_DIR)
    return written
