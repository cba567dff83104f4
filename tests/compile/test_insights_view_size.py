"""The wide insights view stays within Snowflake's 1 MB view-definition limit at any number of
prompts (https://docs.snowflake.com/en/sql-reference/sql/create-view): each prompt's latest output
and stale flag is its own LATEST_<PROMPT> view, and the wide view only names their columns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.compile.objects import DesiredObject
from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.config.project import INSIGHTS_VIEW
from engine.plan.model import Action, Step
from engine.plan.planner import VIEW_DEFINITION_LIMIT, view_sizes
from tests.conftest import copy_example

PROMPTS = 500
PROMPT = """name: prompt_number_{index}
input: customer_segments
key: customer_id
template: "Summarise {{customer_name}} ({{account_tier}}), customer since {{customer_since}}."
output: OUTPUT_NUMBER_{index}
outputs: {{summary: {{type: text}}, risk: {{type: label, labels: [low, high]}}}}
"""


@pytest.fixture(scope="module")
def many_prompts(tmp_path_factory) -> list[DesiredObject]:
    root = copy_example(tmp_path_factory.mktemp("wide") / "project")  # the core: its search reads account_summary
    shutil.rmtree(root / "prompts")
    (root / "prompts").mkdir()
    for index in range(PROMPTS):
        (root / "prompts" / f"p{index}.yml").write_text(PROMPT.format(index=index))
    return compile_project(load_project(root), "prod")


def test_the_wide_view_of_500_prompts_is_under_1_mb(many_prompts):
    wide = next(obj for obj in many_prompts if obj.name == INSIGHTS_VIEW)
    size = len(wide.canonical_sql.encode())
    assert size < VIEW_DEFINITION_LIMIT / 2, size  # ~0.3 KB per prompt; the inlined form was ~5.7 KB
    latest = [obj for obj in many_prompts if obj.kind == "view" and obj.name.startswith("LATEST_")]
    assert len(latest) == PROMPTS and set(wide.depends_on) >= {obj.qualified_name for obj in latest}
    assert max(len(obj.canonical_sql.encode()) for obj in latest[:3]) < 16 * 1024
    # every prompt's columns, by the prompt's own names
    for column in ("prompt_number_499_summary", "prompt_number_499_risk", "prompt_number_0_stale", "prompt_number_7_response"):
        assert f".{column}," in wide.canonical_sql


def _step(obj: DesiredObject) -> Step:
    return Step(Action.REPLACE, obj.kind, obj.qualified_name, obj.fingerprint, "definition changed")


def test_plan_shows_a_large_view_and_refuses_one_over_the_limit(many_prompts):
    wide = next(obj for obj in many_prompts if obj.name == INSIGHTS_VIEW)
    notes, oversized = view_sizes(many_prompts, [_step(wide)])
    assert oversized == {} and len(wide.canonical_sql.encode()) > 64 * 1024
    import engine.plan.planner as planner

    small_limit = len(wide.canonical_sql.encode()) - 1
    original = (planner.VIEW_DEFINITION_LIMIT, planner.VIEW_SIZE_SHOWN)
    try:
        planner.VIEW_DEFINITION_LIMIT, planner.VIEW_SIZE_SHOWN = small_limit * 2, small_limit // 2
        notes, oversized = view_sizes(many_prompts, [_step(wide)])
        assert notes == [f"view AI.CUSTOMER_INSIGHTS: its definition is {len(wide.canonical_sql.encode()) / 1024:,.0f} KB of Snowflake's 1 MB limit"]
        planner.VIEW_DEFINITION_LIMIT = small_limit
        notes, oversized = view_sizes(many_prompts, [_step(wide)])
        assert notes == [] and "over Snowflake's 1 MB limit" in oversized["AI.CUSTOMER_INSIGHTS"]
    finally:
        planner.VIEW_DEFINITION_LIMIT, planner.VIEW_SIZE_SHOWN = original
