"""`rulectl plan --format markdown`: the plan as a pull-request comment, golden-tested on a real edit
of each project shape (the example: a threshold that moves customers and re-bills their summaries;
renamed: two rules of another layout; minimal: no prompts, so no cost), and the comment's limits:
everything that grows is capped with a count, analyst text cannot format, link or mention.

The shapes' date metrics (days to renewal, tenure) are computed at a fixed CURRENT_DATE, so the golden
files do not move with the calendar. Regenerate with RULECTL_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from engine import workflow
from engine.ai.cost import AiCost
from engine.backends import duckdb as duckdb_backend
from engine.config.loader import load_project
from engine.core.tree_memo import TreeMemo
from engine.features.rule_tests import fixed_today
from engine.plan.model import Action, Plan, SegmentMove, SegmentSizeChange, Step
from engine.plan.plan_markdown import BUDGET, COMMENT_LIMIT, render_markdown, text
from tests.conftest import PROJECT_PARTS, REPO, edit, run
from tests.test_project_shapes import copy_shape

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "plan"
TODAY = date(2026, 12, 6)
EDITS = {  # shape → (rules file, [(old, new)]): each edit moves customers
    "example": ("rules/segments.yml", [("total_arr >= 150000 AND module_count >= 3", "total_arr >= 100000 AND module_count >= 3")]),
    "renamed": ("rules/rules.yml", [("total_contract_value >= 30000", "total_contract_value >= 20000"), ("open_tickets >= 2", "open_tickets >= 1")]),
    "minimal": ("rules/rules.yml", [("weekly_visits >= 1", "weekly_visits >= 2")]),
}


@pytest.fixture(scope="module")
def fixed_date():
    """Every statement the local target runs sees CURRENT_DATE = TODAY. With a render memo of its
    own: a statement an earlier test in this process rendered (memoised by its tree, not by the date)
    would otherwise come back with the real CURRENT_DATE — unseen while the real date was TODAY."""
    real = duckdb_backend.apply_fixes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duckdb_backend, "_rendered", TreeMemo(duckdb_backend.RENDER_CACHE_SIZE))
        patch.setattr(duckdb_backend, "apply_fixes", lambda tree, context: real(fixed_today(tree, TODAY), context))
        yield


def _copy(shape: str, tmp: Path) -> Path:
    if shape != "example":
        return copy_shape(shape, tmp)
    root = tmp / "example"
    root.mkdir()
    for part in PROJECT_PARTS:
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, root / part)
    return root


@pytest.fixture(scope="module")
def edited_plans(tmp_path_factory, fixed_date) -> dict[str, Plan]:
    """Each shape loaded, applied and (with prompts) refreshed once, then edited and planned."""
    plans = {}
    for shape, (rules, edits) in EDITS.items():
        root = _copy(shape, tmp_path_factory.mktemp(shape))
        for command in (("load",), ("apply", "--yes"), ("run",))[: 3 if (root / "prompts").is_dir() else 2]:
            result = run(*command, project=root)
            assert result.exit_code == 0, result.output
        for old, new in edits:
            edit(root / rules, old, new)
        plans[shape] = dataclasses.replace(workflow.plan(load_project(root)), plan_id="0123456789ab", created_at="2026-12-06T06:00:00+00:00")
    return plans


@pytest.mark.parametrize("shape", list(EDITS))
def test_markdown_plan_matches_golden_file(edited_plans: dict[str, Plan], shape: str):
    markdown = render_markdown(edited_plans[shape])
    path = GOLDEN / f"{shape}.md"
    if os.environ.get("RULECTL_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(markdown)
    assert path.exists(), f"missing golden file {path}; run with RULECTL_UPDATE_GOLDEN=1"
    assert markdown == path.read_text()


def test_the_comment_carries_the_plans_own_numbers(edited_plans: dict[str, Plan]):
    """Not only a stored picture: the moves, sizes and cost rows in the comment are the plan's."""
    for shape, plan in edited_plans.items():
        markdown = render_markdown(plan)
        assert plan.segment_moves, shape  # every edit moves someone
        for move in plan.segment_moves:
            name = re.escape(text(move.segmentation))
            assert re.search(rf"\| {name} \| [^|]+ \| {move.customers:,} \|", markdown), (shape, move)
        moving = sum(m.customers for m in plan.segment_moves)
        assert f"{moving:,} customer move{'s' if moving != 1 else ''} between segments" in markdown
        assert ("#### Next AI refresh" in markdown) == bool(plan.ai_costs) == (shape != "minimal")
        for cost in plan.ai_costs:
            assert f"| {cost.rows:,} |" in markdown and f"~{cost.input_tokens:,} in" in markdown
    example = edited_plans["example"]
    assert {(m.from_label, m.to_label) for m in example.segment_moves} == {("Growth", "Strategic")}
    assert example.ai_costs[0].rows == 5 and example.ai_costs[0].output_estimated  # only the movers are re-summarised


