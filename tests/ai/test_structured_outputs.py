"""Structured replies (`outputs:`): one call fills typed columns, the JSON schema travels as
`response_format`, and a reply that is not JSON or breaks the schema is never stored (it stays
pending and counts as failed). Run on the `renamed` project, whose recommended_action prompt
declares text, label, boolean and list fields and shares its table with a free-text prompt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from engine import workflow
from engine.compile.prompts import compile_prompt
from engine.compile.structured_outputs import json_schema
from engine.config.loader import load_project
from tests.ai.fake_llm_server import FakeLLM
from tests.conftest import edit, run

SHAPES = Path(__file__).resolve().parent.parent / "projects"
FIELDS = ("action", "urgency", "owner_needed", "talking_points")


@pytest.fixture
def renamed(tmp_path: Path) -> Path:
    root = tmp_path / "renamed"
    shutil.copytree(SHAPES / "renamed", root, ignore=shutil.ignore_patterns(".rulectl"))
    return root


def stored(root: Path, prompt: str = "recommended_action") -> dict[str, tuple]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        sql = f"SELECT account_id, {', '.join(FIELDS)}, response FROM ENRICHED.CUSTOMER_AI_INSIGHTS WHERE prompt_name = '{prompt}'"
        return {r[0]: r[1:] for r in connection.execute(sql).fetchall()}
    finally:
        connection.close()


def use_openai(root: Path, base_url: str) -> None:
    edit(root / "rulectl.yml", "llm: {provider: offline}", f"llm: {{provider: openai, base_url: '{base_url}', model: test-model, retries: 0, timeout_seconds: 5}}")


def refresh(root: Path, prompt: str = "recommended_action"):
    return workflow.run_refreshes(load_project(root), None, [prompt])[0]


def test_the_schema_is_strict_json_schema_of_the_fields(renamed: Path):
    loaded = load_project(renamed)
    prompt = next(p.item for p in loaded.prompts if p.item.name == "recommended_action")
    schema = json_schema(prompt.outputs)
    assert schema == {
        "type": "object",
        "properties": {
            "action": {"type": "string", "maxLength": 400, "description": "The one next action"},
            "urgency": {"type": "string", "enum": ["later", "this quarter", "now"], "description": "When to act"},
            "owner_needed": {"type": "boolean", "description": "Whether an executive sponsor must be involved"},
            "talking_points": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        },
        "required": list(FIELDS),
        "additionalProperties": False,
    }


def test_snowflake_sql_sends_the_schema_in_the_options_and_reads_structured_output(renamed: Path):
    compiled = compile_prompt(load_project(renamed), next(p for p in load_project(renamed).prompts if p.item.name == "recommended_action"))
    sql = compiled.merge.sql(dialect="snowflake")
    # https://docs.snowflake.com/en/user-guide/snowflake-cortex/complete-structured-outputs: AI_COMPLETE's
    # own response_format argument, without the constraint keywords Cortex refuses (the gate checks them)
    assert "response_format => OBJECT_CONSTRUCT('type', 'json', 'schema', OBJECT_CONSTRUCT('type', 'object', 'properties', OBJECT_CONSTRUCT(" in sql
    assert "maxLength" not in sql and "maxItems" not in sql and "show_details => TRUE" in sql
    assert "LENGTH(c.action__text) <= 400" in sql and "CAST(c.talking_points__json AS ARRAY), NULL)) <= 3" in sql
    assert "'enum', ['later', 'this quarter', 'now']" in sql  # an ARRAY constant and "'additionalProperties', FALSE" in sql
    assert "GET_PATH(j.reply_json, 'structured_output[0].raw_message') AS rulectl_structured" in sql
    assert "IFF(IS_ARRAY(c.talking_points__json), CAST(c.talking_points__json AS ARRAY), NULL) AS talking_points" in sql
    assert "c.urgency__text IN ('later', 'this quarter', 'now')" in sql
    assert "WHERE (NOT r.response IS NULL AND TRIM(r.response) <> '') AND r.rulectl_valid" in sql
    assert "t.talking_points = s.talking_points" in sql  # every field written on update and insert


def test_only_conforming_replies_are_stored_and_the_rest_retried(renamed: Path):
    edit(renamed / "data" / "accounts.csv", "A3,Gamma County", "A3,Gamma NOT_JSON County")
    edit(renamed / "data" / "accounts.csv", "A4,Delta Village", "A4,Delta BAD_SCHEMA Village")
    assert run("load", project=renamed).exit_code == 0
    assert run("apply", "--yes", project=renamed).exit_code == 0
    with FakeLLM() as server:
        use_openai(renamed, server.base_url)
        first = refresh(renamed)
        assert (first.pending, first.enriched, first.failures) == (5, 3, 2)
        assert {r["response_format"]["type"] for r in server.requests} == {"json_schema"}  # sent as OpenAI structured outputs
        rows = stored(renamed)
        assert set(rows) == {"A1", "A2", "A5"}  # the non-JSON and the schema-breaking replies are not stored
        action, urgency, owner_needed, talking_points, response = rows["A1"]
        assert (action, urgency, owner_needed, talking_points) == ("action from test-model", "now", True, ["talking_points 1 from test-model", "talking_points 2 from test-model"])
        assert json.loads(response)["urgency"] == "now"

        server.healthy = True
        server.requests.clear()
        second = refresh(renamed)
        assert (second.pending, second.calls, second.enriched) == (2, 2, 2)  # only the two that failed
        assert set(stored(renamed)) == {"A1", "A2", "A3", "A4", "A5"}


def test_offline_stand_in_satisfies_the_schema_and_says_what_it_is(renamed: Path):
    assert run("load", project=renamed).exit_code == 0
    assert run("apply", "--yes", project=renamed).exit_code == 0
    assert refresh(renamed).enriched == 5
    action, urgency, owner_needed, talking_points, _ = stored(renamed)["A2"]
    assert action.startswith("[offline stand-in, not AI output]") and urgency == "later" and owner_needed is False
    assert talking_points == ["[offline stand-in, not AI output]"]


def test_insights_show_fields_and_filter_on_them(renamed: Path):
    assert run("load", project=renamed).exit_code == 0
    assert run("apply", "--yes", project=renamed).exit_code == 0
    with FakeLLM() as server:
        server.healthy = True
        use_openai(renamed, server.base_url)
        refresh(renamed)
    rows = [json.loads(line) for line in run("insights", "--prompt", "recommended_action", "--json", project=renamed).output.splitlines()]
    assert len(rows) == 5 and rows[0]["outputs"][0]["fields"]["urgency"] == "now"
    now = run("insights", "--prompt", "recommended_action", "--where", "urgency = 'now' AND region = 'West'", "--json", project=renamed)
    assert [json.loads(line)["key"] for line in now.output.splitlines()] == ["A1", "A3"]
    panel = run("insights", "--prompt", "recommended_action", "--customer", "A2", project=renamed).output
    assert "urgency: now" in panel and "• talking_points 1 from test-model" in panel
    unknown = run("insights", "--where", "urgncy = 'now'", "--prompt", "recommended_action", project=renamed)
    assert unknown.exit_code == 1 and "did you mean `urgency`" in unknown.output


def test_a_new_field_is_an_added_column_and_re_enriches_every_row(renamed: Path):
    assert run("load", project=renamed).exit_code == 0
    assert run("apply", "--yes", project=renamed).exit_code == 0
    assert run("run", project=renamed).exit_code == 0  # both prompts of the shared table
    with (renamed / "prompts" / "recommended_action.yml").open("a") as handle:
        handle.write("  confidence: {type: number, minimum: 0, maximum: 1}\n")
    plan = workflow.plan(load_project(renamed))
    table_step = next(s for s in plan.changes if s.qualified_name == "ENRICHED.CUSTOMER_AI_INSIGHTS")
    assert table_step.action.value == "alter" and table_step.add_columns == (("confidence", "FLOAT"),) and not table_step.destructive
    cost = next(c for c in plan.ai_costs if c.prompt == "recommended_action")
    assert cost.rows == 5  # the schema is part of the prompt version
    assert next(c for c in plan.ai_costs if c.prompt == "account_summary").rows == 0  # the other prompt of the table is untouched
    assert run("apply", "--yes", project=renamed).exit_code == 0
    assert refresh(renamed).enriched == 5


def test_removing_a_field_drops_its_column_only_behind_allow_destructive(renamed: Path):
    # was: the output table recreated, every stored reply of both prompts gone
    assert run("load", project=renamed).exit_code == 0
    assert run("apply", "--yes", project=renamed).exit_code == 0
    assert run("run", project=renamed).exit_code == 0  # both prompts of the shared table
    before, summaries = stored(renamed), stored_replies(renamed, "account_summary")
    assert len(before) == 5 and len(summaries) == 5
    edit(renamed / "prompts" / "recommended_action.yml", "  talking_points: {type: list, max_items: 3}\n", "")
    refused = run("apply", "--yes", project=renamed)
    assert refused.exit_code == 1 and "--allow-destructive" in refused.output
    assert "columns talking_points are no longer declared: dropping them deletes their values (every other column and row is kept)" in refused.output
    sql = run("plan", "--sql", project=renamed).output
    assert "ALTER TABLE ENRICHED.CUSTOMER_AI_INSIGHTS DROP COLUMN talking_points" in sql and "DROP TABLE ENRICHED.CUSTOMER_AI_INSIGHTS" not in sql
    applied = run("apply", "--yes", "--allow-destructive", project=renamed)
    assert applied.exit_code == 0, applied.output
    connection = duckdb.connect(str(renamed / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        columns = [r[0] for r in connection.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'CUSTOMER_AI_INSIGHTS'").fetchall()]
        kept = {r[0]: r[1:] for r in connection.execute(
            "SELECT account_id, action, urgency, owner_needed, response FROM ENRICHED.CUSTOMER_AI_INSIGHTS WHERE prompt_name = 'recommended_action'").fetchall()}
    finally:
        connection.close()
    assert "talking_points" not in columns and {"action", "urgency", "owner_needed"} <= set(columns)
    assert kept == {key: (values[0], values[1], values[2], values[4]) for key, values in before.items()}  # every reply, every other field
    assert stored_replies(renamed, "account_summary") == summaries  # the other prompt's replies too


def stored_replies(root: Path, prompt: str) -> dict[str, str]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return dict(connection.execute(f"SELECT account_id, response FROM ENRICHED.CUSTOMER_AI_INSIGHTS WHERE prompt_name = '{prompt}'").fetchall())
    finally:
        connection.close()


def test_experiment_report_takes_an_output_field_as_the_outcome(renamed: Path):
    prompt = renamed / "prompts" / "recommended_action.yml"
    edit(prompt, "  salt: action-2026\n", "  salt: action-2026\n  outcome: urgency = 'now' AND region = 'West'\n")
    assert run("load", project=renamed).exit_code == 0
    assert run("apply", "--yes", project=renamed).exit_code == 0
    with FakeLLM() as server:
        server.healthy = True
        use_openai(renamed, server.base_url)
        refresh(renamed)
        report = json.loads(run("experiment", "report", "recommended_action", "--json", project=renamed).output)
        successes = sum(round(v["outcome_rate"] * v["rows"]) for v in report if v["rows"])
        assert successes == 2  # every reply says "now"; A1 and A3 are in the West

        edit(prompt, "  outcome: urgency = 'now' AND region = 'West'\n", "  outcome: confidence\n")
        with prompt.open("a") as handle:
            handle.write("  confidence: {type: number, minimum: 0, maximum: 10}\n")
        assert run("apply", "--yes", project=renamed).exit_code == 0
        refresh(renamed)
        report = json.loads(run("experiment", "report", "recommended_action", "--json", project=renamed).output)
        assert all(v["outcome_mean"] == pytest.approx(7) for v in report if v["rows"])  # the mean of a number field (the fake answers 7)
        shown = run("experiment", "report", "recommended_action", project=renamed).output
        assert "outcome mean" in shown and "7" in shown


def test_an_outcome_naming_an_unknown_field_is_a_validation_error(renamed: Path):
    edit(renamed / "prompts" / "recommended_action.yml", "  salt: action-2026\n", "  salt: action-2026\n  outcome: urgncy = 'now'\n")
    result = run("validate", project=renamed)
    assert result.exit_code == 1 and "prompts/recommended_action.yml:" in result.output and "did you mean `urgency`" in result.output
