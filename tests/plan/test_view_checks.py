"""A broken view never deploys: every planned view is checked on the target (LIMIT 0, one query for
all of them; an apply on DuckDB rehearses its own DDL in a transaction it rolls back), a failure is a
plan error naming the object and the rulectl file:line, exit 1, nothing applied — on the local DuckDB
target (executed) and on the Snowflake path (recording connection)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from engine import workflow
from engine.backends import duckdb as duckdb_backend
from engine.backends.duckdb import DuckDBBackend
from engine.backends.snowflake import SnowflakeBackend
from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.core.tree_memo import TreeMemo
from tests.conftest import REPO, edit, run
from tests.doubles.recording import RecordingConnection

BROKEN = "DATEDIFF('year', customer_since, CURRENT_DATE)"
UNKNOWN_FUNCTION = "LENGTH(SOUNDEX(customer_name))"  # a Snowflake function sqlglot knows and DuckDB lacks: only the target can tell


def line_of(path: Path, text: str) -> int:
    return next(i + 1 for i, line in enumerate(path.read_text().splitlines()) if text in line)


def analytics_views(project: Path) -> list:
    connection = duckdb.connect(str(project / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return connection.execute("SELECT view_name FROM duckdb_views() WHERE schema_name IN ('ANALYTICS', 'AI')").fetchall()
    finally:
        connection.close()


def test_a_view_the_target_refuses_fails_plan_and_apply_with_file_and_line(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    metrics = project / "rules" / "metrics.yml"
    edit(metrics, BROKEN, UNKNOWN_FUNCTION)
    assert run("validate", project=project).exit_code == 0
    line = line_of(metrics, UNKNOWN_FUNCTION)
    planned = run("plan", project=project)
    assert planned.exit_code == 1, planned.output
    assert f"ANALYTICS.CUSTOMER_METRICS  (rules/metrics.yml:{line}: the target refuses this view: Catalog Error: Scalar Function with name soundex does not exist!" in planned.output
    assert "fix the `expr` there; nothing is applied until the target accepts it" in planned.output
    applied = run("apply", "--yes", project=project)
    assert applied.exit_code == 1 and f"rules/metrics.yml:{line}:" in applied.output and "nothing was changed" in applied.output
    assert analytics_views(project) == []


def test_a_zero_divisor_in_the_data_is_a_plan_error_not_a_note(project: Path):
    products = project / "data" / "sample_inputs" / "products.csv"
    edit(products, "C0000001,GL,active,17220.40,6,0,", "C0000001,GL,active,17220.40,0,0,")
    edit(products, "C0000001,AR,active,6997.97,2,0,", "C0000001,AR,active,6997.97,0,0,")
    metrics = project / "rules" / "metrics.yml"
    edit(metrics, "SUM(active_users) / NULLIF(SUM(seats), 0)", "SUM(active_users) / SUM(seats)")
    assert run("load", project=project).exit_code == 0
    planned = run("plan", project=project)
    assert planned.exit_code == 1, planned.output
    line = line_of(metrics, "SUM(active_users) / SUM(seats)")
    assert f"warning: rules/metrics.yml:{line}: `expr`: the divisor `SUM(seats)` can be zero" in planned.output
    assert (
        f"rules/metrics.yml:{line}: the AI refresh estimate fails on the target: Invalid Input Error: Division by zero; "
        "a divisor is zero for some customer; write DIV0(a, b), DIV0NULL(a, b) or a / NULLIF(b, 0)"
    ) in planned.output
    assert run("apply", "--yes", project=project).exit_code == 1
    assert analytics_views(project) == []


def test_an_apply_on_duckdb_rehearses_its_own_ddl_and_renders_each_view_once(loaded_project: Path, monkeypatch):
    project = loaded_project  # the core example, loaded
    sent: list[str] = []
    renders: list[str] = []
    run_sql, render = DuckDBBackend._run, duckdb_backend._render

    def recording(self, sql):
        sent.append(sql)
        return run_sql(self, sql)

    def counting(tree, context, pretty):
        if isinstance(tree, exp.Create) and tree.args.get("kind") == "VIEW":
            renders.append(tree.this.sql())
        return render(tree, context, pretty)

    monkeypatch.setattr(DuckDBBackend, "_run", recording)
    monkeypatch.setattr(duckdb_backend, "_render", counting)
    monkeypatch.setattr(duckdb_backend, "_rendered", TreeMemo())  # as in a new process
    workflow.apply(load_project(project))
    assert not [sql for sql in sent if "rulectl_planned_" in sql]  # no zero-row query rendered beside the DDL
    begin, rollback = sent.index("BEGIN TRANSACTION"), sent.index("ROLLBACK")
    rehearsed = [sql for sql in sent[begin:rollback] if sql.startswith("CREATE OR REPLACE VIEW")]
    applied = [sql for sql in sent[rollback:] if sql.startswith("CREATE OR REPLACE VIEW")]
    assert rehearsed == applied and len(applied) >= 3  # the same statements, in the same order
    assert sorted(renders) == sorted(set(renders)) and len(renders) == len(applied)  # each view rendered once


def test_a_view_statement_is_built_once_per_compiled_object(monkeypatch):
    loaded = load_project(REPO / "tests" / "projects" / "minimal")
    backend = DuckDBBackend.for_rendering(loaded, "local")
    [view, *_] = [obj for obj in compile_project(loaded, "local") if obj.kind == "view"]
    first = backend.view_statements(view, "tag", exists=False)[0]
    monkeypatch.setattr(exp.Expression, "copy", lambda self: pytest.fail("the view's tree was copied again"))
    assert backend.view_statements(view, "tag", exists=True)[0] is first and first.startswith("CREATE OR REPLACE VIEW")
    monkeypatch.undo()
    [again, *_] = [obj for obj in compile_project(loaded, "local") if obj.kind == "view"]
    assert backend.view_statements(again, "tag", exists=False)[0] == first  # another object: built for it, same text


def test_a_compiled_view_is_keyed_once_for_its_canonical_sql_and_its_rendering(monkeypatch):
    """Both memos (canonical SQL, DuckDB rendering) take the object's one digest: serialising the
    tree to key it cost ~40 ms per use for a view of 100 segmentations."""
    from engine.compile import objects
    from engine.core import tree_memo

    loaded = load_project(REPO / "tests" / "projects" / "minimal")
    backend = DuckDBBackend.for_rendering(loaded, "local")
    [view, *_] = [obj for obj in compile_project(loaded, "local") if obj.kind == "view"]
    keyed: list[int] = []
    key = tree_memo.tree_key

    def counting(tree):
        keyed.append(id(tree))
        return key(tree)

    monkeypatch.setattr(tree_memo, "tree_key", counting)
    monkeypatch.setattr(objects, "tree_key", counting)
    monkeypatch.setattr(duckdb_backend, "_rendered", TreeMemo())  # as in a new process
    monkeypatch.setattr(objects, "_canonical", TreeMemo())
    assert view.canonical_sql.startswith("CREATE VIEW")
    assert backend.view_statements(view, "tag", exists=True)[0].startswith("CREATE OR REPLACE VIEW")
    assert keyed.count(id(view.statement)) == 1


def test_a_failed_rehearsal_takes_back_what_ran_before_it(tmp_path: Path):
    backend = DuckDBBackend(tmp_path / "target.duckdb")
    try:
        failure = backend.rehearse(["CREATE SCHEMA s", "CREATE VIEW s.v AS SELECT 1 AS x", "CREATE VIEW s.w AS SELECT nosuch FROM s.v"])
        assert failure is not None and failure[0] == 2 and failure[1].startswith("Binder Error") and "nosuch" in failure[1]
        # an engine message holding a word of DAMAGE_SIGNS is a refusal like any other, not a damaged file
        refused = backend.rehearse(["CREATE SCHEMA s", "CREATE VIEW s.v AS SELECT 1 AS x", "CREATE VIEW s.w AS SELECT checksum FROM s.v"])
        assert refused is not None and refused[0] == 2 and "checksum" in refused[1]
        assert backend.query("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 's'") == [(0,)]
        assert backend.rehearse(["CREATE SCHEMA s", "CREATE VIEW s.v AS SELECT 1 AS x"]) is None
        assert backend.query("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 's'") == [(0,)]  # accepted, and taken back too
    finally:
        backend.close()
    assert not DuckDBBackend(tmp_path / "target.duckdb", read_only=True).rehearses_ddl  # plan opens the file read-only: LIMIT 0


@pytest.fixture
def snowflake(monkeypatch) -> RecordingConnection:
    connection = RecordingConnection("CUSTOMER_INTEL")
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, **options: cls(connection.add_source_tables(loaded.config.sources), "CUSTOMER_INTEL")))
    return connection


def check_queries(connection: RecordingConnection) -> list[str]:
    return [s for s in connection.statements if "rulectl_planned_" in s]


@pytest.mark.snowflake
def test_snowflake_path_checks_every_planned_view_in_one_query(project: Path, snowflake):
    result = run("plan", "--target", "prod", project=project)
    assert result.exit_code == 0, result.output
    [check] = check_queries(snowflake)  # four planned views, one round trip
    assert check.startswith("WITH rulectl_planned_") and check.endswith("LIMIT 0")


@pytest.mark.snowflake
def test_snowflake_path_refuses_a_broken_view_before_any_ddl(project: Path, snowflake):
    metrics = project / "rules" / "metrics.yml"
    edit(metrics, BROKEN, UNKNOWN_FUNCTION)
    result = run("apply", "--yes", "--target", "prod", project=project)
    assert result.exit_code == 1
    assert f"ANALYTICS.CUSTOMER_METRICS: rules/metrics.yml:{line_of(metrics, UNKNOWN_FUNCTION)}: the target refuses this view:" in result.output
    assert not [s for s in snowflake.statements if s.startswith(("CREATE", "ALTER", "DROP")) and "_RULECTL" not in s]  # only the apply lock
    probes = [s for s in snowflake.statements if "YEARS_SINCE" in s.upper()]
    assert len(probes) <= 8  # bounded: one per failing view plus one per expression until the culprit


def test_a_ctrl_c_just_after_the_rehearsal_begins_takes_it_back_and_releases_the_lock(tmp_path: Path, monkeypatch):
    """The interrupt can land after BEGIN ran and before anything else: the rehearsal still rolls
    back, so the apply's release of its lock is not part of a transaction that is then thrown away."""
    root = shutil.copytree(REPO / "tests" / "projects" / "minimal", tmp_path / "minimal")
    workflow.load_sample_data(load_project(root), None)
    run_sql = DuckDBBackend._run

    def interrupted(self, sql):
        rows = run_sql(self, sql)
        if sql == "BEGIN TRANSACTION":
            raise KeyboardInterrupt
        return rows

    monkeypatch.setattr(DuckDBBackend, "_run", interrupted)
    with pytest.raises(BaseException):
        workflow.apply(load_project(root))
    monkeypatch.setattr(DuckDBBackend, "_run", run_sql)
    _, result = workflow.apply(load_project(root))  # not "another apply is in progress"
    assert len(result.applied) == 4


