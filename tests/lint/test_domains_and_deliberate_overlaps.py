"""Lint's solver knows each input's domain (issue 23): a count or a sum of a never-negative column is
never negative, a declared `ranges:` entry bounds MIN/MAX/AVG of its column, keys are never NULL;
and an overlap the analyst marks deliberate (`overlaps: [label]`) is a note, so `lint --strict`
passes in CI. A seat-licence shape with an integer key, unlike the example."""

from __future__ import annotations

import json
from pathlib import Path

from engine.config.loader import load_project
from engine.lint.rule_checks import lint_rules
from tests.conftest import run

PROJECT = """\
name: seat_domains
targets:
  local: {engine: duckdb, path: .rulectl/seats.duckdb}
sources:
  accounts:
    table: SAAS.ACCOUNTS
    key: account_no
    columns: {account_no: integer, plan: varchar}
  seats:
    table: SAAS.SEATS
    grain: [account_no, seat_id]
    columns: {account_no: integer, seat_id: integer, active: integer, utilisation: "number(5,2)"}
    ranges: {active: {min: 0, max: 1}, utilisation: {min: 0, max: 100}}
"""
METRICS = """\
metrics:
  - name: active_seats
    source: seats
    expr: SUM(active)
    default: 0
  - name: peak_utilisation
    source: seats
    expr: MAX(utilisation)
  - name: seat_count
    source: seats
    expr: COUNT(*)
"""


def make(root: Path, rules: list[dict], default: str | None = "Other") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rulectl.yml").write_text(PROJECT)
    (root / "rules").mkdir(exist_ok=True)
    lines = [METRICS + "segmentations:", "  - name: usage", "    rules:"] + [f"      - {json.dumps(rule)}" for rule in rules]
    if default:
        lines.append(f"    default: {default}")
    (root / "rules" / "rules.yml").write_text("\n".join(lines) + "\n")
    return root


def test_a_rule_only_a_negative_sum_could_match_is_unsatisfiable(tmp_path: Path):
    root = make(tmp_path / "p", [{"segment": "Owes seats", "when": "active_seats < 0"}, {"segment": "Busy", "when": "peak_utilisation > 100"}])
    result = run("validate", project=root)
    assert result.exit_code == 1, result.output
    assert "rules/rules.yml:15: `when`: rule `Owes seats` can never match: `active_seats < 0` is TRUE for no customer" in result.output
    assert "rules/rules.yml:16: `when`: rule `Busy` can never match: `peak_utilisation > 100` is TRUE for no customer" in result.output


def test_without_the_range_the_same_rules_are_valid(tmp_path: Path):
    root = make(tmp_path / "p", [{"segment": "Owes seats", "when": "active_seats < 0"}, {"segment": "Busy", "when": "peak_utilisation > 100"}])
    (root / "rulectl.yml").write_text(PROJECT.replace("    ranges: {active: {min: 0, max: 1}, utilisation: {min: 0, max: 100}}\n", ""))
    assert run("validate", project=root).exit_code == 0


def test_counter_examples_stay_inside_the_domains(tmp_path: Path):
    # no default and rules that leave a gap below 2 seats: the example customer of the gap has a
    # possible number of seats (0 or 1), a count that is not negative, a utilisation within 0-100
    root = make(tmp_path / "p", [
        {"segment": "Team", "when": "active_seats >= 2 AND seat_count >= 2"},
        {"segment": "Hot", "when": "peak_utilisation >= 90 AND seat_count < 5"},
    ], default=None)
    findings = lint_rules(load_project(root))
    gap = next(f for f in findings if f.kind == "gap")
    assert 0 <= gap.example["active_seats"] < 2 or gap.example["seat_count"] < 2
    assert gap.example["seat_count"] >= 0 and gap.example["active_seats"] >= 0
    assert gap.example["peak_utilisation"] is None or 0 <= gap.example["peak_utilisation"] <= 100


def test_a_deliberate_overlap_is_a_note_and_strict_lint_passes(tmp_path: Path):
    rules = [{"segment": "Hot", "when": "peak_utilisation >= 90"}, {"segment": "Team", "when": "active_seats >= 2"}]
    root = make(tmp_path / "p", rules)
    warned = run("lint", "--strict", project=root)
    assert warned.exit_code == 1, warned.output
    assert "if the order is deliberate, say so on rule `Team`: `overlaps: [Hot]`" in warned.output
    make(tmp_path / "p", [rules[0], {**rules[1], "overlaps": ["Hot"]}])
    passed = run("lint", "--strict", project=root)
    assert passed.exit_code == 0, passed.output
    assert "rules `Hot` and `Team` overlap as `overlaps:` says: customers matching both get `Hot`" in passed.output
    assert "0 warning(s)" in passed.output


def test_bad_input_overlaps_names_a_later_or_unknown_rule(tmp_path: Path):
    root = make(tmp_path / "p", [{"segment": "Hot", "when": "peak_utilisation >= 90", "overlaps": ["Team"]}, {"segment": "Team", "when": "active_seats >= 2", "overlaps": ["hot"]}])
    result = run("validate", project=root)
    assert result.exit_code == 1, result.output
    assert "rules/rules.yml:15: `overlaps`: `Team` is not an earlier rule of `usage` (" in result.output
    assert "rules/rules.yml:16: `overlaps`: `hot` is not an earlier rule of `usage` (list the earlier rules that take the shared customers); did you mean `Hot`?" in result.output


def test_bad_input_range_on_a_text_column(tmp_path: Path):
    root = make(tmp_path / "p", [{"segment": "Team", "when": "active_seats >= 2"}])
    (root / "rulectl.yml").write_text(PROJECT.replace("    columns: {account_no: integer, plan: varchar}\n", "    columns: {account_no: integer, plan: varchar}\n    ranges: {plan: {min: 0}, plna: {max: 3}}\n"))
    result = run("validate", project=root)
    assert result.exit_code == 1, result.output
    assert "`ranges`: column `plan` is varchar; a range bounds a number column" in result.output
    assert "`ranges`: `plna` is not a column of source `accounts`; did you mean `plan`?" in result.output
