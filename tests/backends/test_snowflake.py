"""The Snowflake path, offline: statements issued through a recording connection (SHOW parsing,
COPY GRANTS, task suspend/replace/resume, drift), plus connection settings."""

from __future__ import annotations

import json

from pathlib import Path

import pytest

from engine import workflow
from tests.doubles.recording import RecordingConnection
from engine.backends.snowflake import SnowflakeBackend
from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.plan.model import Action
from tests.conftest import edit, run

pytestmark = pytest.mark.snowflake


@pytest.fixture
def snowflake(monkeypatch, project: Path) -> RecordingConnection:
    """Every `--target prod` connection goes to one recording connection holding the source tables."""
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(load_project(project).config.sources)
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, **options: cls(connection, "CUSTOMER_INTEL")))
    return connection


def issued(connection: RecordingConnection, start: int = 0) -> list[str]:
    """Statements that touch Snowflake objects (rulectl's own bookkeeping left out)."""
    return [s for s in connection.statements[start:] if "_RULECTL" not in s.split(" AS ")[0]]


def test_introspection_is_one_query_per_schema_and_kind(project: Path, snowflake):
    loaded = load_project(project)
    backend = SnowflakeBackend(snowflake, "CUSTOMER_INTEL")
    snowflake.catalog.schemas |= {"ANALYTICS", "AI"}
    for index in range(300):
        snowflake.catalog.views[f"ANALYTICS.V{index}"] = {"comment": None, "text": "CREATE VIEW …"}
        snowflake.catalog.tasks[f"AI.T{index}"] = {"comment": None, "warehouse": "W", "schedule": "5 MINUTE", "definition": "SELECT 1", "state": "started"}
        # 300 tables × 40 columns: 12,000 column rows, above SHOW COLUMNS' silent 10,000-row cap
        snowflake.catalog.tables[f"AI.OUT_{index}"] = {"comment": None, "columns": [(f"c{n}", "VARCHAR") for n in range(40)]}
    state = backend.introspect(["ANALYTICS", "AI"])
    columns_query = next(s for s in backend.statements if "INFORMATION_SCHEMA" in s)
    assert backend.statements == [
        "SHOW SCHEMAS IN DATABASE CUSTOMER_INTEL",
        "SHOW VIEWS IN SCHEMA CUSTOMER_INTEL.ANALYTICS",
        "SHOW TABLES IN SCHEMA CUSTOMER_INTEL.ANALYTICS",  # no tables: no column query
        "SHOW TASKS IN SCHEMA CUSTOMER_INTEL.ANALYTICS",
        "SHOW VIEWS IN SCHEMA CUSTOMER_INTEL.AI",
        "SHOW TABLES IN SCHEMA CUSTOMER_INTEL.AI",
        columns_query,
        "SHOW TASKS IN SCHEMA CUSTOMER_INTEL.AI",
    ]
    assert columns_query.startswith("SELECT table_name, column_name, data_type FROM CUSTOMER_INTEL.INFORMATION_SCHEMA.COLUMNS WHERE table_schema = 'AI'")
    assert state.queries == 8 and len([k for k in state.objects if k[0] == "task"]) == 300
    tables = [o for k, o in state.objects.items() if k[0] == "table"]
    assert len(tables) == 300 and all(len(t.columns) == 40 for t in tables)  # every column, none capped
    assert loaded  # the project loads with a snowflake target


def test_show_columns_in_the_double_stops_at_ten_thousand_rows(snowflake):
    """The double is as strict as Snowflake: SHOW COLUMNS drops rows past 10,000 without an error
    (https://docs.snowflake.com/en/sql-reference/sql/show-columns), which is why rulectl does not use it."""
    snowflake.catalog.schemas.add("AI")
    for index in range(300):
        snowflake.catalog.tables[f"AI.OUT_{index}"] = {"comment": None, "columns": [(f"c{n}", "VARCHAR") for n in range(40)]}
    rows = snowflake.cursor().execute("SHOW COLUMNS IN SCHEMA CUSTOMER_INTEL.AI").fetchall()
    assert len(rows) == 10_000


