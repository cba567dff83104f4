"""Kill apply at every statement (a fresh apply and a changing one) and check that the next apply
converges: the plan after it is empty, hand edits are still reported as drift, the stale lock is
named by `plan` and released by `unlock`, and AI output rows written before the kill survive.

A kill is simulated in-process: after statement k every statement fails with a BaseException that
nothing in rulectl catches (so no cleanup runs, the lock stays), exactly what the DuckDB file holds
after kill -9 (each statement commits on its own; the one in flight is not committed). One real
SIGKILL in a subprocess checks that the simulation matches.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from engine import workflow
from engine.backends.duckdb import DuckDBBackend
from engine.backends.registry import open_backend
from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.config.project import LoadedProject
from engine.plan.diff import diff
from engine.plan.model import Action
from engine.plan.planner import managed_schemas
from tests.conftest import edit, run


class Killed(BaseException):
    """kill -9: not an Exception, so no handler or cleanup in rulectl sees it as recoverable."""


@contextmanager
def dies_after(k: int | None) -> Iterator[list[str]]:
    """Statements go through until k have run; then the process is 'dead' (every statement raises)."""
    sent: list[str] = []
    original = DuckDBBackend._run

    def counting(self, sql):
        if k is not None and len(sent) >= k:
            raise Killed(f"killed after statement {k}")
        sent.append(sql)
        return original(self, sql)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DuckDBBackend, "_run", counting)
        yield sent


def database(project: Path) -> Path:
    return project / ".rulectl" / "local.duckdb"


def query(project: Path, sql: str):
    connection = duckdb.connect(str(database(project)))
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def pending_changes(project: Path, loaded: LoadedProject | None = None, backend: DuckDBBackend | None = None) -> dict[str, str]:
    """The plan's steps from compile + introspect + diff (what plan shows, without impact and cost),
    on `backend` when given (else a connection of its own)."""
    loaded = loaded or load_project(project)
    connection = backend or open_backend(loaded)
    try:
        steps = diff(loaded.config.name, "local", compile_project(loaded), connection.introspect(managed_schemas(loaded)))
    finally:
        if backend is None:
            connection.close()
    return {s.qualified_name: s.action.value for s in steps if s.changes}


READS = ("SELECT", "WITH", "PRAGMA", "SHOW", "DESCRIBE")


def write_points(project: Path) -> list[int]:
    """Every distinct kill point: k statements ran, the last of them a write (dying after a read
    leaves the database exactly as dying after the write before it), from just before the lock."""
    with dies_after(None) as sent:
        workflow.apply(load_project(project))
    first_write = next(i for i, sql in enumerate(sent) if "APPLY_LOCK" in sql and sql.startswith("CREATE TABLE"))
    return [first_write] + [k for k in range(first_write + 1, len(sent)) if not sent[k - 1].lstrip().upper().startswith(READS)]


@pytest.fixture
def plan_without_impact_or_cost(monkeypatch):
    """View checks, segment impact and AI cost are read-only plan data, not kill points: skipped, and the project
    compiled once per version of its YAML, to keep the ~90 apply pairs of these tests fast."""
    from engine.plan import planner

    if hasattr(planner, "estimate_costs"):
        monkeypatch.setattr(planner, "estimate_costs", lambda *args, **kwargs: ([], {}))
    if hasattr(planner, "check_planned_views"):  # the views are checked once per plan: not a kill point
        monkeypatch.setattr(planner, "check_planned_views", lambda *args, **kwargs: [])
    if hasattr(planner, "segment_impact"):
        monkeypatch.setattr(planner, "segment_impact", lambda *args, **kwargs: planner.SegmentImpact())
    compiled: dict = {}
    compile_fresh = compile_project

    def compile_once(loaded, target=None):
        key = (target, tuple(sorted((str(p), p.read_text()) for p in loaded.root.rglob("*.yml"))))
        if key not in compiled:
            compiled[key] = compile_fresh(loaded, target)
        return compiled[key]

    monkeypatch.setattr("engine.plan.planner.remembered_objects", compile_once)
    monkeypatch.setattr(sys.modules[__name__], "compile_project", compile_once)


def converge_after_kill(project: Path, baseline: Path, k: int, ai_rows: set) -> None:
    shutil.copy(baseline, database(project))
    database(project).with_name("local.duckdb.wal").unlink(missing_ok=True)  # the last kill's log is not the baseline's
    loaded = load_project(project)  # the YAML does not change within a point: loaded once (as each command does)
    with dies_after(k), pytest.raises(Killed):
        workflow.apply(loaded)
    locked = open_backend(loaded)
    holder = locked.lock_holder()
    locked.close()
    if holder is not None:  # the lock is the first write: from then on it stays until unlock
        assert holder.process_is_gone() is False and holder.pid == os.getpid()
        assert workflow.unlock(loaded)[1]
    made, result = workflow.apply(loaded)
    assert not made.errors, f"kill at {k}: {[s.reason for s in made.errors]}"
    assert not any(s.action is Action.DRIFT for s in made.steps), f"kill at {k}: false drift {[s.qualified_name for s in made.steps if s.action is Action.DRIFT]}"
    after = open_backend(loaded)  # one connection for what follows (each open costs ~40 ms of DuckDB's own)
    try:
        assert pending_changes(project, loaded, after) == {}, f"kill at {k}: apply did not converge"
        keys = {row[0] for row in after.connection.execute("SELECT customer_id FROM AI.ACCOUNT_INSIGHTS").fetchall()}
        assert keys == ai_rows, f"kill at {k}: AI output rows lost"
        # drift detection still works: a hand edit of each kind is reported
        after.connection.execute("CREATE OR REPLACE VIEW ANALYTICS.CUSTOMER_METRICS AS SELECT customer_id FROM GOLD.CUSTOMER; UPDATE _RULECTL.TASKS SET schedule = 'USING CRON 0 1 * * * UTC'")
        assert pending_changes(project, loaded, after) == {"ANALYTICS.CUSTOMER_METRICS": "drift", "AI.REFRESH_ACCOUNT_SUMMARY": "drift"}, f"kill at {k}"
    finally:
        after.close()


# Every kill point is tried; the points are dealt into PARTS tests so pytest-xdist spreads them over
# workers (one test took two minutes of a three-minute suite).
PARTS = 3


@pytest.mark.slow
@pytest.mark.parametrize("part", range(PARTS))
def test_fresh_apply_converges_from_a_kill_at_every_statement(loaded_project: Path, tmp_path: Path, plan_without_impact_or_cost, part: int):
    project = loaded_project  # the core example, loaded
    baseline = tmp_path / "loaded.duckdb"
    shutil.copy(database(project), baseline)
    points = write_points(project)
    assert len(points) >= 25
    for k in points[part::PARTS]:
        converge_after_kill(project, baseline, k, set())


@pytest.mark.slow
@pytest.mark.parametrize("part", range(PARTS))
def test_changing_apply_converges_from_a_kill_at_every_statement(applied_project: Path, tmp_path: Path, plan_without_impact_or_cost, part: int):
    project = applied_project  # the core example, loaded and applied
    workflow.run_refreshes(load_project(project), None, [])
    ai_rows = {row[0] for row in query(project, "SELECT customer_id FROM AI.ACCOUNT_INSIGHTS")}
    assert ai_rows
    query(project, "ALTER TABLE AI.ACCOUNT_INSIGHTS DROP COLUMN output_tokens")  # an older rulectl's table: apply adds it
    assert run("apply", "--yes", project=project).exit_code == 0
    query(project, "ALTER TABLE AI.ACCOUNT_INSIGHTS DROP COLUMN output_tokens")
    query(project, "UPDATE _RULECTL.OBJECTS SET definition_hash = NULL WHERE qualified_name = 'AI.ACCOUNT_INSIGHTS'")
    edit(project / "rules" / "segments.yml", "module_count >= 2", "module_count >= 3")
    edit(project / "prompts" / "account_summary.yml", "USING CRON 0 6 * * * UTC", "USING CRON 0 7 * * * UTC")
    edit(project / "rules" / "metrics.yml", "name: seat_utilization", "name: seat_use")
    edit(project / "rules" / "segments.yml", "when: seat_utilization < 0.5", "when: seat_use < 0.5")
    assert pending_changes(project) == {
        "ANALYTICS.CUSTOMER_METRICS": "replace",
        "ANALYTICS.CUSTOMER_SEGMENTS": "replace",
        "AI.ACCOUNT_INSIGHTS": "alter",
        "AI.REFRESH_ACCOUNT_SUMMARY": "replace",
    }
    baseline = tmp_path / "applied.duckdb"
    shutil.copy(database(project), baseline)
    points = write_points(project)
    assert len(points) >= 20
    for k in points[part::PARTS]:
        converge_after_kill(project, baseline, k, ai_rows)


def test_plan_names_a_stale_lock_and_unlock_shows_the_holder(loaded_project: Path, tmp_path: Path):
    project = loaded_project  # the core example, loaded
    shutil.copy(database(project), tmp_path / "loaded.duckdb")
    point = write_points(project)[5]
    shutil.copy(tmp_path / "loaded.duckdb", database(project))
    with dies_after(point), pytest.raises(Killed):
        workflow.apply(load_project(project))
    shown = run("plan", project=project)
    assert "the apply lock is held by" in shown.output and f"pid {os.getpid()}" in shown.output and "rulectl unlock" in shown.output
    refused = run("apply", "--yes", project=project)
    assert refused.exit_code == 1 and f"pid {os.getpid()}" in refused.output and "since 20" in refused.output
    kept = run("unlock", project=project, input="n\n")
    assert kept.exit_code == 1 and "the apply lock is held by" in kept.output and "kept" in kept.output
    released = run("unlock", "--yes", project=project)
    assert released.exit_code == 0 and "apply lock released" in released.output
    assert "no apply lock is held" in run("unlock", project=project).output
    assert run("apply", "--yes", project=project).exit_code == 0
    assert pending_changes(project) == {}


def test_a_real_sigkill_mid_apply_converges(loaded_project: Path):
    """kill -9 of a real process right after its second COMMENT ON (a view created and tagged,
    its record not yet finished): plan names the dead holder, unlock and apply converge."""
    project = loaded_project  # the core example, loaded
    script = (
        "import os, signal, sys\n"
        "from engine import workflow\n"
        "from engine.backends.duckdb import DuckDBBackend\n"
        "from engine.config.loader import load_project\n"
        "original, comments = DuckDBBackend._run, []\n"
        "def run(self, sql):\n"
        "    result = original(self, sql)\n"
        "    if sql.startswith('COMMENT ON'):\n"
        "        comments.append(sql)\n"
        "        if len(comments) == 2:\n"
        "            os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return result\n"
        "DuckDBBackend._run = run\n"
        "from pathlib import Path\nworkflow.apply(load_project(Path(sys.argv[1])))\n"
    )
    process = subprocess.run([sys.executable, "-c", script, str(project)], cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert process.returncode == -signal.SIGKILL
    shown = run("plan", project=project).output
    assert "the apply lock is held by" in shown and "no longer running on this host" in shown
    assert "an earlier apply" in shown  # the unfinished object is named, not reported as someone else's
    assert run("unlock", "--yes", project=project).exit_code == 0
    assert run("apply", "--yes", project=project).exit_code == 0
    assert pending_changes(project) == {}
