"""Lint cases with known answers, on a project shaped unlike the example (other names, an integer
score, a decimal revenue, a text region, a count over a second source)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config.loader import load_project
from engine.core.errors import ConfigErrors
from engine.lint.rule_checks import lint_rules
from tests.conftest import run

PROJECT = """\
name: lint_shapes
targets:
  local: {engine: duckdb, path: .rulectl/lint.duckdb}
sources:
  accounts:
    table: CRM.ACCOUNTS
    key: account_ref
    columns: {account_ref: varchar, score: integer, revenue: "number(12,2)", region: varchar}
  tickets:
    table: CRM.TICKETS
    grain: [account_ref, ticket_id]
    columns: {account_ref: varchar, ticket_id: varchar, severity: integer}
"""
METRICS = """\
metrics:
  - name: open_tickets
    source: tickets
    expr: COUNT(*)
  - name: worst_severity
    source: tickets
    expr: MAX(severity)
  - name: double_score
    expr: score * 2
"""


def make_project(root: Path, rules: list[str], match: str = "first", default: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "rulectl.yml").write_text(PROJECT)
    (root / "rules").mkdir(exist_ok=True)
    (root / "rules" / "metrics.yml").write_text(METRICS)
    lines = ["segmentations:", "  - name: band", f"    match: {match}", "    rules:"]
    for index, when in enumerate(rules):
        lines += [f"      - segment: S{index}", f"        when: {json.dumps(when)}"]
    if default:
        lines.append(f"    default: {default}")
    (root / "rules" / "segments.yml").write_text("\n".join(lines) + "\n")
    return root


def findings_for(tmp_path: Path, rules: list[str], **kwargs):
    return lint_rules(load_project(make_project(tmp_path / "p", rules, **kwargs)))


def kinds(findings) -> list[tuple[str, int]]:
    return [(f.kind, f.line) for f in findings if f.severity == "warning"]


def rule_line(index: int) -> int:
    return 6 + 2 * index  # `when:` of rule `index` in the file make_project writes


def test_unsatisfiable_rule(tmp_path: Path):
    findings = findings_for(tmp_path, ["score > 10 AND score < 5", "score >= 0"], default="Other")
    assert kinds(findings) == [("unsatisfiable", rule_line(0))]
    assert "can never match" in findings[0].message


def test_an_unsatisfiable_rule_is_a_validation_error_and_is_not_deployed(tmp_path: Path):
    # was: validate ok, lint a warning with exit 0, and apply deployed a rule that matched nobody
    root = make_project(tmp_path / "p", ["double_score >= 16 AND score < 5", "score >= 0"], default="Other")
    for command in ("validate", "plan", "apply"):
        result = run(command, *(["--yes"] if command == "apply" else []), project=root)
        assert result.exit_code == 1, result.output
        assert f"rules/segments.yml:{rule_line(0)}: `when`: rule `S0` can never match: `double_score >= 16 AND score < 5` is TRUE for no customer" in result.output
    assert not (root / ".rulectl" / "lint.duckdb").exists()
    narrow = make_project(tmp_path / "q", ["double_score >= 16 AND score < 9", "score >= 0"], default="Other")
    assert run("validate", project=narrow).exit_code == 0


def test_unreachable_rule_names_the_earlier_rule(tmp_path: Path):
    findings = findings_for(tmp_path, ["score >= 10", "revenue > 5", "score >= 20"], default="Other")
    unreachable = [f for f in findings if f.kind == "unreachable"]
    assert [(f.line, f.message) for f in unreachable] == [
        (rule_line(2), "rule `S2` is unreachable: every customer it matches is already taken by `S0` (match: first); reorder the rules or narrow the earlier ones")
    ]


def test_overlap_reports_a_customer_matching_both(tmp_path: Path):
    findings = findings_for(tmp_path, ["score >= 10", "revenue >= 100"], default="Other")
    assert kinds(findings) == [("overlap", rule_line(1))]
    example = findings[0].example
    assert example["score"] >= 10 and example["revenue"] >= 100


def test_specific_before_general_is_not_an_overlap(tmp_path: Path):
    findings = findings_for(tmp_path, ["score >= 20", "score >= 10"], default="Other")
    assert kinds(findings) == []


def test_gap_without_default_is_found_through_null(tmp_path: Path):
    # score > 10 and score <= 10 look complete, but a NULL score matches neither
    findings = findings_for(tmp_path, ["score > 10", "score <= 10"])
    assert kinds(findings) == [("gap", 2)]
    assert findings[0].example == {"score": None}


def test_no_findings_when_null_is_covered(tmp_path: Path):
    assert findings_for(tmp_path, ["score > 10", "score <= 10", "score IS NULL"]) == []


def test_not_of_a_null_comparison_is_not_true(tmp_path: Path):
    # NOT (score > 10) is NULL when score is NULL: the second rule is reachable, and a gap remains
    findings = findings_for(tmp_path, ["score > 10", "NOT (score > 10)"])
    assert kinds(findings) == [("gap", 2)]
    assert findings[0].example == {"score": None}


def test_coalesce_covers_null_so_is_null_rule_is_unreachable(tmp_path: Path):
    findings = findings_for(tmp_path, ["COALESCE(score, 0) >= 0", "score IS NULL"], default="Other")
    assert ("unreachable", rule_line(1)) in kinds(findings)


def test_counts_are_never_null(tmp_path: Path):
    # a count of rows is 0, not NULL, for a customer without tickets: these two rules cover everyone
    assert findings_for(tmp_path, ["open_tickets >= 1", "open_tickets < 1"]) == []
    # a MAX over the same rows is NULL then
    assert kinds(findings_for(tmp_path, ["worst_severity >= 1", "worst_severity < 1"])) == [("gap", 2)]


def test_between_and_in(tmp_path: Path):
    findings = findings_for(tmp_path, ["score BETWEEN 1 AND 5", "score IN (2, 3)"], default="Other")
    assert kinds(findings) == [("unreachable", rule_line(1))]


def test_like_patterns_are_solved_as_text(tmp_path: Path):
    findings = findings_for(tmp_path, ["region LIKE 'North%'", "region LIKE 'North-East%'", "region NOT LIKE '%a%'"], default="Other")
    assert kinds(findings)[0] == ("unreachable", rule_line(1))
    overlap = next(f for f in findings if f.kind == "overlap")
    assert overlap.example["region"].startswith("North") and "a" not in overlap.example["region"]


def test_derived_metrics_are_inlined(tmp_path: Path):
    # double_score >= 30 means score >= 15, which score >= 10 already takes
    findings = findings_for(tmp_path, ["score >= 10", "double_score >= 30"], default="Other")
    assert kinds(findings) == [("unreachable", rule_line(1))]


def test_unknown_functions_are_opaque_and_flagged(tmp_path: Path):
    findings = findings_for(tmp_path, ["ABS(score) > 5", "revenue > 1"], default="Other")
    overlap = next(f for f in findings if f.kind == "overlap")
    assert overlap.approximate and "ABS(score)" in overlap.example


def test_match_all_reports_only_unsatisfiable(tmp_path: Path):
    findings = findings_for(tmp_path, ["score > 1", "score > 2", "score > 3 AND score < 3"], match="all")
    assert kinds(findings) == [("unsatisfiable", rule_line(2))]


def test_example_project_has_only_notes(project: Path):
    result = run("lint", "--strict", project=project)
    assert result.exit_code == 0, result.output
    assert "rules/segments.yml:2: info: only the default `Emerging` applies" in result.output
    assert "0 warning(s), 1 note(s)" in result.output


def test_cli_strict_exits_1_on_warnings(tmp_path: Path):
    root = make_project(tmp_path / "p", ["score >= 10", "score >= 20"], default="Other")
    relaxed = run("lint", project=root)
    assert relaxed.exit_code == 0
    assert f"rules/segments.yml:{rule_line(1)}: warning: rule `S1` is unreachable" in relaxed.output
    strict = run("lint", "--strict", project=root)
    assert strict.exit_code == 1
    as_json = json.loads(run("lint", "--json", project=root).output)
    assert [(f["kind"], f["line"]) for f in as_json] == [("gap", 2), ("unreachable", rule_line(1))]


@pytest.mark.parametrize("bad", ["score > 'ten'", "region + 1 > 2", "score / 0 > 1", "CASE WHEN score > 1 THEN NULL ELSE region END = 'x'"])
def test_odd_conditions_never_crash(tmp_path: Path, bad: str):
    try:
        findings_for(tmp_path, [bad, "score > 1"], default="Other")
    except ConfigErrors as error:  # typed expressions: a mistyped condition is a validation error first
        assert [(p.file, p.line) for p in error.problems] == [("rules/segments.yml", rule_line(0))]