def test_task_rows_are_parsed_as_snowflake_prints_them(snowflake):
    backend = SnowflakeBackend(snowflake, "CUSTOMER_INTEL")
    snowflake.catalog.schemas.add("AI")
    snowflake.catalog.tasks["AI.T"] = {"comment": "rulectl:p:abc", "warehouse": "ai_wh", "schedule": "USING CRON 0 6 * * * UTC", "definition": "MERGE …", "state": "started"}
    task = backend.introspect(["AI"]).get("task", "AI.T")
    assert task.state == "started" and task.owner == ("p", "abc")
    assert "schedule=USING CRON 0 6 * * * UTC" in task.definition and "warehouse=AI_WH" in task.definition


def test_first_apply_issues_exactly_these_statements_then_nothing(project: Path, snowflake):
    result = run("apply", "--yes", "--target", "prod", project=project)
    assert result.exit_code == 0, result.output
    ddl = [s.split(" AS ")[0] for s in issued(snowflake) if not s.startswith(("SHOW", "SELECT", "WITH"))]
    assert ddl == [
        "CREATE SCHEMA IF NOT EXISTS ANALYTICS",
        "CREATE SCHEMA IF NOT EXISTS AI",
        "CREATE VIEW ANALYTICS.CUSTOMER_METRICS COMMENT='rulectl:customer_intelligence:" + _fingerprint(project, "ANALYTICS.CUSTOMER_METRICS") + "'",
        "CREATE VIEW ANALYTICS.CUSTOMER_SEGMENTS COMMENT='rulectl:customer_intelligence:" + _fingerprint(project, "ANALYTICS.CUSTOMER_SEGMENTS") + "'",
        next(s for s in issued(snowflake) if s.startswith("CREATE TABLE AI.ACCOUNT_INSIGHTS")),
        "CREATE TASK AI.REFRESH_ACCOUNT_SUMMARY WAREHOUSE=AI_WH SCHEDULE='USING CRON 0 6 * * * UTC' TIMEZONE='UTC' COMMENT='rulectl:customer_intelligence:" + _fingerprint(project, "AI.REFRESH_ACCOUNT_SUMMARY") + "'",
        "ALTER TASK AI.REFRESH_ACCOUNT_SUMMARY RESUME",
        "CREATE VIEW AI.LATEST_ACCOUNT_SUMMARY COMMENT='rulectl:customer_intelligence:" + _fingerprint(project, "AI.LATEST_ACCOUNT_SUMMARY") + "'",
        "CREATE VIEW AI.CUSTOMER_INSIGHTS COMMENT='rulectl:customer_intelligence:" + _fingerprint(project, "AI.CUSTOMER_INSIGHTS") + "'",
    ]
    assert snowflake.catalog.tasks["AI.REFRESH_ACCOUNT_SUMMARY"]["state"] == "started"
    assert snowflake.catalog.tasks["AI.REFRESH_ACCOUNT_SUMMARY"]["session_parameters"] == {"TIMEZONE": "UTC"}
    before = len(snowflake.statements)
    assert not workflow.plan(load_project(project), "prod").has_changes
    again = run("apply", "--yes", "--target", "prod", project=project)
    assert again.exit_code == 0 and "No changes" in again.output
    assert all(s.startswith(("SHOW", "SELECT", "WITH")) for s in issued(snowflake, before))


def _fingerprint(project: Path, name: str) -> str:
    from engine.compile.project import compile_project

    desired = SnowflakeBackend(None, "CUSTOMER_INTEL").as_deployed(compile_project(load_project(project), "prod"))
    return next(o.fingerprint for o in desired if o.qualified_name == name)


def test_changed_view_is_replaced_with_copy_grants(project: Path, snowflake):
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    edit(project / "rules" / "segments.yml", "module_count >= 2", "module_count >= 3")
    start = len(snowflake.statements)
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    changed = [s for s in issued(snowflake, start) if s.startswith("CREATE")]
    assert len(changed) == 1 and changed[0].startswith("CREATE OR REPLACE VIEW ANALYTICS.CUSTOMER_SEGMENTS COPY GRANTS COMMENT=")


