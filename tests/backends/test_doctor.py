"""`rulectl doctor`: on the recording double (every check ok; each kind of failure with its fix) and
on a local target (the DuckDB file, the LLM endpoint over real HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.backends.snowflake import SnowflakeBackend
from engine.compile.cortex_calls import completion_calls, render
from engine.config.loader import load_project
from tests.conftest import edit, run
from tests.doubles.recording import RecordingConnection

SESSION = "SELECT CURRENT_USER(), CURRENT_ROLE(), CURRENT_DATABASE(), CURRENT_WAREHOUSE(), CURRENT_AVAILABLE_ROLES()"


@pytest.fixture
def snowflake(monkeypatch, project: Path) -> RecordingConnection:
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(load_project(project).config.sources)
    connection.catalog.current_warehouse = "AI_WH"  # the target's warehouse, which the connector made the session's
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, **options: cls(connection, "CUSTOMER_INTEL")))
    return connection


def doctor(project: Path, *args: str) -> tuple[int, dict[str, dict]]:
    result = run("doctor", "--json", *args, project=project)
    checks = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return result.exit_code, {check["name"]: check for check in checks}


@pytest.mark.snowflake
def test_every_check_passes_and_the_statements_are_exactly_these(project: Path, snowflake):
    code, checks = doctor(project, "--target", "prod")
    assert code == 0 and all(check["ok"] for check in checks.values()), checks
    assert list(checks) == [
        "connection", "database", "warehouse", "CREATE SCHEMA on database CUSTOMER_INTEL", "EXECUTE TASK on account",
        "prompt account_summary: AI_COMPLETE with model llama3.1-8b",
    ]
    assert checks["connection"]["detail"] == "connected as RULECTL_USER with role SYSADMIN"
    assert snowflake.statements == [
        SESSION,
        "SHOW SCHEMAS IN DATABASE CUSTOMER_INTEL",
        "SHOW GRANTS ON DATABASE CUSTOMER_INTEL",
        "SHOW GRANTS ON ACCOUNT",
        render(completion_calls(load_project(project))[0]),  # the prompt's own options and response_format
    ]
    shown = run("doctor", "--target", "prod", project=project)
    assert shown.exit_code == 0 and "all 6 checks ok" in shown.output


@pytest.mark.snowflake
def test_after_apply_the_schemas_rulectl_created_are_checked_for_each_privilege(project: Path, snowflake):
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    snowflake.catalog.grants["SCHEMA CUSTOMER_INTEL.AI"] = [("USAGE", "SYSADMIN"), ("CREATE TABLE", "SYSADMIN"), ("CREATE VIEW", "SYSADMIN")]
    code, checks = doctor(project, "--target", "prod")
    assert code == 1
    assert checks["privileges on schema CUSTOMER_INTEL.ANALYTICS"]["ok"] and checks["privileges on schema CUSTOMER_INTEL._RULECTL"]["ok"]
    ai = checks["privileges on schema CUSTOMER_INTEL.AI"]
    assert not ai["ok"] and ai["detail"] == "role SYSADMIN (and the roles it holds) has no CREATE TASK"
    assert ai["fix"] == "run `GRANT CREATE TASK ON SCHEMA CUSTOMER_INTEL.AI TO ROLE SYSADMIN`"
    # a grant to a role lower in the user's hierarchy counts (CURRENT_AVAILABLE_ROLES lists it)
    snowflake.catalog.grants["SCHEMA CUSTOMER_INTEL.AI"].append(("CREATE TASK", "TASK_ADMIN"))
    snowflake.catalog.available_roles += ("TASK_ADMIN",)
    assert doctor(project, "--target", "prod")[0] == 0


@pytest.mark.snowflake
@pytest.mark.parametrize("failure, check, fix", [
    ("no warehouse", "warehouse", "run `GRANT USAGE ON WAREHOUSE AI_WH TO ROLE SYSADMIN`"),
    ("no database", "database", "`GRANT USAGE ON DATABASE CUSTOMER_INTEL TO ROLE SYSADMIN`"),
    ("no create schema", "CREATE SCHEMA on database CUSTOMER_INTEL", "`GRANT CREATE SCHEMA ON DATABASE CUSTOMER_INTEL TO ROLE SYSADMIN`"),
    ("no execute task", "EXECUTE TASK on account", "`GRANT EXECUTE TASK ON ACCOUNT TO ROLE SYSADMIN` (as ACCOUNTADMIN)"),
    ("no cortex role", "prompt account_summary: AI_COMPLETE with model llama3.1-8b", "`GRANT DATABASE ROLE SNOWFLAKE.CORTEX_USER TO ROLE SYSADMIN` (as ACCOUNTADMIN)"),
    ("model not in region", "prompt account_summary: AI_COMPLETE with model llama3.1-8b", "SHOW CORTEX BASE MODELS IN SCHEMA SNOWFLAKE.MODELS), or enable cross-region inference: `ALTER ACCOUNT SET CORTEX_ENABLED_CROSS_REGION = 'ANY_REGION'`"),
    ("retired model", "prompt account_summary: AI_COMPLETE with model mistral-large2", "set `model: llama3.3-70b` in the prompt"),
    ("legacy model", "prompt account_summary: AI_COMPLETE with model snowflake-arctic", "set `model: llama3.1-8b` in the prompt"),
])
def test_each_failure_says_what_to_run(project: Path, snowflake, failure: str, check: str, fix: str):
    catalog = snowflake.catalog
    if failure == "no warehouse":
        catalog.current_warehouse = None
    elif failure == "no database":
        catalog.database_usable = False
    elif failure == "no create schema":
        catalog.grants["DATABASE CUSTOMER_INTEL"] = [("USAGE", "SYSADMIN")]
    elif failure == "no execute task":
        catalog.grants["ACCOUNT"] = []
    elif failure == "no cortex role":
        snowflake.cortex.denied = "SQL access control error: Insufficient privileges to operate on function 'AI_COMPLETE'"
    elif failure == "model not in region":
        catalog.failing_models["llama3.1-8b"] = "Model 'llama3.1-8b' is not available in region AWS_EU_CENTRAL_1"
    else:
        edit(project / "prompts" / "account_summary.yml", "model: llama3.1-8b", f"model: {'mistral-large2' if failure == 'retired model' else 'snowflake-arctic'}")
    code, checks = doctor(project, "--target", "prod")
    assert code == 1 and not checks[check]["ok"] and fix in checks[check]["fix"], checks[check]
    assert [name for name, c in checks.items() if not c["ok"]] == [check]  # only that one
    shown = " ".join(run("doctor", "--target", "prod", project=project).output.split())
    assert f"FAILED {check}: " in shown and "fix: " in shown and "1 failed" in shown


@pytest.mark.snowflake
def test_serverless_tasks_need_execute_managed_task_and_a_named_warehouse_must_be_usable(project: Path, snowflake):
    edit(project / "rulectl.yml", "    warehouse: AI_WH\n", "    serverless_tasks: true\n")
    snowflake.catalog.grants["ACCOUNT"] = [("EXECUTE TASK", "SYSADMIN")]
    code, checks = doctor(project, "--target", "prod")
    assert code == 1 and checks["EXECUTE MANAGED TASK on account"]["fix"] == "run `GRANT EXECUTE MANAGED TASK ON ACCOUNT TO ROLE SYSADMIN` (as ACCOUNTADMIN)"
    edit(project / "rulectl.yml", "    serverless_tasks: true\n", "    warehouse: AI_WH\n")
    snowflake.catalog.current_warehouse = None  # the connector could not make AI_WH the session's
    code, checks = doctor(project, "--target", "prod")
    assert code == 1 and checks["warehouse"]["fix"] == "run `GRANT USAGE ON WAREHOUSE AI_WH TO ROLE SYSADMIN`"


@pytest.mark.snowflake
def test_sentiment_is_checked_with_one_ai_sentiment_call(project: Path, snowflake):
    from tests.ai.test_sentiment import with_tickets

    code, checks = doctor(with_tickets(project), "--target", "prod")
    assert code == 0 and checks["sentiment: AI_SENTIMENT"]["ok"]
    assert "SELECT AI_SENTIMENT('Reply with the single word OK.')" in snowflake.statements
    snowflake.cortex.denied = "SQL access control error: Insufficient privileges to operate on function 'AI_SENTIMENT'"
    code, checks = doctor(project, "--target", "prod")
    assert code == 1 and "SNOWFLAKE.CORTEX_USER" in checks["sentiment: AI_SENTIMENT"]["fix"]


@pytest.mark.snowflake
def test_the_search_model_is_checked_with_one_ai_embed_call(project: Path, snowflake):
    from tests.ai.test_search import with_search

    root = with_search(project)
    snowflake.catalog.failing_models["snowflake-arctic-embed-m-v1.5"] = "Unknown model 'snowflake-arctic-embed-m-v1.5'"
    code, checks = doctor(root, "--target", "prod")
    embed = checks["search: AI_EMBED with model snowflake-arctic-embed-m-v1.5"]
    assert code == 1 and not embed["ok"] and "Unknown model" in embed["detail"]
    assert embed["fix"].startswith("set `search: {model: …}` in rulectl.yml to another 768-dimension AI_EMBED model") and "CORTEX_ENABLED_CROSS_REGION" in embed["fix"]
    assert "SELECT AI_EMBED('snowflake-arctic-embed-m-v1.5', 'Reply with the single word OK.')" in snowflake.statements


@pytest.mark.snowflake
def test_a_connection_that_cannot_be_made_is_the_one_failed_check(project: Path, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("SNOWFLAKE_HOME", str(tmp_path / "no-snowflake-home"))
    code, checks = doctor(project, "--target", "prod")
    assert code == 1 and list(checks) == ["connection"] and "connections.toml" in checks["connection"]["fix"]


@pytest.mark.snowflake
def test_the_apply_preflight_reports_doctors_fix(project: Path, snowflake):
    snowflake.cortex.denied = "SQL access control error: Insufficient privileges to operate on function 'AI_COMPLETE'"
    result = run("apply", "--yes", "--target", "prod", project=project)
    shown = " ".join(result.output.split())
    assert result.exit_code == 0 and "Cortex prompt account_summary: AI_COMPLETE with model llama3.1-8b fails: SQL access control error" in shown
    assert "`GRANT DATABASE ROLE SNOWFLAKE.CORTEX_USER TO ROLE SYSADMIN`" in shown


def test_local_target_checks_the_duckdb_file_and_the_offline_provider(project: Path):
    code, checks = doctor(project)
    assert code == 0 and list(checks) == ["DuckDB file", "LLM provider"]
    assert "does not exist yet" in checks["DuckDB file"]["detail"] and "not AI" in checks["LLM provider"]["detail"]
    assert run("load", project=project).exit_code == 0 and run("apply", "--yes", project=project).exit_code == 0
    code, checks = doctor(project)
    assert code == 0 and "opens (DuckDB" in checks["DuckDB file"]["detail"]
    (project / ".rulectl" / "local.duckdb").write_bytes(b"not a database")
    code, checks = doctor(project)
    assert code == 1 and not checks["DuckDB file"]["ok"] and checks["DuckDB file"]["fix"]


def test_local_target_calls_the_llm_endpoint_with_the_prompts_options(project: Path):
    from tests.ai.fake_llm_server import FakeLLM
    from tests.ai.test_enrichment import use_openai

    with FakeLLM() as server:
        server.healthy = True
        use_openai(project, server.base_url)
        code, checks = doctor(project)
        sent = server.requests[-1]
        assert code == 0 and checks["prompt account_summary: AI_COMPLETE with model llama3.1-8b"]["ok"], checks
        assert sent["temperature"] == 0.2 and sent["response_format"]["json_schema"]["schema"]["properties"]["risk"]["enum"] == ["low", "medium", "high"]
        server.failing_all = True  # HTTP 500 for every request
        code, checks = doctor(project)
        failed = checks["prompt account_summary: AI_COMPLETE with model llama3.1-8b"]
        assert code == 1 and not failed["ok"] and failed["fix"]
    code, checks = doctor(project)  # the server is gone
    failed = checks["prompt account_summary: AI_COMPLETE with model llama3.1-8b"]
    assert code == 1 and failed["fix"].startswith(f"start the server at {server.base_url}")
