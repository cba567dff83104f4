"""What decides re-enrichment (issue 22 item 1): `refresh.ignore_changes` / `when_changed` make the
input hash of the inputs that matter, `max_age` re-asks old replies, and validate warns at file:line
when a hashed input moves with the calendar. The clock is moved with tests/clock.py."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from engine import workflow
from engine.backends.registry import open_backend
from engine.config.loader import load_project
from tests.clock import local_clock
from tests.conftest import PROJECT_PARTS, REPO, edit, run, target_rows

# On the sample data, no customer's tier, opportunities, ARR, name, state or modules change from
# Dec 4 to Dec 5 2026; on Dec 6 one customer's do (measured on the views, asserted below).
DAY = date(2026, 12, 4)
DECIDING = ("customer_name", "state", "modules_owned", "total_arr", "account_tier", "CAST(opportunities AS VARCHAR)")


def refresh(root: Path):
    (result,) = workflow.run_refreshes(load_project(root), None, [])
    return result


def deciding_inputs(root: Path, today: date) -> dict[str, tuple]:
    """Each customer's deciding inputs on `today`, read from the segments view."""
    with local_clock(today):
        backend = open_backend(load_project(root), read_only=True)
        try:
            return {row[0]: row[1:] for row in backend.query(f"SELECT customer_id, {', '.join(DECIDING)} FROM ANALYTICS.CUSTOMER_SEGMENTS")}
        finally:
            backend.close()


def test_a_week_of_mornings_on_the_example_re_enriches_only_whose_deciding_inputs_changed(loaded_project: Path):
    """Day 0 enriches everyone; day 1 nobody (days_to_renewal and tenure_years moved for all);
    day 2 exactly the customer whose tier or opportunities changed. (Without the declaration everyone
    is re-enriched daily, and max_age re-asks old replies: the renamed project's test shows both.)"""
    project = loaded_project  # the core example, loaded
    with local_clock(DAY):
        assert run("apply", "--yes", project=project).exit_code == 0
        assert refresh(project).enriched == 180
    with local_clock(DAY + timedelta(days=1)):
        assert refresh(project).calls == 0
    moved = changed_between(project, DAY + timedelta(days=1), DAY + timedelta(days=2))
    assert len(moved) == 1
    with local_clock(DAY + timedelta(days=2)):
        assert refresh(project).calls == 1
    assert target_rows(project, "SELECT customer_id FROM AI.ACCOUNT_INSIGHTS WHERE generated_at > TIMESTAMP '2026-12-05 00:00:00'") == [(k,) for k in moved]



def changed_between(root: Path, first: date, last: date) -> set[str]:
    """Customers whose deciding inputs differ between two mornings."""
    before, after = deciding_inputs(root, first), deciding_inputs(root, last)
    return {key for key in before if before[key] != after[key]}


def test_the_example_validates_without_a_daily_re_enrichment_warning():
    result = run("validate", project=REPO)
    assert result.exit_code == 0 and "changes every day" not in result.output


def test_renamed_project_warns_at_the_placeholder_then_decides_by_when_changed(tmp_path: Path):
    root = tmp_path / "renamed"
    shutil.copytree(REPO / "tests" / "projects" / "renamed", root, ignore=shutil.ignore_patterns(".rulectl"))
    rules = root / "rules" / "rules.yml"
    edit(rules, "segmentations:", "  - name: days_since_ticket\n    source: tickets\n    expr: DATEDIFF('day', MAX(opened_on), CURRENT_DATE)\nsegmentations:")
    prompt = root / "prompts" / "account_summary.yml"
    edit(prompt, "{open_tickets} support tickets.", "{open_tickets} support tickets, the last {days_since_ticket} days ago.")
    warned = run("validate", project=root)
    assert warned.exit_code == 0
    assert "prompts/account_summary.yml:8: `days_since_ticket` changes every day (metric `days_since_ticket` reads CURRENT_DATE)" in warned.output
    assert "add `refresh: {when_changed: [account_name, region, modules_list, total_contract_value, value_band, signals, open_tickets]}`" in warned.output

    assert run("load", project=root).exit_code == 0
    with local_clock(DAY):
        assert run("apply", "--yes", project=root).exit_code == 0
        first = runs(root)
    with local_clock(DAY + timedelta(days=1)):  # days_since_ticket moved for every account with tickets
        with_tickets = {line.split(",")[0] for line in (root / "data" / "tickets.csv").read_text().splitlines()[1:]}
        assert runs(root)["account_summary"].calls == len(with_tickets) == 3 < first["account_summary"].enriched

    edit(prompt, "refresh: {schedule: 60 MINUTES, max_rows: 100}", "refresh: {schedule: 60 MINUTES, max_rows: 100, when_changed: [value_band, signals], max_age: 30}")
    assert "changes every day" not in run("validate", project=root).output
    with local_clock(DAY + timedelta(days=1)):
        assert run("apply", "--yes", project=root).exit_code == 0
        assert runs(root)["account_summary"].calls == first["account_summary"].enriched  # a new hash for everyone, once
    with local_clock(DAY + timedelta(days=2)):
        assert runs(root)["account_summary"].calls == 0
    # a new ticket for A2 (already "Busy support", band unchanged) decides nothing; a fee that
    # makes A3 Platinum does
    tickets = root / "data" / "tickets.csv"
    tickets.write_text(tickets.read_text() + "A2,T99,1,2026-12-01\n")
    edit(root / "data" / "modules.csv", "A3,", "A3,XX,live,50000.00,2027-06-01\nA3,")
    assert run("load", project=root).exit_code == 0
    with local_clock(DAY + timedelta(days=2)):
        assert runs(root)["account_summary"].calls == 1
    assert target_rows(root, "SELECT account_id FROM ENRICHED.CUSTOMER_AI_INSIGHTS WHERE prompt_name = 'account_summary' AND generated_at > TIMESTAMP '2026-12-06 00:00:00'") == [("A3",)]
    with local_clock(DAY + timedelta(days=31)):  # 30 days after the replies of day 1: not older than max_age
        assert runs(root)["account_summary"].calls == 0
    with local_clock(DAY + timedelta(days=32)):  # now they are, except A3's of day 2
        assert runs(root)["account_summary"].calls == first["account_summary"].enriched - 1


def runs(root: Path) -> dict:
    return {r.prompt: r for r in workflow.run_refreshes(load_project(root), None, ["account_summary"])}
