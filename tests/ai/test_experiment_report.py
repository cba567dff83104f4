"""experiment report: per-variant rows and outcome rates with a Wilson interval and a z-test."""

from __future__ import annotations

import math
from pathlib import Path

from engine import workflow
from engine.ai.experiment_report import two_proportion_p_value, wilson_interval
from engine.config.loader import load_project
from tests.conftest import edit, run


def test_wilson_interval_known_values():
    low, high = wilson_interval(50, 100)
    assert math.isclose(low, 0.4038, abs_tol=1e-3) and math.isclose(high, 0.5962, abs_tol=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(0, 0) == (0.0, 0.0)


def test_two_proportion_test_known_value():
    # 60/100 vs 45/100: z = 2.1228, two-sided p = 0.0338
    assert math.isclose(two_proportion_p_value(60, 100, 45, 100), 0.0338, abs_tol=5e-4)
    assert two_proportion_p_value(0, 0, 1, 2) is None


def test_report_compares_variants_on_the_outcome_column(project: Path):
    with (project / "rules" / "metrics.yml").open("a") as handle:
        handle.write("  - name: owns_cr\n    source: products\n    expr: COUNT_IF(module = 'CR') > 0\n    filter: status = 'active'\n")
    edit(project / "prompts" / "account_summary.yml", "  salt: account-summary-2026-11\n", "  salt: account-summary-2026-11\n  outcome: owns_cr\n")
    assert run("load", project=project).exit_code == 0
    assert run("apply", "--yes", project=project).exit_code == 0
    workflow.run_refreshes(load_project(project), None, [])

    stats = workflow.read_experiment(load_project(project), None, "account_summary")
    loaded = load_project(project)
    from engine.backends.registry import open_backend

    backend = open_backend(loaded)
    truth = dict(
        ((variant, (n, wins)) for variant, n, wins in backend.query(
            "SELECT o.variant, COUNT(*), SUM(CASE WHEN s.owns_cr THEN 1 ELSE 0 END) FROM AI.ACCOUNT_INSIGHTS o "
            "JOIN ANALYTICS.CUSTOMER_SEGMENTS s ON s.customer_id = o.customer_id GROUP BY 1"
        ))
    )
    backend.close()
    by_variant = {s.variant: s for s in stats}
    for variant, (n, wins) in truth.items():
        assert by_variant[variant].rows == n
        assert math.isclose(by_variant[variant].outcome_rate, wins / n)
    control, treatment = truth["control"], truth["action_first"]
    assert math.isclose(by_variant["action_first"].p_value, two_proportion_p_value(treatment[1], treatment[0], control[1], control[0]))
    shown = run("experiment", "report", "account_summary", project=project).output
    assert "outcome" in shown and "95% CI" in shown and f"{by_variant['control'].outcome_rate:.1%}" in shown


def test_report_for_an_unknown_prompt_is_a_clear_error(project: Path):
    result = run("experiment", "report", "acount_summary", project=project)
    assert result.exit_code == 1 and "did you mean `account_summary`" in result.output


def test_insights_and_report_as_json(project: Path):
    import json

    assert run("demo", project=project).exit_code == 0
    lines = run("insights", "--json", "-n", "3", project=project).output.strip().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 3 and all(r["outputs"][0]["provider"] == "offline" and r["outputs"][0]["response"] for r in rows)
    assert all(r["outputs"][0]["stale"] is False and r["name"] and r["segments"]["account_tier"] for r in rows)
    sizes = [r["shown"]["total_arr"] for r in rows]
    assert sizes == sorted(sizes, reverse=True)  # largest first by display.size
    assert len(run("insights", "--json", project=project).output.strip().splitlines()) == 180  # --json: every row
    report = json.loads(run("experiment", "report", "account_summary", "--json", project=project).output)
    assert {r["variant"] for r in report} == {"control", "action_first"} and sum(r["rows"] for r in report) == 180
