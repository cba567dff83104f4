"""The AI refresh estimate reads the deployed metrics and segments views when the plan keeps both
(ai/cost.py `_views_read`): nothing inlined, rendered or bound twice, and the same figures as
reading the planned SQL; when the plan changes either view it reads the planned SQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from engine import workflow
from engine.ai.cost import estimate_costs
from engine.backends.registry import open_backend
from engine.compile.project import compile_project
from engine.compile.segments import PLANNED_SEGMENTS
from engine.config.loader import load_project
from engine.plan.planner import managed_schemas
from tests.ai.test_enrichment import rename_customer, setup_project
from tests.conftest import REPO


def estimates(root: Path, changing: set[str] | None) -> tuple[dict[str, object], list[str]]:
    """Each task's estimate by prompt name, and the statements the estimate sent."""
    loaded = load_project(root)
    backend = open_backend(loaded)
    try:
        desired = backend.as_deployed(compile_project(loaded))
        deployed = backend.introspect(managed_schemas(loaded))
        sent = len(backend.statements)
        costs, failures = estimate_costs(loaded, backend, desired, deployed, changing=changing)
        assert failures == {}
        return {cost.prompt: cost for cost in costs}, backend.statements[sent:]
    finally:
        backend.close()


@pytest.fixture(params=["example", "renamed"])
def applied_shape(request, tmp_path: Path) -> Path:
    if request.param == "example":
        return request.getfixturevalue("applied_project")  # the core example, loaded and applied
    root = shutil.copytree(REPO / "tests" / "projects" / "renamed", tmp_path / "renamed", ignore=shutil.ignore_patterns(".rulectl"))
    setup_project(root)
    return root


def test_a_plan_keeping_the_views_estimates_from_the_deployed_ones_with_the_same_figures(applied_shape: Path):
    planned, planned_sql = estimates(applied_shape, None)  # no plan given: the planned SQL
    kept, kept_sql = estimates(applied_shape, set())  # a plan that changes nothing
    assert any(PLANNED_SEGMENTS in sql for sql in planned_sql)
    assert not any(PLANNED_SEGMENTS in sql for sql in kept_sql)
    assert kept and all(cost.rows > 0 for cost in kept.values())  # nothing enriched yet: every task has rows
    assert kept == {name: planned[name] for name in kept}
    workflow.run_refreshes(load_project(applied_shape), None, [])
    assert estimates(applied_shape, set())[0] == {}  # all enriched: nothing to list


def test_a_data_reload_is_estimated_from_the_deployed_views_and_a_rule_edit_from_the_planned_ones(applied_project: Path):
    root = applied_project  # the core example, loaded and applied
    workflow.run_refreshes(load_project(root), None, [])
    rename_customer(root, "C0000005", "City of Elsewhere")  # their prompt input changed
    kept, kept_sql = estimates(root, set())
    assert kept["account_summary"].rows == 1 and not any(PLANNED_SEGMENTS in sql for sql in kept_sql)
    assert kept["account_summary"] == estimates(root, None)[0]["account_summary"]
    made = workflow.plan(load_project(root))
    assert [(cost.prompt, cost.rows) for cost in made.ai_costs] == [("account_summary", 1)]
    segments = root / "rules" / "segments.yml"
    segments.write_text(segments.read_text().replace(">=", ">", 1))  # a rule edit: the segments view changes
    _, sent = estimates(root, {"ANALYTICS.CUSTOMER_SEGMENTS"})
    assert any(PLANNED_SEGMENTS in sql for sql in sent)


def test_a_score_table_apply_recreates_is_read_as_empty_through_the_planned_views(tmp_path: Path):
    """The metrics view reads the sentiment scores: a score table dropped by hand is created again
    by apply, and until then the estimate must read it as empty — through the planned views, since
    the deployed metrics view would read the missing table and fail (found in review)."""
    from tests.conftest import copy_example, run

    root = copy_example(tmp_path / "whole", whole=True)
    setup_project(root)
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"))
    tables = [row[0] for row in connection.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'AI' AND table_name LIKE '%SENTIMENT'").fetchall()]
    assert tables
    connection.execute(f"DROP TABLE AI.{tables[0]}")
    connection.close()
    made = workflow.plan(load_project(root))
    assert not made.errors, [step.reason for step in made.errors]
    assert any(step.qualified_name == f"AI.{tables[0]}" and step.action.value == "create" for step in made.steps)
    assert made.ai_costs and all(cost.rows > 0 for cost in made.ai_costs)
    applied = run("apply", "--yes", project=root)
    assert applied.exit_code == 0, applied.output
