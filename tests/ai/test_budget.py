"""A budget in credits (issue 22 item 2): `refresh.max_credits` stops a run when the next pending
row's ceiling cost (prompt at 4 characters a token + max_tokens of reply, at the model's price)
would pass it, on the local runner and in the Snowflake MERGE (fakesnow); plan shows the budget
beside the estimate and what is left pending."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import workflow
from engine.backends.registry import open_backend
from engine.compile.project import compile_project
from engine.compile.prompts import compile_prompt, rendered_inputs_query
from engine.config.loader import load_project
from tests.conftest import edit, run, target_rows

PRICE = 0.19 / 1_000_000  # llama3.1-8b, engine/config/pricing.py
MAX_TOKENS = 600  # the example prompt's


def row_costs(root: Path) -> list[tuple[str, float]]:
    """Each customer's ceiling cost, computed here from the rendered prompts, in key order."""
    loaded = load_project(root)
    backend = open_backend(loaded, read_only=True)
    try:
        rows = backend.query(rendered_inputs_query(compile_prompt(loaded, loaded.prompts[0])))
    finally:
        backend.close()
    return sorted((key, ((len(system) + len(prompt)) / 4 + MAX_TOKENS) * PRICE) for key, _, _, _, system, prompt in rows)


def fitting(costs: list[tuple[str, float]], budget: float) -> list[str]:
    taken, spent = [], 0.0
    for key, cost in costs:
        if spent + cost > budget:
            break
        taken.append(key)
        spent += cost
    return taken


def test_a_budget_stops_each_run_at_the_budget_on_both_targets_and_plan_shows_what_is_left(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    costs = row_costs(project)
    budget = round(sum(cost for _, cost in costs[:40]) + costs[40][1] / 2, 8)  # 40 rows and half the 41st
    first = fitting(costs, budget)
    assert len(first) == 40
    prompt = project / "prompts" / "account_summary.yml"
    edit(prompt, "  max_rows: 1000\n", f"  max_rows: 1000\n  max_credits: {budget}\n")

    planned = json.loads(run("plan", "--json", project=project).output)
    (cost,) = [c for c in planned["ai_costs"] if c["prompt"] == "account_summary"]
    assert (cost["budget"], cost["rows"], cost["left_pending"]) == (budget, 40, len(costs) - 40)
    assert f"budget {budget:g} credits a run (max_credits): 40 rows fit, {len(costs) - 40} left pending" in run("plan", project=project).output

    assert run("apply", "--yes", project=project).exit_code == 0
    (result,) = workflow.run_refreshes(load_project(project), None, [])
    assert (result.pending, result.calls, result.enriched) == (40, 40, 40)
    assert {row[0] for row in target_rows(project, "SELECT customer_id FROM AI.ACCOUNT_INSIGHTS")} == set(first)
    (second,) = workflow.run_refreshes(load_project(project), None, [])  # the budget is per run
    assert second.calls == len(fitting(costs[40:], budget))

    # the same MERGE as Snowflake SQL, on fakesnow: the same 40 customers, no more calls
    import snowflake.connector

    fakesnow = pytest.importorskip("fakesnow")
    from tests.backends.test_merge_fakesnow import FakeCortex
    from tests.backends.test_parity_fakesnow import load_into_fakesnow

    loaded = load_project(project)
    objects = compile_project(loaded, "prod")
    merge = next(o for o in objects if o.kind == "task").sql(pretty=False)
    assert f"<= {budget!r}" in merge
    cortex = FakeCortex()
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        cortex.install(connection)
        cursor = connection.cursor()
        load_into_fakesnow(cursor, loaded, objects, kinds=("schema", "view", "table"))
        cursor.execute(merge)
        cursor.execute("SELECT customer_id FROM AI.ACCOUNT_INSIGHTS")
        stored = {row[0] for row in cursor.fetchall()}
        connection.close()
    assert cortex.calls == 40 and stored == set(first)
