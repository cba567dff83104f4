"""`rulectl explain`: metric values with their rows, every rule's verdict and why, the winner and the
latest AI output, on the example and on a differently shaped project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, run
from tests.lint.test_rule_checks import rule_line
from tests.lint.test_target_checks import data_project


@pytest.fixture
def deployed_example(applied_project: Path) -> Path:
    assert "name: customer_name" in (applied_project / "rulectl.yml").read_text()  # display.name
    assert run("run", project=applied_project).exit_code == 0
    return applied_project


def test_explain_by_key_shows_rules_metrics_rows_and_ai_output(deployed_example: Path):
    result = run("explain", "C0000024", project=deployed_example)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Auburn County (C0000024)"
    assert "account_tier = 'Emerging'  (match: first)" in lines
    at_risk = next(line for line in lines if line.strip().startswith("At Risk:"))
    assert "NULL because days_to_renewal is NULL (a comparison with NULL is never true)" in at_risk
    assert "rules/segments.yml:10" in at_risk
    assert "  → no rule is true, so the default applies: 'Emerging'" in lines
    assert any(line.startswith("  module_count = 0 ") and "[0 row(s) of products" in line for line in lines)
    assert any(line.startswith("  account_summary: variant ") and "(current version)" in line for line in lines)


def test_explain_json_and_the_winning_rule(deployed_example: Path):
    data = json.loads(run("explain", "C0000002", "--json", project=deployed_example).output)
    assert data["key"] == "C0000002" and data["name"] == "Village of Troy"
    tier = next(s for s in data["segmentations"] if s["name"] == "account_tier")
    assert tier["label"] == "Growth"
    assert [(r["segment"], r["result"], r["won"]) for r in tier["rules"]] == [("Strategic", False, False), ("At Risk", False, False), ("Growth", True, True)]
    total_arr = next(m for m in data["metrics"] if m["name"] == "total_arr")
    assert total_arr["rows"] == 3 and len(total_arr["sample"]) == 3
    assert round(sum(row["arr"] for row in total_arr["sample"]), 2) == round(total_arr["value"], 2)
    assert data["ai"][0]["variant"] in ("control", "action_first") and data["ai"][0]["current"] is True


def test_explain_by_name_and_ambiguous_names(deployed_example: Path):
    assert run("explain", "kingston county", project=deployed_example).output.startswith("Kingston County (C0000005)")
    assert "3 customers match `kingston`" in run("explain", "kingston", project=deployed_example).output
    several = run("explain", "Auburn County", project=deployed_example)
    assert several.exit_code == 1
    assert "4 customers match `Auburn County`: C0000024 (Auburn County);" in several.output and "pass the key" in several.output
    assert run("explain", "Nowhere-ville", project=deployed_example).exit_code == 1


def test_explain_on_another_project_before_any_apply(tmp_path: Path):
    # nothing applied: explain reads the sources through the views as the YAML defines them now
    root = data_project(tmp_path, ["score >= 10", "open_tickets >= 1"], default="Quiet")
    result = run("explain", "a3", project=root)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"    S0: score >= 10    false  [score = 5]  rules/segments.yml:{rule_line(0)}" in lines
    assert f"  → S1: open_tickets >= 1    true  [open_tickets = 1]  rules/segments.yml:{rule_line(1)}" in lines
    assert "      account_ref: 'a3', ticket_id: 't3', severity: 2" in lines
    assert "  account_note" not in result.output  # no prompts in this project
    null_score = run("explain", "a4", "--json", project=root)
    rule = json.loads(null_score.output)["segmentations"][0]["rules"][0]
    assert rule["result"] is None and rule["why"].startswith("NULL because score is NULL")


def test_explain_a_name_on_an_integer_key_is_not_a_conversion_error(tmp_path: Path):
    # was `Conversion Error: Could not convert string 'Zürich' to INT32` (the key compared as an integer)
    root = tmp_path / "minimal"
    shutil.copytree(REPO / "tests" / "projects" / "minimal", root)
    assert run("load", project=root).exit_code == 0
    missing = run("explain", "Zürich", project=root)
    assert missing.exit_code == 1 and "no customer has the key `Zürich`" in missing.output
    found = run("explain", "3", "--json", project=root)
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)["key"] == "3"
    titled = run("explain", "3", project=root)  # the name is the key: shown once, not "3 (3)" (int 3 vs "3")
    assert titled.exit_code == 0 and titled.output.splitlines()[0] == "3"
