"""The analyst's toolkit (lint, test, explain, history, plan --moves) on the other project shapes
under tests/projects/: `minimal` (an integer key, no prompts) and `renamed` (other names, a third grain)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import edit, run
from tests.test_project_shapes import copy_shape

MINIMAL_TESTS = """\
tests:
  - name: fifty-two visits a year is one a week
    given:
      members: [{member_id: 7, visits: 52}, {member_id: 8, visits: 51}, {member_id: 9}]
    expect:
      - {member_id: 7, weekly_visits: 1, activity: Regular}
      - {member_id: 8, weekly_visits: 0.98, activity: Occasional}
      - {member_id: 9, weekly_visits: null, activity: Occasional}
"""


def test_minimal_shape(tmp_path: Path):
    root = copy_shape("minimal", tmp_path)
    (root / "tests").mkdir()
    (root / "tests" / "activity.yml").write_text(MINIMAL_TESTS)
    assert run("test", project=root).exit_code == 0
    lint = run("lint", "--strict", project=root)
    assert lint.exit_code == 0 and "only the default `Occasional` applies" in lint.output
    assert run("load", project=root).exit_code == 0
    assert run("apply", "--yes", project=root).exit_code == 0
    explained = json.loads(run("explain", "3", "--json", project=root).output)  # integer key, given as text
    assert explained["key"] == "3" and explained["segmentations"][0]["label"] == "Regular"
    assert explained["ai"] == []
    edit(root / "rules" / "rules.yml", "weekly_visits >= 1", "weekly_visits >= 0.1")
    assert run("plan", "--moves", str(tmp_path / "moves.csv"), project=root).exit_code == 0
    with (tmp_path / "moves.csv").open() as handle:
        moves = list(csv.DictReader(handle))
    assert moves and all(m["from"] == "Occasional" and m["to"] == "Regular" for m in moves)
    history = json.loads(run("history", "--json", project=root).output)
    assert len(history) == 1 and history[0]["target"] == "local"


def test_renamed_shape(tmp_path: Path):
    root = copy_shape("renamed", tmp_path)
    assert run("lint", project=root).exit_code == 0
    assert run("load", project=root).exit_code == 0
    assert run("lint", "--target", "local", "--max-share", "1", project=root).exit_code == 0
    assert run("apply", "--yes", project=root).exit_code == 0
    assert run("run", project=root).exit_code == 0
    explained = json.loads(run("explain", "beta town", "--json", project=root).output)
    assert explained["key"] == "A2" and explained["name"] == "Beta Town"
    assert {ai["prompt"] for ai in explained["ai"]} == {p.stem for p in (root / "prompts").glob("*.yml")} or len(explained["ai"]) == 2
    assert all(ai["missing"] is None and ai["current"] for ai in explained["ai"])