def test_cli_writes_json_and_markdown_of_one_plan_and_applies_the_json(tmp_path: Path, fixed_date):
    root = copy_shape("minimal", tmp_path)
    assert run("load", project=root).exit_code == 0
    shown = run("plan", "--format", "markdown", "--out", str(tmp_path / "plan.json"), "--out", str(tmp_path / "plan.md"), "--detailed-exitcode", project=root)
    assert shown.exit_code == 2
    saved = json.loads((tmp_path / "plan.json").read_text())
    comment = (tmp_path / "plan.md").read_text()
    assert f"plan `{saved['plan_id']}`" in comment and comment in shown.output  # one plan, shown and saved
    assert "**Plan: 4 to create.**" in comment and "saved the plan to" in shown.output
    refused = run("apply", str(tmp_path / "plan.md"), project=root)
    assert refused.exit_code == 1 and "Markdown" in refused.output and "Traceback" not in refused.output
    assert run("apply", str(tmp_path / "plan.json"), project=root).exit_code == 0
    unchanged = run("plan", "-f", "markdown", project=root)
    assert unchanged.exit_code == 0 and "**No changes. The target matches the project.**" in unchanged.output and "<details>" not in unchanged.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "yaml"], "--format yaml: not a plan format; use one of text, json, markdown"),
        (["--out", "/nonexistent-dir/plan.md"], "/nonexistent-dir/plan.md: cannot write the plan there"),
    ],
)
def test_bad_input_plan_format_options(project: Path, args: list[str], message: str):
    result = run("plan", *args, project=project)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def _huge_plan() -> Plan:
    diff = "\n".join(f"-    WHEN m.metric_{i} >= {i} THEN 'Segment {i}'\n+    WHEN m.metric_{i} >= {i + 1} THEN 'Segment {i}'" for i in range(400))
    steps = tuple(Step(Action.REPLACE, "view", f"ANALYTICS.VIEW_{i:03}", "f", "definition changed", sql_diff=diff) for i in range(150))
    moves = tuple(SegmentMove("tier", f"Segment {i}", f"Segment {i + 1}", i + 1, (f"Customer {i}",)) for i in range(300))
    sizes = tuple(SegmentSizeChange("tier", f"Segment {i}", 10, 10 + i) for i in range(300))
    costs = tuple(AiCost(f"prompt_{i}", 10, 1000, 100, 50, 0.01, 0.03, "llama3.1-8b", 500, 3, 0.02) for i in range(100))
    return Plan("p", "big", "prod", "now", "s", 5, steps, moves, sizes, ("a rule matches nobody",) * 40, costs)


def test_a_huge_plan_fits_a_comment_and_counts_what_it_left_out():
    plan = _huge_plan()
    markdown = render_markdown(plan)
    assert len(markdown) <= BUDGET < COMMENT_LIMIT
    assert "<details><summary>SQL diff: 150 objects, 120,000 lines</summary>" in markdown
    shown_lines = sum(1 for line in markdown.splitlines() if re.match(r"[-+]    WHEN", line))
    left_out = int(re.search(r"… ([\d,]+) more diff lines not shown", markdown).group(1).replace(",", ""))
    assert shown_lines > 100 and shown_lines + left_out == 120_000
    for what, total in (("objects", 150), ("segments", 300), ("moves", 300), ("refreshes", 100)):
        shown = int(re.search(rf"… ([\d,]+) more {what} not shown", markdown).group(1))
        assert 0 < shown < total, what
    assert "… 20 more warnings and notes not shown" in markdown
    assert markdown.count("</details>") == 1 and markdown.count("<details>") == 1


def test_analyst_text_cannot_format_link_or_mention():
    move = SegmentMove("tier", "A", "B", 1, ("@ops-team | <img src=x> **Big** `City`",))
    plan = Plan("p", "proj", "prod", "now", "s", 5, (Step(Action.CREATE, "view", "A.B", "f", "new"),), (move,))
    markdown = render_markdown(plan)
    row = next(line for line in markdown.splitlines() if line.startswith("| tier |"))
    assert row.count(" | ") == 3  # the | in the name did not add a column
    assert "<img" not in markdown and "&lt;img src=x&gt;" in row and r"\*\*Big\*\* \`City\`" in row
    assert "@ops" not in markdown.replace("@&#8203;ops", "")  # no mention of a team
