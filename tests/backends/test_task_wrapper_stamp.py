"""The script Snowflake's backend wraps around a refresh task's MERGE is part of the task's planned
fingerprint: a rulectl upgrade that changes it redeploys every task (instead of planning "no
changes" while the old wrapper keeps running), DuckDB (no wrapper) is unaffected, and a deployment
whose tasks were stamped before the wrapper counted is updated once. Through the recording connection,
on the example, the renamed shape (two prompts) and the example with a sentiment enrichment task."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlglot import exp

from engine import workflow
from engine.backends.duckdb import DuckDBBackend
from engine.backends.snowflake import SnowflakeBackend
from engine.compile.project import compile_project
from engine.config.enrichments import declared_sources
from engine.config.loader import load_project
from engine.plan.model import Action
from tests.ai.test_sentiment import with_tickets
from tests.conftest import run
from tests.doubles.recording import RecordingConnection

pytestmark = pytest.mark.snowflake

SHAPES = Path(__file__).resolve().parent.parent / "projects"
MARKER = "-- wrapper v2"


@pytest.fixture(params=["example", "renamed", "example_with_sentiment"])
def shape(request, project: Path, tmp_path: Path, monkeypatch) -> tuple[Path, RecordingConnection]:
    """A project and the recording connection every `--target prod` connection goes to."""
    if request.param == "renamed":
        root = tmp_path / "renamed"
        shutil.copytree(SHAPES / "renamed", root, ignore=shutil.ignore_patterns(".rulectl"))
    else:
        root = with_tickets(project) if request.param == "example_with_sentiment" else project
    loaded = load_project(root)
    database = loaded.config.targets["prod"].database
    connection = RecordingConnection(database).add_source_tables(declared_sources(loaded.config))
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, **options: cls(connection, database)))
    return root, connection


def task_names(root: Path) -> set[str]:
    return {obj.qualified_name for obj in compile_project(load_project(root), "prod") if obj.kind == "task"}


def newer_wrapper(monkeypatch) -> None:
    """What a rulectl upgrade that changes the task script looks like: same MERGE, other wrapper."""
    original = SnowflakeBackend.refresh_script

    def refresh_script(self, obj, pretty=False):
        script = original(self, obj, pretty)
        return exp.Command(this=script.this, expression=exp.Literal.string(script.expression.this.replace("END;\n", f"END;\n{MARKER}\n", 1)))

    monkeypatch.setattr(SnowflakeBackend, "refresh_script", refresh_script)


def test_a_changed_wrapper_replaces_every_task_and_nothing_else(shape, monkeypatch):
    root, connection = shape
    assert run("apply", "--yes", "--target", "prod", project=root).exit_code == 0
    assert not workflow.plan(load_project(root), "prod").has_changes
    newer_wrapper(monkeypatch)
    plan = workflow.plan(load_project(root), "prod")
    assert len(task_names(root)) >= 1
    assert {s.qualified_name for s in plan.changes} == task_names(root)
    assert all(s.action == Action.REPLACE for s in plan.changes)
    start = len(connection.statements)
    assert run("apply", "--yes", "--target", "prod", project=root).exit_code == 0
    altered = [s for s in connection.statements[start:] if s.startswith("CREATE OR ALTER TASK")]
    assert len(altered) == len(task_names(root)) and all(MARKER in s for s in altered)
    assert all(MARKER in connection.catalog.tasks[name]["definition"] for name in task_names(root))
    assert not workflow.plan(load_project(root), "prod").has_changes


def test_compile_shows_the_fingerprint_apply_tags_the_task_with(shape):
    root, connection = shape
    assert run("apply", "--yes", "--target", "prod", project=root).exit_code == 0
    shown = run("compile", "--target", "prod", project=root).output
    for name in task_names(root):
        assert connection.catalog.tasks[name]["comment"].split(":")[-1] in shown


def test_tasks_stamped_before_the_wrapper_counted_are_updated_once(shape, monkeypatch):
    root, connection = shape
    with monkeypatch.context() as before_upgrade:  # how rulectl fingerprinted tasks before: MERGE and options only
        before_upgrade.setattr(SnowflakeBackend, "backend_stamp", lambda self, obj: "")
        assert run("apply", "--yes", "--target", "prod", project=root).exit_code == 0
        assert not workflow.plan(load_project(root), "prod").has_changes
    plan = workflow.plan(load_project(root), "prod")
    assert {s.qualified_name for s in plan.changes} == task_names(root)
    assert all(s.action == Action.REPLACE and not s.sql_diff and s.reason.startswith("same MERGE") for s in plan.changes)
    start = len(connection.statements)
    assert run("apply", "--yes", "--target", "prod", project=root).exit_code == 0
    task_ddl = [s.split(" ")[:4] for s in connection.statements[start:] if "TASK" in s.split(" AS ")[0] and not s.startswith("SHOW")]
    expected = []
    for name in sorted(task_names(root)):
        expected += [["ALTER", "TASK", "IF", "EXISTS"], ["CREATE", "OR", "ALTER", "TASK"], ["ALTER", "TASK", name, "RESUME"]]
    assert sorted(task_ddl) == sorted(expected)
    assert not workflow.plan(load_project(root), "prod").has_changes


def test_tasks_deployed_without_the_utc_session_are_altered_once(shape, monkeypatch):
    """Tasks a rulectl without TIMEZONE='UTC' deployed (they ran in the account's zone) show as
    changed in the next plan, are altered in place (same object) with the parameter, then settle."""
    root, connection = shape
    with monkeypatch.context() as before_upgrade:
        before_upgrade.setattr(SnowflakeBackend, "task_session_parameters", lambda self: ())
        assert run("apply", "--yes", "--target", "prod", project=root).exit_code == 0
        assert not workflow.plan(load_project(root), "prod").has_changes
    names = task_names(root)
    assert all(connection.catalog.tasks[name]["session_parameters"] == {} for name in names)
    created = {name: connection.catalog.tasks[name]["created"] for name in names}
    plan = workflow.plan(load_project(root), "prod")
    assert {s.qualified_name for s in plan.changes} == names
    assert all(s.kind == "task" and s.action == Action.REPLACE for s in plan.changes)
    start = len(connection.statements)
    assert run("apply", "--yes", "--target", "prod", project=root).exit_code == 0
    altered = [s.split(" AS ")[0] for s in connection.statements[start:] if s.startswith("CREATE OR ALTER TASK")]
    assert len(altered) == len(names) and all("' TIMEZONE='UTC' COMMENT='rulectl:" in s for s in altered)
    assert {name: connection.catalog.tasks[name]["session_parameters"] for name in names} == {name: {"TIMEZONE": "UTC"} for name in names}
    assert {name: connection.catalog.tasks[name]["created"] for name in names} == created  # altered, not recreated
    assert not workflow.plan(load_project(root), "prod").has_changes


def test_duckdb_fingerprints_and_plans_are_unaffected(applied_project: Path, monkeypatch):
    project = applied_project  # the core example, loaded and applied
    newer_wrapper(monkeypatch)
    loaded = load_project(project)
    compiled = compile_project(loaded, "local")
    with workflow.connected(loaded, "local", read_only=True) as backend:
        assert isinstance(backend, DuckDBBackend)
        assert [o.fingerprint for o in backend.as_deployed(compiled)] == [o.fingerprint for o in compiled]
    assert run("plan", "--detailed-exitcode", project=project).exit_code == 0