def test_a_statement_refused_beyond_binding_fails_the_plan_before_anything_is_applied(tmp_path: Path):
    """The zero-row check binds the planned views and finds nothing wrong, but the target refuses
    apply's own CREATE (a table holds the view's name): the rehearsal names the step, and apply
    changes nothing, instead of failing half-way."""
    root = shutil.copytree(REPO / "tests" / "projects" / "minimal", tmp_path / "minimal")
    assert run("load", project=root).exit_code == 0 and run("apply", "--yes", project=root).exit_code == 0
    database = root / ".rulectl" / "local.duckdb"
    connection = duckdb.connect(str(database))
    connection.execute("DROP VIEW ANALYTICS.CUSTOMER_SEGMENTS")
    connection.execute("CREATE TABLE ANALYTICS.CUSTOMER_SEGMENTS AS SELECT 1 AS x")
    metrics_sql = connection.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'CUSTOMER_METRICS'").fetchone()
    connection.close()
    edit(root / "rules" / "rules.yml", "visits / 52.0", "visits / 26.0")  # the metrics view changes too
    result = run("apply", "--yes", project=root)
    assert result.exit_code == 1, result.output
    assert "nothing was changed" in result.output
    assert 'ANALYTICS.CUSTOMER_SEGMENTS: the target refuses this view: Catalog Error: Existing object "CUSTOMER_SEGMENTS" is of type Table' in result.output
    connection = duckdb.connect(str(database))
    try:  # the metrics view, planned before the refused one, was not replaced either
        assert connection.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'CUSTOMER_METRICS'").fetchone() == metrics_sql
    finally:
        connection.close()


