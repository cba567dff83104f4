"""`rulectl spend` and the tokens in `status` (issue 22 item 3): sums equal the stored rows, grouped by
prompt, day or run; on Snowflake the account's Cortex usage view, read with the exact statement and
refused with what to grant."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

from engine import workflow
from engine.backends.snowflake import SnowflakeBackend
from engine.config.loader import load_project
from tests.conftest import REPO, edit, run, target_rows
from tests.doubles.recording import RecordingConnection

PRICE = 1.21 / 1_000_000  # llama3.3-70b, both of renamed's prompts (engine/config/pricing.py)


def spent(root: Path, *options: str) -> dict:
    result = run("spend", "--json", *options, project=root)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_spend_sums_equal_the_stored_replies_by_prompt_day_and_run_and_status_shows_the_last_run(tmp_path: Path):
    root = tmp_path / "renamed"
    shutil.copytree(REPO / "tests" / "projects" / "renamed", root, ignore=shutil.ignore_patterns(".rulectl"))
    assert run("load", project=root).exit_code == 0
    assert run("apply", "--yes", project=root).exit_code == 0
    workflow.run_refreshes(load_project(root), None, [])
    edit(root / "data" / "accounts.csv", "Alpha City", "Alpha City Council")  # one account's inputs change
    assert run("load", project=root).exit_code == 0
    second = {r.prompt: r for r in workflow.run_refreshes(load_project(root), None, [])}
    assert second["account_summary"].enriched == second["recommended_action"].enriched == 1

    stored = target_rows(root, "SELECT prompt_name, COUNT(*), SUM(input_tokens), SUM(output_tokens) FROM ENRICHED.CUSTOMER_AI_INSIGHTS GROUP BY 1 ORDER BY 1")
    assert all(row[2] > 0 and row[3] > 0 for row in stored)
    by_prompt = spent(root)
    assert [(g["group"], g["replies"], g["input_tokens"], g["output_tokens"]) for g in by_prompt["groups"]] == [tuple(row) for row in stored]
    total = (sum(int(r[1]) for r in stored), sum(int(r[2]) for r in stored), sum(int(r[3]) for r in stored))
    for grouping in ("prompt", "day", "run"):
        report = spent(root, "--by", grouping)
        assert (report["total"]["replies"], report["total"]["input_tokens"], report["total"]["output_tokens"]) == total
        assert abs(report["total"]["credits"] - (total[1] + total[2]) * PRICE) < 1e-6
    by_run = spent(root, "--by", "run")["groups"]
    # a run per prompt and refresh: Alpha City's two new replies belong to the two second runs
    assert [g["replies"] for g in by_run[2:]] == [1, 1] and sum(g["replies"] for g in by_run) == total[0]
    renamed = target_rows(root, "SELECT SUM(input_tokens), SUM(output_tokens) FROM ENRICHED.CUSTOMER_AI_INSIGHTS WHERE account_id = 'A1'")[0]
    assert (sum(g["input_tokens"] for g in by_run[2:]), sum(g["output_tokens"] for g in by_run[2:])) == renamed
    assert spent(root, "--since", "2999-01-01")["groups"] == []
    assert spent(root)["account"] is None  # a local target keeps no record of its own

    status = [json.loads(line) for line in run("status", "--json", project=root).output.splitlines()]
    summary = next(s for s in status if s["prompt"] == "account_summary")
    a1 = target_rows(root, "SELECT input_tokens, output_tokens FROM ENRICHED.CUSTOMER_AI_INSIGHTS WHERE account_id = 'A1' AND prompt_name = 'account_summary'")[0]
    assert (summary["input_tokens"], summary["output_tokens"]) == a1 and abs(summary["credits"] - int(sum(a1)) * PRICE) < 1e-8


def test_snowflake_spend_reads_the_cortex_usage_view_or_says_what_to_grant():
    connection = RecordingConnection()
    backend = SnowflakeBackend(connection, "CUSTOMER_INTEL")
    refused = backend.cortex_usage(date(2026, 12, 1))
    assert refused.rows == () and "cannot read SNOWFLAKE.ACCOUNT_USAGE.CORTEX_AI_FUNCTIONS_USAGE_HISTORY" in refused.note and "IMPORTED PRIVILEGES" in refused.note

    connection.duck.execute("ATTACH ':memory:' AS snowflake")
    connection.duck.execute("CREATE SCHEMA snowflake.account_usage")
    connection.duck.execute(
        "CREATE TABLE snowflake.account_usage.cortex_ai_functions_usage_history AS SELECT * FROM (VALUES "
        "(TIMESTAMPTZ '2026-12-02 06:00:00+00', 'AI_COMPLETE', 'llama3.1-8b', 0.25), (TIMESTAMPTZ '2026-12-02 07:00:00+00', 'AI_COMPLETE', 'llama3.1-8b', 0.5), "
        "(TIMESTAMPTZ '2026-11-20 06:00:00+00', 'AI_COMPLETE', 'llama3.1-8b', 9.0)) AS t(start_time, function_name, model_name, credits)"
    )
    usage = backend.cortex_usage(date(2026, 12, 1))
    assert usage.rows == ((date(2026, 12, 2), "AI_COMPLETE", "llama3.1-8b", 0.75),)
    assert "lags" in usage.note
    assert connection.statements[-1] == (
        "SELECT CAST(START_TIME AS DATE) AS day, FUNCTION_NAME, MODEL_NAME, SUM(CREDITS) AS credits "
        "FROM SNOWFLAKE.ACCOUNT_USAGE.CORTEX_AI_FUNCTIONS_USAGE_HISTORY WHERE START_TIME >= CAST('2026-12-01' AS DATE) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
