"""The whole chain on differently shaped projects, not only the example: `renamed` (the original
design's layout: other names everywhere, a third source at ticket grain, two prompts sharing one
insights table) and `minimal` (one source with an integer key, one metric, one segmentation, no
prompts). Numbers are asserted from the CSVs under tests/projects/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from engine import workflow
from engine.backends.snowflake import SnowflakeBackend
from engine.config.loader import load_project
from tests.conftest import edit, run
from tests.doubles.recording import RecordingConnection

SHAPES = Path(__file__).resolve().parent / "projects"


def copy_shape(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(SHAPES / name, root, ignore=shutil.ignore_patterns(".rulectl"))
    return root


def rows(root: Path, sql: str) -> list[tuple]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


@pytest.fixture
def renamed(tmp_path: Path) -> Path:
    return copy_shape("renamed", tmp_path)


@pytest.fixture
def minimal(tmp_path: Path) -> Path:
    return copy_shape("minimal", tmp_path)


def test_renamed_apply_before_load_names_the_table_and_creates_nothing(renamed: Path):
    result = run("apply", "--yes", project=renamed)
    assert result.exit_code == 1
    assert "GOLD.CUSTOMER_GOLD does not exist" in result.output and "SUPPORT.TICKETS does not exist" in result.output
    assert rows(renamed, "SELECT count(*) FROM duckdb_schemas() WHERE schema_name IN ('REPORTING', 'ENRICHED', '_RULECTL')") == [(0,)]


def test_renamed_whole_chain(renamed: Path):
    assert run("validate", project=renamed).exit_code == 0
    assert run("load", project=renamed).exit_code == 0
    assert run("plan", "--detailed-exitcode", project=renamed).exit_code == 2
    applied = run("apply", "--yes", project=renamed)
    assert applied.exit_code == 0, applied.output

    segments = {
        r[0]: r[1:]
        for r in rows(renamed, "SELECT account_id, total_contract_value, module_total, modules_list, open_tickets, worst_severity, value_band, signals FROM REPORTING.CUSTOMER_SEGMENTS")
    }
    assert segments == {
        "A1": (35000, 2, "AP/GL", 1, 1, "Platinum", []),
        "A2": (12000, 1, "GL", 2, 3, "Needs Care", ["Busy support", "Single module"]),
        "A3": (9000, 2, "CR/GL", 1, 1, "Standard", []),
        "A4": (None, 0, None, 0, None, "Standard", []),  # only a cancelled module, no tickets
        "A5": (None, 0, None, 0, None, "Standard", []),  # nothing at all, still one row
    }

    ran = run("run", project=renamed)
    assert ran.exit_code == 0, ran.output
    # two prompts, one table: rows keyed by account and prompt
    assert rows(renamed, "SELECT prompt_name, count(*) FROM ENRICHED.CUSTOMER_AI_INSIGHTS GROUP BY 1 ORDER BY 1") == [("account_summary", 5), ("recommended_action", 5)]
    assert run("run", project=renamed).output.count("0 row(s) enriched") == 2  # nothing changed, nothing re-sent

    shown = [json.loads(line) for line in run("insights", "--json", project=renamed).output.splitlines()]
    assert [r["name"] for r in shown][:3] == ["Alpha City", "Beta Town", "Gamma County"]  # largest TCV first
    alpha = shown[0]
    assert alpha["shown"] == {"total_contract_value": 35000.0, "region": "West", "modules_list": "AP/GL", "open_tickets": 1}
    assert {o["prompt"] for o in alpha["outputs"]} == {"account_summary", "recommended_action"}
    assert all(o["provider"] == "offline" and not o["stale"] for o in alpha["outputs"])
    panels = run("insights", "--segment", "Busy support", project=renamed)
    assert panels.exit_code == 0 and "Beta Town (A2)" in panels.output and "TCV: $12,000" in panels.output and "Alpha City" not in panels.output

    report = json.loads(run("experiment", "report", "recommended_action", "--json", project=renamed).output)
    assert sum(v["rows"] for v in report) == 5 and {v["variant"] for v in report} == {"direct", "gentle"}

    # a rule change: plan names the account that moves, the wide view marks its outputs stale
    edit(renamed / "rules" / "rules.yml", "total_contract_value >= 30000", "total_contract_value >= 10000")
    planned = run("plan", project=renamed)
    assert "value_band: 1 customer: Needs Care → Platinum (e.g. Beta Town)" in planned.output, planned.output
    assert run("apply", "--yes", project=renamed).exit_code == 0
    stale = rows(renamed, "SELECT account_id FROM ENRICHED.CUSTOMER_INSIGHTS WHERE account_summary_stale")
    assert stale == [("A2",)]
    assert "1 account_summary output(s) are stale" in run("insights", project=renamed).output
    assert "1 row(s) enriched" in run("run", "account_summary", project=renamed).output
    assert run("plan", "--detailed-exitcode", project=renamed).exit_code == 0


def test_renamed_compiles_for_snowflake_with_its_own_names(renamed: Path):
    result = run("compile", "--target", "prod", project=renamed)
    assert result.exit_code == 0, result.output
    sql = result.output
    assert "CREATE VIEW ENRICHED.CUSTOMER_INSIGHTS" in sql and "CREATE TABLE ENRICHED.CUSTOMER_AI_INSIGHTS" in sql
    assert "t.prompt_name = 'recommended_action'" in sql and "AI_COMPLETE(" in sql and "SNOWFLAKE.CORTEX" not in sql
    for example_name in ("total_arr", "customer_name", "modules_owned", "customer_id"):
        assert example_name not in sql


@pytest.mark.snowflake
def test_renamed_plans_on_snowflake_through_the_recording_connection(renamed: Path, monkeypatch):
    loaded = load_project(renamed)
    connection = RecordingConnection("CUSTOMER_AI").add_source_tables(loaded.config.sources)
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, **options: cls(connection, "CUSTOMER_AI")))
    plan = workflow.plan(loaded, "prod")
    assert not plan.errors
    assert {s.qualified_name for s in plan.changes} >= {"ENRICHED.CUSTOMER_AI_INSIGHTS", "ENRICHED.REFRESH_ACCOUNT_SUMMARY", "ENRICHED.REFRESH_RECOMMENDED_ACTION", "ENRICHED.CUSTOMER_INSIGHTS"}
    # the sources live in two schemas: one INFORMATION_SCHEMA.COLUMNS query each (no SHOW COLUMNS cap)
    column_queries = [s for s in connection.statements if "INFORMATION_SCHEMA.COLUMNS WHERE table_schema = 'GOLD'" in s or "INFORMATION_SCHEMA.COLUMNS WHERE table_schema = 'SUPPORT'" in s]
    assert [s.split(" AND ")[0].split(" FROM ")[1] for s in column_queries] == [
        "CUSTOMER_AI.INFORMATION_SCHEMA.COLUMNS WHERE table_schema = 'GOLD'", "CUSTOMER_AI.INFORMATION_SCHEMA.COLUMNS WHERE table_schema = 'SUPPORT'",
    ]
    assert not [s for s in connection.statements if s.startswith("SHOW COLUMNS")]


def test_minimal_whole_chain(minimal: Path):
    assert run("validate", project=minimal).exit_code == 0
    assert run("load", project=minimal).exit_code == 0
    applied = run("apply", "--yes", project=minimal)
    assert applied.exit_code == 0, applied.output
    assert rows(minimal, "SELECT member_id, activity FROM ANALYTICS.CUSTOMER_SEGMENTS ORDER BY 1") == [(1, "Regular"), (2, "Occasional"), (3, "Regular"), (4, "Occasional")]
    assert run("plan", "--detailed-exitcode", project=minimal).exit_code == 0
    insights = run("insights", project=minimal)
    assert insights.exit_code == 1 and "no prompts" in insights.output  # said plainly, no traceback
    summary = workflow.segment_summary(load_project(minimal), None)
    assert [(s.segment, s.customers, s.size) for s in summary] == [("Regular", 2, None), ("Occasional", 2, None)]  # counts only: no display.size
    compiled = run("compile", "--target", "local", project=minimal)
    assert compiled.exit_code == 0 and "CLUB.MEMBERS" in compiled.output


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.output.startswith("rulectl ")


def test_apply_prints_the_segment_moves_it_applied(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "segments.yml", "total_arr >= 150000", "total_arr >= 100000")
    result = run("apply", "--yes", project=project)
    assert result.exit_code == 0
    assert "Customers moving between segments:" in result.output and "Growth → Strategic" in result.output
