"""Lint against a target: rules matching no customer and oversized segments, on real DuckDB data."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run
from tests.lint.test_rule_checks import PROJECT, make_project, rule_line

ACCOUNTS = "account_ref,score,revenue,region\na1,50,10.00,North\na2,40,20.00,South\na3,5,,North\na4,,5.00,West\n"
TICKETS = "account_ref,ticket_id,severity\na1,t1,3\na1,t2,1\na3,t3,2\n"


def data_project(tmp_path: Path, rules: list[str], default: str | None = "Other") -> Path:
    root = make_project(tmp_path / "p", rules, default=default)
    (root / "data").mkdir()
    (root / "data" / "accounts.csv").write_text(ACCOUNTS)
    (root / "data" / "tickets.csv").write_text(TICKETS)
    text = PROJECT.replace("region: varchar}\n", "region: varchar}\n    sample: data/accounts.csv\n")
    text = text.replace("severity: integer}\n", "severity: integer}\n    sample: data/tickets.csv\n")
    (root / "rulectl.yml").write_text(text)
    assert run("load", project=root).exit_code == 0
    return root


def test_rules_matching_nobody_and_rules_winning_nobody(tmp_path: Path):
    # S1 is satisfiable in theory (no solver warning) but no customer has a score of 1000;
    # S2 matches a1 and a2, but S0 takes both first
    root = data_project(tmp_path, ["score >= 10", "score >= 1000 OR revenue > 100", "revenue >= 10"])
    result = run("lint", "--target", "local", "--max-share", "0.9", project=root)
    assert result.exit_code == 0, result.output
    assert f"rules/segments.yml:{rule_line(1)}: warning: rule `S1` matches none of the 4 customers on target `local`" in result.output
    assert f"rules/segments.yml:{rule_line(2)}: warning: rule `S2` matches 2 customer(s) on target `local` but wins none" in result.output


def test_segment_holding_too_large_a_share(tmp_path: Path):
    root = data_project(tmp_path, ["score >= 10", "open_tickets >= 1"])
    result = run("lint", "--target", "local", "--max-share", "0.4", "--strict", project=root)
    assert result.exit_code == 1
    assert f"rules/segments.yml:{rule_line(0)}: warning: segment `S0` holds 50% of the customers on target `local` (2 of 4), more than 40%" in result.output
    # the default holds a4 only (a3 has a ticket): 25%, under the limit
    assert "`Other` holds" not in result.output


def test_example_project_growth_share(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    result = run("lint", "--target", "local", project=project)
    assert result.exit_code == 0
    assert "rules/segments.yml:13: warning: segment `Growth` holds 77% of the customers on target `local` (139 of 180), more than 50%" in result.output