SHAPES = Path(__file__).resolve().parent.parent / "projects"


def test_removing_an_output_field_drops_its_column_and_keeps_the_table_and_grants(tmp_path: Path, monkeypatch):
    """Removing a structured output field drops its column: with --allow-destructive one ALTER TABLE …
    DROP COLUMN (never DROP or REPLACE of the table), so the other fields, every stored reply and the
    grants BI roles hold on it survive. The renamed shape: the example has no structured outputs."""
    import shutil

    from engine.config.enrichments import declared_sources

    root = tmp_path / "renamed"
    shutil.copytree(SHAPES / "renamed", root, ignore=shutil.ignore_patterns(".rulectl"))
    connection = RecordingConnection("CUSTOMER_AI").add_source_tables(declared_sources(load_project(root).config))
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, **options: cls(connection, "CUSTOMER_AI")))
    assert run("apply", "--yes", "--target", "prod", project=root).exit_code == 0
    table = "ENRICHED.CUSTOMER_AI_INSIGHTS"
    connection.catalog.tables[table]["grants"] = ["SELECT TO ROLE BI_READER"]
    edit(root / "prompts" / "recommended_action.yml", "  talking_points: {type: list, max_items: 3}\n", "")
    refused = run("apply", "--yes", "--target", "prod", project=root)
    assert refused.exit_code == 1 and "--allow-destructive" in refused.output
    start = len(connection.statements)
    allowed = run("apply", "--yes", "--allow-destructive", "--target", "prod", project=root)
    assert allowed.exit_code == 0, allowed.output
    touching = [s for s in issued(connection, start) if table in s.split(" AS ")[0] and not s.startswith(("SHOW", "SELECT", "WITH"))]
    fingerprint = next(o.fingerprint for o in SnowflakeBackend(None, "CUSTOMER_AI").as_deployed(compile_project(load_project(root), "prod")) if o.qualified_name == table)
    assert touching == [f"ALTER TABLE {table} DROP COLUMN talking_points", f"COMMENT ON TABLE {table} IS 'rulectl:original_design:{fingerprint}'"]
    assert not [s for s in issued(connection, start) if s.startswith(("DROP TABLE", "CREATE OR REPLACE TABLE"))]
    assert connection.catalog.tables[table]["grants"] == ["SELECT TO ROLE BI_READER"]
    assert "talking_points" not in [name for name, _ in connection.catalog.tables[table]["columns"]]
    assert not workflow.plan(load_project(root), "prod").has_changes


def test_duckdb_still_replaces_a_table_with_drop_then_create(tmp_path: Path):
    from engine.backends.duckdb import DuckDBBackend
    from engine.compile.objects import DesiredObject
    import sqlglot

    statement = sqlglot.parse_one("CREATE TABLE AI.T (customer_id VARCHAR, response VARCHAR)", read="snowflake")
    backend = DuckDBBackend(tmp_path / "t.duckdb")
    rendered = [backend.to_sql(s) for s in backend.table_replace_statements(DesiredObject("table", "AI", "T", statement, (), (), ()), "rulectl:p:1")]
    assert [s.split(" (")[0] for s in rendered] == ["DROP TABLE IF EXISTS AI.T", "CREATE TABLE AI.T", "COMMENT ON TABLE AI.T IS 'rulectl:p:1'"]


