"""`rulectl test`: YAML rule tests run through the compiled SQL on an in-memory DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import REPO, copy_rule_tests, edit, run
from tests.lint.test_rule_checks import make_project

FAILING = """\
today: 2026-06-01
tests:
  - name: tier of a two-module customer
    given:
      customer:
        - {customer_id: X1, customer_name: Troy, customer_since: 2020-01-01}
      products:
        - {customer_id: X1, module: GL, status: active, arr: 100000, seats: 10, active_users: 9, renewal_date: 2026-08-01}
        - {customer_id: X1, module: AP, status: active, arr: 60000, seats: 10, active_users: 9, renewal_date: 2026-12-01}
    expect:
      - customer_id: X1
        days_to_renewal: 61
        account_tier: Strategic
        opportunities: [Renewal due]
"""


def test_example_project_rule_tests_pass(project: Path):
    assert sorted(p.name for p in (REPO / "tests").glob("*.yml")) == ["account_tier.yml"]
    result = run("test", project=copy_rule_tests(project))
    assert result.exit_code == 0, result.output
    assert "3 passed, 0 failed" in result.output


def test_failure_shows_expected_actual_and_the_deciding_rule(project: Path):
    copy_rule_tests(project)
    (project / "tests" / "account_tier.yml").write_text(FAILING)
    result = run("test", project=project)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "FAIL tier of a two-module customer  (tests/account_tier.yml:3)" in lines
    assert "    X1: account_tier expected 'Strategic', got 'Growth'" in lines
    assert (
        "      decided by rule `Growth` (rules/segments.yml:13: module_count >= 2) with module_count = 2" in lines
    )
    assert "    X1: opportunities expected ['Renewal due'], got ['Cross-sell CR', 'Renewal due']" in lines
    assert "days_to_renewal" not in "\n".join(l for l in lines if "expected" in l)  # 61 days: right
    assert "0 passed, 1 failed" in lines


def test_json_output(project: Path):
    copy_rule_tests(project)
    (project / "tests" / "account_tier.yml").write_text(FAILING)
    results = json.loads(run("test", "--json", project=project).output)
    assert [(r["name"], r["passed"]) for r in results] == [("tier of a two-module customer", False)]
    assert [(m["column"], m["expected"], m["actual"]) for m in results[0]["mismatches"]] == [
        ("account_tier", "Strategic", "Growth"),
        ("opportunities", ["Renewal due"], ["Cross-sell CR", "Renewal due"]),
    ]


def test_rows_the_engine_refuses_are_a_failure_not_a_crash(project: Path):
    copy_rule_tests(project)
    edit(project / "tests" / "account_tier.yml", "population: 900", "population: lots")
    result = run("test", "--name", "At Risk", project=project)
    assert result.exit_code == 1
    # caught before any test runs, at the row's line (was the engine's "could not convert" at run time)
    assert "tests/account_tier.yml:27: `given.customer`: `population` is a whole number (integer): `lots` is not a whole number" in result.output
    assert "Traceback" not in result.output


def test_another_project_shape(tmp_path: Path):
    root = make_project(tmp_path / "p", ["open_tickets >= 2", "score >= 10"], default="Quiet")
    (root / "tests").mkdir()
    (root / "tests" / "bands.yml").write_text(
        "tests:\n"
        "  - name: tickets before score\n"
        "    given:\n"
        "      accounts: [{account_ref: a1, score: 50}, {account_ref: a2, score: 5}, {account_ref: a3}]\n"
        "      tickets: [{account_ref: a1, ticket_id: t1}, {account_ref: a1, ticket_id: t2, severity: 4}, {account_ref: a2, ticket_id: t3}]\n"
        "    expect:\n"
        "      - {account_ref: a1, open_tickets: 2, worst_severity: 4, double_score: 100, band: S0}\n"
        "      - {account_ref: a2, open_tickets: 1, worst_severity: null, band: Quiet}\n"
        "      - {account_ref: a3, open_tickets: 0, band: Quiet}\n"
    )
    result = run("test", project=root)
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed" in result.output


def test_no_tests_is_not_a_failure(tmp_path: Path):
    root = make_project(tmp_path / "p", ["score >= 10"])
    result = run("test", project=root)
    assert result.exit_code == 0
    assert "no rule tests found" in result.output
