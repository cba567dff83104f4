"""Against a real Snowflake account — only when RULECTL_LIVE_CONNECTION names a connection (as the
connector resolves it) and RULECTL_LIVE_DATABASE a database the role may create schemas in. CI never
sets them. Everything lives in schemas named after this run, dropped at the end."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from sqlglot import exp

from tests.conftest import edit, run, sample_rows

pytestmark = [pytest.mark.snowflake, pytest.mark.live]
CONNECTION = os.environ.get("RULECTL_LIVE_CONNECTION")
DATABASE = os.environ.get("RULECTL_LIVE_DATABASE", "RULECTL_LIVE_TEST")


@pytest.fixture
def live_project(project: Path):
    """The example project pointed at scratch schemas, with the sample data loaded into them."""
    from engine.backends.registry import open_backend
    from engine.config.loader import load_project

    suffix = uuid.uuid4().hex[:8].upper()
    schemas = {name: f"RULECTL_LIVE_{suffix}_{name}" for name in ("GOLD", "ANALYTICS", "AI")}
    edit(project / "rulectl.yml", "    connection: prod ", f"    connection: {CONNECTION} ")
    edit(project / "rulectl.yml", "    database: CUSTOMER_INTEL", f"    database: {DATABASE}")
    edit(project / "rulectl.yml", "schemas: {analytics: ANALYTICS, ai: AI}", f"schemas: {{analytics: {schemas['ANALYTICS']}, ai: {schemas['AI']}}}")
    edit(project / "rulectl.yml", "table: GOLD.CUSTOMER", f"table: {schemas['GOLD']}.CUSTOMER")
    edit(project / "rulectl.yml", "table: GOLD.PRODUCTS", f"table: {schemas['GOLD']}.PRODUCTS")
    edit(project / "prompts" / "account_summary.yml", "max_rows: 1000", "max_rows: 6\n  batch_rows: 3")  # a few paid calls
    loaded = load_project(project)
    backend = open_backend(loaded, "prod")
    had_state = bool(backend.query(f"SHOW SCHEMAS LIKE '_RULECTL' IN DATABASE {DATABASE}"))
    try:
        backend.execute(f"CREATE SCHEMA {schemas['GOLD']}")
        for source in loaded.config.sources.values():
            columns = [exp.ColumnDef(this=exp.to_identifier(c), kind=exp.DataType.build(t, dialect="snowflake")) for c, t in source.columns.items()]
            backend.execute(exp.Create(this=exp.Schema(this=exp.to_table(source.table), expressions=columns), kind="TABLE"))
            rows = sample_rows(Path(source.sample).stem)
            values = [exp.Tuple(expressions=[exp.Literal.string(r[c]) if r[c] != "" else exp.null() for c in source.columns]) for r in rows]
            backend.execute(exp.insert(exp.values(values), source.table))
        yield project, schemas
    finally:
        for schema in schemas.values():
            backend.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if not had_state:
            backend.execute("DROP SCHEMA IF EXISTS _RULECTL CASCADE")
        backend.close()


@pytest.mark.skipif(not CONNECTION, reason="set RULECTL_LIVE_CONNECTION to run against a real Snowflake account")
def test_plan_apply_run_status_insights_on_a_real_account(live_project):
    project, schemas = live_project
    planned = run("plan", "--target", "prod", project=project)
    assert planned.exit_code == 0 and "refresh tasks run on" in planned.output, planned.output
    applied = run("apply", "--yes", "--target", "prod", project=project)
    assert applied.exit_code == 0 and "Cortex COMPLETE with model" not in applied.output, applied.output
    again = run("plan", "--target", "prod", "--detailed-exitcode", project=project)
    assert again.exit_code == 0, again.output

    started = run("run", "--target", "prod", project=project)
    assert started.exit_code == 0 and "EXECUTE TASK" in started.output, started.output
    last = {}
    for _ in range(60):  # the task runs in the background: wait (bounded) for its run-log row to close
        lines = run("status", "--json", "--target", "prod", project=project).output.splitlines()
        last = json.loads(lines[0])
        if last["finished_at"] is not None:
            break
        time.sleep(5)
    assert last["state"] == "finished" and last["pending"] == 6 and last["enriched"] == 6 and last["warning"] is None, last
    shown = run("insights", "--json", "-n", "3", "--target", "prod", project=project)
    assert shown.exit_code == 0 and len(shown.output.splitlines()) == 3, shown.output
