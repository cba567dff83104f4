"""Refresh runs on the local target: replies committed in batches (Ctrl-C keeps what landed and the
next run calls the model only for the rest), every run in the run log, `status` and `plan` warn
when a run enriched nothing. Calls are counted at a local HTTP server."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import duckdb

from engine import workflow
from engine.config.loader import load_project
from tests.ai.fake_llm_server import FakeLLM
from tests.ai.test_enrichment import output_rows, setup_project, use_openai
from tests.conftest import edit, run, sample_rows


def run_log(project: Path) -> list[tuple]:
    connection = duckdb.connect(str(project / ".rulectl" / "local.duckdb"))
    try:
        return connection.execute("SELECT prompt, pending, enriched, failed, error, started_at, finished_at FROM _RULECTL.RUN_LOG ORDER BY started_at").fetchall()
    finally:
        connection.close()


def test_ctrl_c_keeps_the_committed_batches_and_the_next_run_calls_only_the_rest(project: Path):
    edit(project / "prompts" / "account_summary.yml", "max_rows: 1000", "max_rows: 1000\n  batch_rows: 10")
    setup_project(project)
    customers = len(sample_rows("customer"))
    replies = {"n": 0}
    lock = threading.Lock()  # on_row runs on the provider's worker threads

    def on_row(ok: bool) -> None:
        with lock:
            replies["n"] += 1
            press = replies["n"] == 25  # the user presses Ctrl-C once, after 25 replies
        if press:
            os.kill(os.getpid(), signal.SIGINT)

    with FakeLLM() as server:
        server.healthy = True
        use_openai(project, server.base_url)
        first = workflow.run_refreshes(load_project(project), None, [], on_row=on_row)[0]
        kept = len(output_rows(project))
        assert first.interrupted and first.enriched == kept
        assert 25 <= kept < customers and kept % 10 == 0  # the batch in flight was committed, then the run stopped
        # distinct prompts, not raw requests: under load a reset keep-alive connection is retried
        asked = lambda: {r["messages"][-1]["content"] for r in server.requests}  # noqa: E731
        assert len(asked()) == kept
        second = workflow.run_refreshes(load_project(project), None, [])[0]
        assert not second.interrupted and second.calls == customers - kept  # only rows without a stored reply
        assert len(asked()) == customers and len(output_rows(project)) == customers
    logged = run_log(project)
    assert [(r[1], r[2], r[3]) for r in logged] == [(customers, kept, 0), (customers - kept, customers - kept, 0)]
    assert all(r[6] is not None and r[6] >= r[5] for r in logged)


def test_cli_run_exits_130_when_interrupted(project: Path, monkeypatch):
    from engine.backends.base import RunResult

    monkeypatch.setattr(workflow, "run_refreshes", lambda *a, **k: [RunResult("p", "AI.REFRESH_P", 10, 3, 3, 0, interrupted=True)])
    result = run("run", project=project)
    assert result.exit_code == 130 and "interrupted" in result.output and "Traceback" not in result.output


def test_a_run_that_enriches_nothing_is_logged_and_warned_about_in_status_and_plan(project: Path):
    setup_project(project)
    customers = len(sample_rows("customer"))
    with FakeLLM() as server:
        server.failing_all = True
        use_openai(project, server.base_url)
        edit(project / "rulectl.yml", "retries: 1", "retries: 0")
        result = run("run", "--allow-failures", project=project)
        assert result.exit_code == 0, result.output
    assert [(r[1], r[2], r[3]) for r in run_log(project)] == [(customers, 0, customers)]
    status = run("status", project=project)
    assert status.exit_code == 0 and "enriched none of its 180 pending row(s)" in status.output
    lines = [json.loads(line) for line in run("status", "--json", project=project).output.splitlines()]
    assert [(r["prompt"], r["pending"], r["enriched"], r["failed"], r["state"]) for r in lines] == [("account_summary", customers, 0, customers, "finished")]
    assert "enriched none" in lines[0]["warning"]
    plan = workflow.plan(load_project(project))
    assert any("account_summary: the last run enriched none" in note for note in plan.notes)


def test_status_before_any_run(project: Path):
    setup_project(project)
    shown = run("status", "--json", project=project)
    assert shown.exit_code == 0 and json.loads(shown.output)["state"] == "never run"


def test_mixed_failures_are_counted_by_kind_in_run_and_status_with_local_advice(tmp_path: Path):
    # was "N call(s) failed … (gave up after 1 attempts: empty reply)" when most were schema
    # violations, `status --json` had "error": null, and a local target was told to check Cortex
    from tests.test_project_shapes import copy_shape

    root = copy_shape("renamed", tmp_path)
    accounts = root / "data" / "accounts.csv"
    text = accounts.read_text()
    for old, new in (("Alpha City", "Alpha BAD_SCHEMA"), ("Beta Town", "Beta BAD_SCHEMA"), ("Gamma County", "Gamma FAULT_EMPTY")):
        text = text.replace(old, new)
    accounts.write_text(text)
    setup_project(root)
    with FakeLLM() as server:
        edit(root / "rulectl.yml", "llm: {provider: offline}", f"llm: {{provider: openai, base_url: '{server.base_url}', retries: 0, timeout_seconds: 5}}")
        result = run("run", "recommended_action", "--allow-failures", project=root)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "REFRESH_RECOMMENDED_ACTION" in line)
    assert "2 row(s) enriched with 5 model call(s); 3 call(s) failed: 2 replies broke the outputs schema (e.g. reply does not satisfy the outputs schema" in line
    assert "; 1 empty replies (e.g. gave up after 1 attempts: empty reply)" in line
    status = {row["prompt"]: row for row in map(json.loads, run("status", "--json", project=root).output.splitlines())}
    action = status["recommended_action"]
    assert (action["state"], action["enriched"], action["failed"]) == ("finished", 2, 3)
    assert action["error"].startswith("3 call(s) failed: 2 replies broke the outputs schema") and action["warning"] is None
    # every call failing: the warning names the kinds and, on a local target, no Cortex advice
    with FakeLLM() as server:
        server.failing_all = True
        text = (root / "rulectl.yml").read_text()
        start = text.index("base_url: '") + len("base_url: '")
        (root / "rulectl.yml").write_text(text[:start] + server.base_url + text[text.index("'", start):])
        assert run("run", "account_summary", "--allow-failures", project=root).exit_code == 0
    shown = run("status", project=root).output
    assert "account_summary: the last run enriched none of its 5 pending row(s) (5 call(s) failed: 5 HTTP errors (e.g. gave up after 1 attempts: HTTP 500))" in shown
    assert "rulectl doctor" in shown and "CORTEX_USER" not in shown