def test_a_plan_of_a_rule_edit_checks_the_segments_view_as_apply_sends_it_without_building_it(applied_project: Path, monkeypatch):
    """A read-only plan's LIMIT 0 check reads the edited segments view's SELECT from the items'
    kept renderings (DuckDBBackend.view_select_text), the text apply sends; the view's statement
    tree is not built. A rule the target refuses is still an error at its file:line."""
    from engine.compile import segments
    from engine.plan import planner

    project = applied_project  # the core example, loaded and applied
    rules = project / "rules" / "segments.yml"
    edit(rules, "days_to_renewal <= 120", "days_to_renewal <= 90")
    built: list[int] = []
    original = segments.segments_query
    monkeypatch.setattr(segments, "segments_query", lambda *args, **kwargs: built.append(1) or original(*args, **kwargs))
    monkeypatch.setattr(planner, "estimate_costs", lambda *args, **kwargs: ([], {}))  # it reads the planned views as a query of its own
    loaded = load_project(project)
    backend = DuckDBBackend.from_target(loaded, "local", read_only=True)
    try:
        plan, _, _ = planner.build_plan(loaded, backend, "local")
        checks = [sql for sql in backend.statements if "rulectl_planned_" in sql]
    finally:
        backend.close()
    assert not plan.errors and built == []
    assert len(checks) == 1 and "rulectl_planned_text" not in checks[0] and "days_to_renewal <= 90" in checks[0]

    edit(rules, "days_to_renewal <= 90", f"days_to_renewal <= 90 AND {UNKNOWN_FUNCTION} > 3")
    line = line_of(rules, UNKNOWN_FUNCTION)
    planned = run("plan", project=project)
    assert planned.exit_code == 1, planned.output
    assert f"ANALYTICS.CUSTOMER_SEGMENTS  (rules/segments.yml:{line}: the target refuses this view: Catalog Error: Scalar Function with name soundex does not exist!" in planned.output
