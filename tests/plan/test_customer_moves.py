"""`plan --moves FILE`: every customer whose segment would change, as CSV with keys (names repeat),
agreeing with the plan's own move counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import edit, run


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_moves_csv_lists_every_moving_customer(loaded_project: Path, tmp_path: Path):
    project = loaded_project  # the core example, loaded
    first = run("plan", "--moves", str(tmp_path / "first.csv"), project=project)
    assert "no segments are deployed yet" in first.output
    assert read_csv(tmp_path / "first.csv") == []
    assert run("apply", "--yes", project=project).exit_code == 0
    edit(project / "rules" / "segments.yml", "total_arr >= 150000 AND module_count >= 3", "total_arr >= 100000 AND module_count >= 3")
    edit(project / "rules" / "segments.yml", "days_to_renewal BETWEEN 0 AND 90", "days_to_renewal BETWEEN 0 AND 120")

    result = run("plan", "--json", "--moves", str(tmp_path / "moves.csv"), project=project)

    plan = json.loads(result.stdout)
    rows = read_csv(tmp_path / "moves.csv")
    tier_rows = [r for r in rows if r["segmentation"] == "account_tier"]
    tier_moves = [m for m in plan["segment_moves"] if m["segmentation"] == "account_tier"]
    assert len(tier_rows) == sum(m["customers"] for m in tier_moves) > 0
    assert {(r["from"], r["to"]) for r in tier_rows} == {(m["from_label"], m["to_label"]) for m in tier_moves}
    assert all(r["to"] == "Strategic" and r["key"].startswith("C") and r["name"] for r in tier_rows)
    assert len({r["key"] for r in tier_rows}) == len(tier_rows)  # one row per customer, keys unique
    gains = [r for r in rows if r["segmentation"] == "opportunities"]
    gained = sum(m["customers"] for m in plan["segment_moves"] if m["segmentation"] == "opportunities" and m["kind"] == "gain")
    assert len(gains) == gained > 0
    assert all("Renewal due" in r["to"].split("; ") and "Renewal due" not in r["from"].split("; ") for r in gains)
    assert "wrote " in result.stderr and "customer move(s)" in result.stderr


def test_a_new_segmentation_moves_everyone_from_nothing(applied_project: Path, tmp_path: Path):
    project = applied_project  # the core example, loaded and applied
    with (project / "rules" / "segments.yml").open("a") as handle:
        handle.write("  - name: size\n    rules:\n      - {segment: Big, when: population >= 100000}\n    default: Small\n")
    assert run("plan", "--moves", str(tmp_path / "m.csv"), project=project).exit_code == 0
    rows = read_csv(tmp_path / "m.csv")
    assert len(rows) == 180 and {r["from"] for r in rows} == {""} and {r["to"] for r in rows} == {"Big", "Small"}
