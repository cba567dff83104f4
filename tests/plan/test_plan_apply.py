"""plan / apply on the local target, end to end through the CLI and the workflow functions."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from engine import workflow
from engine.backends.base import LockHolder
from engine.backends.duckdb import DuckDBBackend
from engine.backends.registry import open_backend
from engine.config.loader import load_project
from engine.plan.model import Action
from tests.conftest import edit, run


def applied(project: Path) -> Path:
    assert run("load", project=project).exit_code == 0
    result = run("apply", "--yes", project=project)
    assert result.exit_code == 0, result.output
    return project


def changes(project: Path) -> dict[str, str]:
    made = workflow.plan(load_project(project))
    return {step.qualified_name: step.action.value for step in made.changes}


def query(project: Path, sql: str):
    connection = duckdb.connect(str(project / ".rulectl" / "local.duckdb"))
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_first_apply_creates_everything_and_second_does_nothing(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    assert changes(project) == {}
    again = run("apply", "--yes", project=project)
    assert again.exit_code == 0 and "No changes" in again.output
    history = query(project, "SELECT action, qualified_name, status FROM _RULECTL.HISTORY")
    assert ("create", "ANALYTICS.CUSTOMER_SEGMENTS", "applied") in history
    assert all(status == "applied" for _, _, status in history)


def test_plan_exit_codes(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    assert run("plan", "--detailed-exitcode", project=project).exit_code == 2
    assert run("plan", project=project).exit_code == 0
    applied(project)
    assert run("plan", "--detailed-exitcode", project=project).exit_code == 0


def test_formatting_only_edits_give_an_empty_plan(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    metrics = project / "rules" / "metrics.yml"
    text = metrics.read_text()
    text = text.replace("expr: SUM(arr)\n    filter: status = 'active'", "filter: \"status   =   'active'\"   # only active modules\n    expr: sum( ARR )")
    text = text.replace("expr: COUNT(DISTINCT module)", "expr: count(distinct MODULE)")
    text = "# reformatted by an analyst\n" + "\n".join(("  " + line) if line.startswith(" ") else line for line in text.splitlines())
    metrics.write_text(text)
    segments = project / "rules" / "segments.yml"
    segments.write_text(segments.read_text().replace("when: module_count >= 2", "when: >-\n          module_count\n          >= 2"))
    assert load_project(project).metrics[0].item.expr == "sum( ARR )"  # the edit really happened
    assert changes(project) == {}


def test_renaming_a_metric_replaces_exactly_the_views_that_use_it(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "metrics.yml", "name: seat_utilization", "name: seat_use")
    edit(project / "rules" / "segments.yml", "when: seat_utilization < 0.5", "when: seat_use < 0.5")
    assert changes(project) == {"ANALYTICS.CUSTOMER_METRICS": "replace", "ANALYTICS.CUSTOMER_SEGMENTS": "replace"}


def test_threshold_change_reports_the_customers_who_move(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    before = dict(query(project, "SELECT customer_id, account_tier FROM ANALYTICS.CUSTOMER_SEGMENTS"))
    metrics = {r[0]: r[1:] for r in query(project, "SELECT customer_id, total_arr, module_count FROM ANALYTICS.CUSTOMER_SEGMENTS")}
    moving = [cid for cid, (arr, count) in metrics.items() if arr is not None and 100000 <= arr < 150000 and count >= 3]
    expected: dict[tuple[str, str], int] = {}
    for cid in moving:
        key = (before[cid], "Strategic")
        expected[key] = expected.get(key, 0) + 1
    assert moving, "the sample should have customers between 100k and 150k ARR with 3+ modules"

    edit(project / "rules" / "segments.yml", "total_arr >= 150000 AND module_count >= 3", "total_arr >= 100000 AND module_count >= 3")
    made = workflow.plan(load_project(project))

    assert {s.qualified_name: s.action for s in made.changes} == {"ANALYTICS.CUSTOMER_SEGMENTS": Action.REPLACE}
    moves = {(m.from_label, m.to_label): m.customers for m in made.segment_moves if m.segmentation == "account_tier"}
    assert moves == expected
    names = dict(query(project, "SELECT customer_id, customer_name FROM GOLD.CUSTOMER"))
    examples = {name for m in made.segment_moves for name in m.examples}
    assert examples and examples <= {names[cid] for cid in moving}
    assert "+    WHEN m.total_arr >= 100000" in made.changes[0].sql_diff
    shown = run("plan", project=project).output
    for (old, new), count in expected.items():
        assert f"{count} customer{'s' if count != 1 else ''}: {old} → {new}" in shown


def test_match_all_changes_report_labels_gained(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "segments.yml", "when: days_to_renewal BETWEEN 0 AND 90", "when: days_to_renewal BETWEEN 0 AND 180")
    gaining = query(project, "SELECT COUNT(*) FROM ANALYTICS.CUSTOMER_SEGMENTS WHERE days_to_renewal BETWEEN 91 AND 180")[0][0]
    made = workflow.plan(load_project(project))
    moves = [(m.from_label, m.to_label, m.customers) for m in made.segment_moves if m.segmentation == "opportunities"]
    assert moves == [(None, "Renewal due", gaining)] and gaining > 0


def test_hand_edited_view_is_reported_as_drift_and_apply_restores_it(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    query(project, "CREATE OR REPLACE VIEW ANALYTICS.CUSTOMER_METRICS AS SELECT customer_id FROM GOLD.CUSTOMER")
    assert changes(project) == {"ANALYTICS.CUSTOMER_METRICS": "drift"}
    assert "drift" in run("plan", project=project).output
    applied(project)
    assert changes(project) == {}


def test_dropped_by_hand_is_created_again(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    query(project, "DROP VIEW ANALYTICS.CUSTOMER_SEGMENTS")
    assert changes(project) == {"ANALYTICS.CUSTOMER_SEGMENTS": "create"}


def test_objects_rulectl_does_not_own_are_never_overwritten(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    query(project, "CREATE SCHEMA ANALYTICS; CREATE VIEW ANALYTICS.CUSTOMER_METRICS AS SELECT 42 AS precious")
    result = run("plan", project=project)
    assert result.exit_code == 1 and "rulectl will not overwrite it" in result.output and "--adopt" in result.output
    refused = run("apply", "--yes", project=project)
    assert refused.exit_code == 1
    assert query(project, "SELECT precious FROM ANALYTICS.CUSTOMER_METRICS") == [(42,)]
    adopted = run("apply", "--yes", "--adopt", "ANALYTICS.CUSTOMER_METRICS", project=project)
    assert adopted.exit_code == 0, adopted.output
    assert changes(project) == {}


def test_a_foreign_output_table_is_refused_alone_and_can_be_adopted(loaded_project: Path):
    """The prompt's task reads the output table: its cost estimate must not fail on the foreign one
    (a second error, and --adopt could never pass), since apply replaces that table first."""
    project = loaded_project  # the core example, loaded
    query(project, "CREATE SCHEMA AI; CREATE TABLE AI.ACCOUNT_INSIGHTS (x INTEGER)")
    result = run("plan", project=project)
    assert result.exit_code == 1 and "Plan: 6 to create, 1 error(s)." in result.output and "refresh estimate fails" not in result.output
    adopted = run("apply", "--yes", "--adopt", "AI.ACCOUNT_INSIGHTS", "--allow-destructive", project=project)
    assert adopted.exit_code == 0, adopted.output
    assert changes(project) == {}


def test_unmanaged_objects_in_managed_schemas_are_left_alone(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    query(project, "CREATE VIEW ANALYTICS.ANALYST_SCRATCH AS SELECT 1 AS x")
    assert changes(project) == {}
    applied(project)
    assert query(project, "SELECT x FROM ANALYTICS.ANALYST_SCRATCH") == [(1,)]


def test_emptying_segmentations_replaces_only_the_segments_view(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    (project / "rules" / "segments.yml").write_text("segmentations: []\n")
    (project / "prompts" / "account_summary.yml").unlink()
    assert changes(project) == {
        "ANALYTICS.CUSTOMER_SEGMENTS": "replace",
        "AI.ACCOUNT_INSIGHTS": "drop",
        "AI.CUSTOMER_INSIGHTS": "drop",  # the wide view exists while there are prompts
        "AI.LATEST_ACCOUNT_SUMMARY": "drop",
        "AI.REFRESH_ACCOUNT_SUMMARY": "drop",
    }


def test_failure_at_step_k_then_next_apply_converges(loaded_project: Path, monkeypatch):
    project = loaded_project  # the core example, loaded
    original = DuckDBBackend._run
    rehearsing: list[bool] = []  # apply first runs its DDL in a rolled-back transaction; the disk fills after that

    def failing(self, sql):
        if sql in ("BEGIN TRANSACTION", "ROLLBACK"):
            rehearsing[:] = [sql == "BEGIN TRANSACTION"]
        if "CREATE OR REPLACE VIEW ANALYTICS.CUSTOMER_SEGMENTS" in sql and not any(rehearsing):
            raise duckdb.IOException("disk full (injected)")
        return original(self, sql)

    monkeypatch.setattr(DuckDBBackend, "_run", failing)
    result = run("apply", "--yes", project=project)
    assert result.exit_code == 1
    assert "step 4 of 8 failed" in result.output and "injected" in result.output and "Traceback" not in result.output
    monkeypatch.setattr(DuckDBBackend, "_run", original)

    assert changes(project) == {
        "ANALYTICS.CUSTOMER_SEGMENTS": "create", "AI.ACCOUNT_INSIGHTS": "create", "AI.REFRESH_ACCOUNT_SUMMARY": "create", "AI.CUSTOMER_INSIGHTS": "create",
        "AI.LATEST_ACCOUNT_SUMMARY": "create",
    }
    assert query(project, "SELECT status FROM _RULECTL.HISTORY WHERE qualified_name = 'ANALYTICS.CUSTOMER_SEGMENTS'") == [("failed",)]
    applied(project)
    assert changes(project) == {}
    assert query(project, "SELECT COUNT(*) FROM GOLD.CUSTOMER")[0][0] >= 150


def test_second_concurrent_apply_is_refused_and_changes_nothing(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    loaded = load_project(project)
    holder = open_backend(loaded)
    holder.acquire_lock(LockHolder("alice", "build-host", 4242, "abc123", None))
    try:
        result = run("apply", "--yes", project=project)
        assert result.exit_code == 1 and "another apply is in progress" in result.output
        assert "held by alice@build-host (pid 4242, plan abc123) since 20" in result.output and "rulectl unlock" in result.output
        assert not query(project, "SELECT * FROM duckdb_views() WHERE schema_name = 'ANALYTICS'")
    finally:
        holder.release_lock()
        holder.close()
    applied(project)


def test_saved_plan_applies_and_a_stale_one_is_refused(loaded_project: Path, tmp_path: Path):
    project = loaded_project  # the core example, loaded
    plan_file = tmp_path / "plan.json"
    assert run("plan", "--out", str(plan_file), project=project).exit_code == 0
    assert json.loads(plan_file.read_text())["summary"] == {"create": 8}
    stale = tmp_path / "stale.json"
    stale.write_text(plan_file.read_text())

    assert run("apply", str(plan_file), project=project).exit_code == 0
    refused = run("apply", str(stale), project=project)
    assert refused.exit_code == 1 and "deployed state changed since this plan was made" in refused.output


def test_saved_plan_is_refused_when_the_yaml_changed(loaded_project: Path, tmp_path: Path):
    project = loaded_project  # the core example, loaded
    plan_file = tmp_path / "plan.json"
    run("plan", "--out", str(plan_file), project=project)
    edit(project / "rules" / "segments.yml", "module_count >= 2", "module_count >= 3")
    refused = run("apply", str(plan_file), project=project)
    assert refused.exit_code == 1 and "project changed since this plan was made" in refused.output


def test_a_plan_saved_in_another_project_says_so(loaded_project: Path, tmp_path: Path):
    project = loaded_project  # the core example, loaded
    plan_file = tmp_path / "plan.json"
    run("plan", "--out", str(plan_file), project=project)
    edit(project / "rulectl.yml", "name: customer_intelligence", "name: another_project")
    refused = run("apply", str(plan_file), project=project)
    assert refused.exit_code == 1 and "this plan was made for project `customer_intelligence`, not `another_project`" in refused.output


def test_bad_yaml_makes_plan_and_apply_exit_1_and_touch_nothing(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    before = query(project, "SELECT sql FROM duckdb_views() WHERE schema_name = 'ANALYTICS' ORDER BY view_name")
    (project / "rules" / "metrics.yml").write_text("metrics:\n  - name: total_arr\n    source: products\n    expr: SUM(arr\n")
    for command in (("plan",), ("apply", "--yes")):
        result = run(*command, project=project)
        assert result.exit_code == 1 and "rules/metrics.yml:4:" in result.output and "Traceback" not in result.output
    assert query(project, "SELECT sql FROM duckdb_views() WHERE schema_name = 'ANALYTICS' ORDER BY view_name") == before


def test_apply_without_yes_asks_and_no_means_nothing(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    result = run("apply", project=project, input="n\n")
    assert "Apply these changes?" in result.output
    assert not query(project, "SELECT * FROM duckdb_views() WHERE schema_name = 'ANALYTICS'")


def introspection_queries(path: Path, count: int) -> int:
    backend = DuckDBBackend(path)
    backend.execute("CREATE SCHEMA ANALYTICS")
    for index in range(count):
        backend.execute(f"CREATE VIEW ANALYTICS.V{index} AS SELECT {index} AS x")
        backend.execute(f"CREATE TABLE ANALYTICS.T{index} (x INT)")
    backend.ensure_state_tables()
    state = backend.introspect(["ANALYTICS", "AI"])
    assert len([k for k in state.objects if k[0] == "view"]) == count
    return state.queries


def test_introspection_query_count_does_not_grow_with_objects(tmp_path: Path):
    small, large = introspection_queries(tmp_path / "small.duckdb", 10), introspection_queries(tmp_path / "large.duckdb", 500)
    assert small == large == 6  # schemas, views, tables, their columns, rulectl's records, local tasks


def test_apply_while_another_process_holds_the_database_is_refused(project: Path):
    import subprocess
    import sys
    import time

    run("load", project=project)
    database = project / ".rulectl" / "local.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(database)!r}); print('ready', flush=True); time.sleep(20)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        result = run("apply", "--yes", project=project)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "is open in another program (python" in result.output and f"PID {holder.pid}: a notebook or a DuckDB shell?)" in result.output, result.output
        assert time.monotonic() - started < 15
    finally:
        holder.kill()
        holder.wait()
    applied(project)


def test_a_database_open_read_only_in_a_notebook_is_not_another_rulectl(tmp_path: Path):
    # was "in use by another rulectl process" for a notebook's read-only connection
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO

    root = tmp_path / "minimal"
    shutil.copytree(REPO / "tests" / "projects" / "minimal", root)
    assert run("load", project=root).exit_code == 0 and run("apply", "--yes", project=root).exit_code == 0
    database = root / ".rulectl" / "local.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(database)!r}, read_only=True); print('ready', flush=True); time.sleep(20)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = run("apply", "--yes", project=root)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "is open read-only in another program (python" in result.output and f"PID {holder.pid}" in result.output, result.output
        assert "commands that only read (insights, explain, status) work meanwhile" in result.output
        assert "rulectl process" not in result.output
        assert run("explain", "1", project=root).exit_code == 0  # reading works beside the notebook
    finally:
        holder.kill()
        holder.wait()


def test_a_corrupt_local_database_is_an_error_not_a_traceback(project: Path):
    (project / ".rulectl").mkdir()
    (project / ".rulectl" / "local.duckdb").write_bytes(b"this is not a duckdb file" * 100)
    result = run("plan", project=project)
    assert result.exit_code == 1 and "Traceback" not in result.output and "error:" in result.output


def test_plan_sql_shows_exactly_what_apply_then_sends(project: Path):
    from engine.backends.duckdb import DuckDBBackend

    run("load", project=project)
    shown = run("plan", "--sql", project=project).output
    sent: list[str] = []
    original = DuckDBBackend._run

    def recording(self, sql):
        sent.append(sql)
        return original(self, sql)

    import pytest as _pytest

    with _pytest.MonkeyPatch.context() as patch:
        patch.setattr(DuckDBBackend, "_run", recording)
        assert run("apply", "--yes", project=project).exit_code == 0
    ddl = [s for s in sent if s.startswith(("CREATE OR REPLACE VIEW", "CREATE SCHEMA IF NOT EXISTS ANALYTICS", "CREATE TABLE AI.", "COMMENT ON"))]
    assert ddl and all(statement + ";" in shown for statement in ddl)


def test_renaming_a_schema_notes_what_was_left_behind(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rulectl.yml", "schemas: {analytics: ANALYTICS, ai: AI}", "schemas: {analytics: ANALYTICS, ai: ENRICHMENT}")
    made = workflow.plan(load_project(project))
    assert any("AI.ACCOUNT_INSIGHTS was applied by rulectl but its schema is no longer in `schemas:`" in note for note in made.notes)
    assert "AI.ACCOUNT_INSIGHTS" not in {s.qualified_name for s in made.changes}  # never dropped silently