def test_changed_task_is_suspended_altered_in_place_and_resumed(project: Path, snowflake):
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    created = snowflake.catalog.tasks["AI.REFRESH_ACCOUNT_SUMMARY"]["created"]
    edit(project / "prompts" / "account_summary.yml", "USING CRON 0 6 * * * UTC", "USING CRON 0 7 * * * UTC")
    start = len(snowflake.statements)
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    task_ddl = [s.split(" AS ")[0] for s in issued(snowflake, start) if s.startswith(("ALTER TASK", "CREATE OR ALTER TASK", "CREATE TASK"))]
    assert task_ddl == [
        "ALTER TASK IF EXISTS AI.REFRESH_ACCOUNT_SUMMARY SUSPEND",
        "CREATE OR ALTER TASK AI.REFRESH_ACCOUNT_SUMMARY WAREHOUSE=AI_WH SCHEDULE='USING CRON 0 7 * * * UTC' TIMEZONE='UTC' COMMENT='rulectl:customer_intelligence:"
        + _fingerprint(project, "AI.REFRESH_ACCOUNT_SUMMARY") + "'",
        "ALTER TASK AI.REFRESH_ACCOUNT_SUMMARY RESUME",
    ]
    task = snowflake.catalog.tasks["AI.REFRESH_ACCOUNT_SUMMARY"]
    assert task["created"] == created and task["state"] == "started"  # the same object: grants and history kept
    assert not [s for s in snowflake.statements if "OR REPLACE TASK" in s or s.startswith("DROP TASK")]


def _task_head(connection: RecordingConnection) -> str:
    return next(s for s in connection.statements if s.startswith("CREATE TASK")).split(" SCHEDULE=")[0]


def test_tasks_use_the_connections_warehouse_when_the_target_names_none(project: Path, snowflake):
    edit(project / "rulectl.yml", "    warehouse: AI_WH\n", "")
    made = workflow.plan(load_project(project), "prod")
    assert "refresh tasks run on the connection's warehouse COMPUTE_WH (the target names none)" in made.notes
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    assert _task_head(snowflake) == "CREATE TASK AI.REFRESH_ACCOUNT_SUMMARY WAREHOUSE=COMPUTE_WH"
    assert snowflake.statements.count("SELECT CURRENT_WAREHOUSE()") == 2  # once per connection (plan, apply)


def test_serverless_tasks_only_when_asked_for(project: Path, snowflake):
    edit(project / "rulectl.yml", "    warehouse: AI_WH\n", "    serverless_tasks: true\n")
    made = workflow.plan(load_project(project), "prod")
    assert any(note.startswith("refresh tasks run serverless") and "EXECUTE MANAGED TASK" in note for note in made.notes)
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    assert _task_head(snowflake) == "CREATE TASK AI.REFRESH_ACCOUNT_SUMMARY"  # no WAREHOUSE: serverless
    assert "SELECT CURRENT_WAREHOUSE()" not in snowflake.statements


def test_no_warehouse_anywhere_is_a_clear_error(project: Path, snowflake):
    edit(project / "rulectl.yml", "    warehouse: AI_WH\n", "")
    snowflake.catalog.current_warehouse = None
    shown = run("plan", "--target", "prod", project=project)
    assert "refresh tasks have no warehouse" in shown.output
    result = run("apply", "--yes", "--target", "prod", project=project)
    assert result.exit_code == 1 and "set `warehouse:` on the target" in result.output and "Traceback" not in result.output
    assert not snowflake.catalog.tasks


def test_a_task_that_does_not_resume_is_reported(project: Path, snowflake):
    snowflake.catalog.refuse_resume.add("AI.REFRESH_ACCOUNT_SUMMARY")
    result = run("apply", "--yes", "--target", "prod", project=project)
    assert result.exit_code == 0
    assert "task AI.REFRESH_ACCOUNT_SUMMARY is suspended but declared started" in result.output


def test_a_task_suspended_by_snowflake_is_drift(project: Path, snowflake):
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    snowflake.catalog.tasks["AI.REFRESH_ACCOUNT_SUMMARY"]["state"] = "suspended"  # e.g. after repeated failures
    made = workflow.plan(load_project(project), "prod")
    assert [(s.qualified_name, s.action) for s in made.changes] == [("AI.REFRESH_ACCOUNT_SUMMARY", Action.DRIFT)]
    assert "task is suspended but declared started" in made.changes[0].reason


def test_hand_edited_view_is_drift_and_unowned_objects_are_refused(project: Path, snowflake):
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    snowflake.catalog.views["ANALYTICS.CUSTOMER_METRICS"]["text"] = "CREATE OR REPLACE VIEW … (edited in Snowsight)"
    snowflake.catalog.views["ANALYTICS.CUSTOMER_SEGMENTS"] = {"comment": None, "text": "CREATE VIEW someone_elses"}
    made = workflow.plan(load_project(project), "prod")
    actions = {s.qualified_name: s.action for s in made.changes}
    assert actions["ANALYTICS.CUSTOMER_METRICS"] is Action.DRIFT
    assert actions["ANALYTICS.CUSTOMER_SEGMENTS"] is Action.DRIFT  # managed by rulectl (its record), comment removed by hand


def test_objects_never_managed_are_not_touched(project: Path, snowflake):
    snowflake.catalog.schemas.add("ANALYTICS")
    snowflake.catalog.views["ANALYTICS.CUSTOMER_METRICS"] = {"comment": "owned by the finance team", "text": "CREATE VIEW …"}
    snowflake.catalog.views["ANALYTICS.OTHER"] = {"comment": None, "text": "CREATE VIEW …"}
    result = run("apply", "--yes", "--target", "prod", project=project)
    assert result.exit_code == 1 and "rulectl will not overwrite it" in result.output
    assert not [s for s in issued(snowflake) if s.startswith(("CREATE VIEW", "CREATE OR REPLACE VIEW", "DROP"))]


def test_run_executes_the_task(project: Path, snowflake):
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    result = run("run", "--target", "prod", project=project)
    assert result.exit_code == 0 and "EXECUTE TASK" in result.output
    assert snowflake.catalog.executed_tasks == ["AI.REFRESH_ACCOUNT_SUMMARY"]
    assert snowflake.statements[-1] == "EXECUTE TASK AI.REFRESH_ACCOUNT_SUMMARY"


def test_unknown_prompt_for_run_is_a_clear_error(project: Path, snowflake):
    result = run("run", "nope", "--target", "prod", project=project)
    assert result.exit_code == 1 and "unknown prompt" in result.output and "Traceback" not in result.output


def test_the_task_runs_a_script_that_logs_the_run_and_merges_in_bounded_batches(project: Path, snowflake):
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    body = snowflake.catalog.tasks["AI.REFRESH_ACCOUNT_SUMMARY"]["definition"]
    lines = [line.strip() for line in body.split("\n")]  # not splitlines(): the MERGE holds U+0085 etc. in a literal
    heads = [line.split(" ", 3)[:3] for line in lines]
    assert lines[:3] == ["EXECUTE IMMEDIATE $$", "DECLARE", "run_id VARCHAR DEFAULT UUID_STRING();"] and lines[-2:] == ["END;", "$$"]
    assert [" ".join(h) for h in heads if h[0] in ("SELECT", "INSERT", "WHILE", "MERGE", "IF", "UPDATE", "END", "END;", "EXCEPTION", "RAISE;")] == [
        "INSERT INTO _RULECTL.RUN_LOG",  # the run-log row first: a count that fails is logged
        "SELECT COUNT(*) INTO",
        "UPDATE _RULECTL.RUN_LOG SET",
        "WHILE (attempted <",
        "MERGE INTO AI.ACCOUNT_INSIGHTS",
        "END WHILE;",
        "IF (attempted >",
        "SELECT CAST(GET_PATH(AI_COMPLETE(model =>",
        "END IF;",
        "UPDATE _RULECTL.RUN_LOG SET",
        "EXCEPTION",
        "UPDATE _RULECTL.RUN_LOG SET",
        "RAISE;",
        "END;",
    ]
    merge = next(line for line in lines if line.startswith("MERGE"))
    assert "w.rulectl_row > :skip_rows AND w.rulectl_row <= (:skip_rows + :take_rows)" in merge
    assert "take_rows := LEAST(50, pending_rows - attempted);" in lines
    # a run that enriched nothing asks the first pending row's AI_COMPLETE for Snowflake's error
    asked = next(line for line in lines if line.startswith("SELECT CAST(GET_PATH(AI_COMPLETE("))
    assert "return_error_details => TRUE), 'error') AS VARCHAR) INTO :row_error FROM (" in asked and asked.endswith("AS p LIMIT 1;")
    assert "error = CAST(:attempted - :enriched_rows AS VARCHAR) || ' call(s) failed: ' || :row_error WHERE run_id = :run_id" in lines[lines.index("END IF;") + 1]
    on_error = lines[lines.index("EXCEPTION") + 2]
    assert "error = :SQLERRM" in on_error and "failed = :attempted - :enriched_rows" in on_error


def test_apply_calls_ai_complete_once_per_model_and_options_and_reports_snowflakes_error(project: Path, snowflake):
    """The preflight sends the prompt's own model, options and response_format, and asks for the
    error: AI_COMPLETE gives NULL on error, so a plain call would show nothing."""
    from engine.compile.cortex_calls import completion_calls, render
    from engine.config.loader import load_project

    check = render(completion_calls(load_project(project))[0])
    assert "model => 'llama3.1-8b'" in check and "'temperature', 0.2" in check and "response_format => " in check and "return_error_details => TRUE" in check
    error = "100351 (P0000): Request failed for external function AI_COMPLETE with remote service error: 400 'model llama3.1-8b is not available in region AWS_EU_CENTRAL_1'"
    snowflake.catalog.failing_models["llama3.1-8b"] = error
    result = run("apply", "--yes", "--target", "prod", project=project)
    assert result.exit_code == 0
    assert snowflake.statements.count(check) == 1
    assert "Cortex prompt account_summary: AI_COMPLETE with model llama3.1-8b fails: " + error in " ".join(result.output.split())
    again = len(snowflake.statements)
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    assert not [s for s in snowflake.statements[again:] if "AI_" in s]  # no task changed: no call


def test_run_checks_ai_complete_first_and_runs_nothing_when_it_fails(project: Path, snowflake):
    from engine.compile.cortex_calls import completion_calls, render
    from engine.config.loader import load_project

    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    start = len(snowflake.statements)
    ok = run("run", "--target", "prod", project=project)
    assert ok.exit_code == 0 and "rulectl status" in ok.output
    assert snowflake.statements[start:] == [render(completion_calls(load_project(project))[0]), "EXECUTE TASK AI.REFRESH_ACCOUNT_SUMMARY"]
    snowflake.catalog.failing_models["llama3.1-8b"] = "Unknown model 'llama3.1-8b'."
    refused = run("run", "--target", "prod", project=project)
    assert refused.exit_code == 1 and "llama3.1-8b: Unknown model 'llama3.1-8b'." in refused.output and "CORTEX_USER" in refused.output
    assert snowflake.catalog.executed_tasks == ["AI.REFRESH_ACCOUNT_SUMMARY"]  # nothing run the second time


def test_the_seed_model_snowflake_arctic_runs_only_where_the_account_already_used_it(project: Path, snowflake):
    """snowflake-arctic is legacy: "only accounts that already used the model can keep calling it"
    (https://docs.snowflake.com/en/user-guide/snowflake-cortex/model-availability)."""
    prompt = project / "prompts" / "account_summary.yml"
    prompt.write_text(prompt.read_text().replace("model: llama3.1-8b", "model: snowflake-arctic", 1))
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    refused = run("run", "--target", "prod", project=project)
    assert refused.exit_code == 1 and "snowflake-arctic: Model 'snowflake-arctic' is a legacy model" in " ".join(refused.output.split())
    snowflake.cortex.legacy_models_used.add("snowflake-arctic")  # an account that used it before
    ok = run("run", "--target", "prod", project=project)
    assert ok.exit_code == 0 and snowflake.catalog.executed_tasks == ["AI.REFRESH_ACCOUNT_SUMMARY"]


def test_status_and_plan_read_the_run_log_the_task_writes(project: Path, snowflake):
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    snowflake.duck.execute(
        "INSERT INTO _RULECTL.RUN_LOG VALUES ('account_summary', 'r1', TIMESTAMP '2026-11-24 06:00:00', TIMESTAMP '2026-11-24 06:00:09', 180, 0, 180, NULL)"
    )
    status = run("status", "--target", "prod", project=project)
    assert status.exit_code == 0 and "enriched none of its 180 pending row(s)" in " ".join(status.output.split())
    assert any("enriched none" in note for note in workflow.plan(load_project(project), "prod").notes)
    scheduler = run("scheduler", "--once", "--target", "prod", project=project)
    assert scheduler.exit_code == 1 and "Snowflake schedules its tasks itself" in scheduler.output


def test_status_reads_task_history_and_says_when_snowflake_suspended_a_task(project: Path, snowflake):
    """A run that failed before its run-log row, and a task Snowflake suspended after failing
    SUSPEND_TASK_AFTER_NUM_FAILURES times, show in status from TASK_HISTORY, with the error; plan
    keeps its queries (no TASK_HISTORY)."""
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    failing = {"schema": "AI", "name": "REFRESH_ACCOUNT_SUMMARY", "error": "Insufficient privileges to operate on view 'CUSTOMER_SEGMENTS'"}
    snowflake.catalog.task_runs = [
        {"schema": "OTHER", "name": "REFRESH_ACCOUNT_SUMMARY", "state": "SUCCEEDED"},  # another schema's task of the same name
        {**failing, "state": "FAILED"},
        {**failing, "state": "FAILED"},
        {"schema": "AI", "name": "REFRESH_ACCOUNT_SUMMARY", "state": "SUCCEEDED"},
    ]
    status = run("status", "--target", "prod", "--json", project=project)
    row = json.loads(status.output.splitlines()[0])
    assert row["state"] == "failed" and row["task"]["failures_in_a_row"] == 2
    assert row["warning"] == "account_summary: the last run of task AI.REFRESH_ACCOUNT_SUMMARY failed (2 in a row): " + failing["error"]
    snowflake.catalog.task_runs.insert(0, {**failing, "state": "FAILED_AND_AUTO_SUSPENDED"})
    assert json.loads(run("status", "--target", "prod", "--json", project=project).output.splitlines()[0])["state"] == "suspended after failures"
    shown = " ".join(run("status", "--target", "prod", project=project).output.split())
    assert "Snowflake suspended task AI.REFRESH_ACCOUNT_SUMMARY after 3 failed run(s) in a row (SUSPEND_TASK_AFTER_NUM_FAILURES); the last error: Insufficient privileges" in shown
    history = [s for s in snowflake.statements if "TASK_HISTORY" in s]
    assert history and history[-1].startswith("SELECT SCHEMA_NAME, NAME, STATE, ERROR_MESSAGE, COMPLETED_TIME FROM TABLE(CUSTOMER_INTEL.INFORMATION_SCHEMA.TASK_HISTORY(RESULT_LIMIT => 10000))")
    before = len(snowflake.statements)
    workflow.plan(load_project(project), "prod")
    assert not [s for s in snowflake.statements[before:] if "TASK_HISTORY" in s]


def test_a_template_holding_dollar_dollar_is_quoted_not_dollar_quoted(project: Path):
    import sqlglot
    from sqlglot import exp

    from engine.compile.project import compile_project

    edit(project / "prompts" / "account_summary.yml", "then two recommended next actions.", "then two recommended next actions worth $$.")
    task = next(o for o in compile_project(load_project(project), "prod") if o.kind == "task")
    script = SnowflakeBackend(None, "CUSTOMER_INTEL").refresh_script(task).sql("snowflake")
    assert script.startswith("EXECUTE IMMEDIATE '")
    block = sqlglot.parse_one("SELECT " + script.removeprefix("EXECUTE IMMEDIATE "), read="snowflake").selects[0]
    assert isinstance(block, exp.Literal) and block.this.startswith("DECLARE\n") and "worth $$." in block.this
