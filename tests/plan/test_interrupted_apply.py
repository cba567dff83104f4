"""Ctrl-C during apply: the first one lets the step in flight finish and stops; a KeyboardInterrupt
inside a step (a second Ctrl-C) stops at once. Either way apply says how far it got, exits 130,
releases the lock, history shows the apply as interrupted, and the next apply converges. A killed
apply (no chance to record anything) shows in history as incomplete."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine import workflow
from engine.backends.duckdb import DuckDBBackend
from engine.backends.registry import open_backend
from engine.config.loader import load_project
from tests.conftest import run
from tests.plan.test_crash_safe_apply import Killed, database, dies_after, pending_changes, plan_without_impact_or_cost  # noqa: F401

MESSAGE = "steps; the steps above are applied and recorded — run `rulectl plan` to see what remains, `rulectl apply` to finish"


@contextmanager
def interrupt_at(k: int | None, how: str = "raise") -> Iterator[list[str]]:
    """Statement k (0-based) is interrupted: `raise` raises KeyboardInterrupt in its place (a Ctrl-C
    inside the statement's call), `signal` sends this process a real SIGINT as it runs."""
    sent: list[str] = []
    original = DuckDBBackend._run

    def counting(self, sql):
        if len(sent) == k:
            sent.append(sql)
            if how == "raise":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)
        else:
            sent.append(sql)
        return original(self, sql)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DuckDBBackend, "_run", counting)
        yield sent


def step_statements(project: Path) -> tuple[range, list[str]]:
    """The statements of apply_steps: after the lock names the plan, before the lock is released."""
    with interrupt_at(None) as sent:
        workflow.apply(load_project(project))
    first = next(i for i, sql in enumerate(sent) if sql.startswith("UPDATE _RULECTL.APPLY_LOCK")) + 1
    last = max(i for i, sql in enumerate(sent) if "APPLY_LOCK" in sql)
    return range(first, last), sent


def latest_apply(project: Path) -> dict:
    return json.loads(run("history", "--json", "-n", "1", project=project).output)[0]


def lock_is_free(project: Path) -> bool:
    backend = open_backend(load_project(project))
    try:
        return backend.lock_holder() is None
    finally:
        backend.close()


def interrupted_then_converges(project: Path, baseline: Path, k: int, how: str) -> None:
    shutil.copy(baseline, database(project))
    database(project).with_name("local.duckdb.wal").unlink(missing_ok=True)
    with interrupt_at(k, how):
        stopped = run("apply", "--yes", project=project)
    assert stopped.exit_code == 130, f"interrupt at {k}: {stopped.output}"
    applied = stopped.output.count("  applied ")
    history = latest_apply(project)
    assert f"interrupted after {applied} of {history['steps_planned']} {MESSAGE}" in stopped.output, f"interrupt at {k}: {stopped.output}"
    assert lock_is_free(project), f"interrupt at {k}: the lock was kept"
    assert (history["outcome"], history["steps_applied"], history["failed"]) == ("interrupted", applied, False), f"interrupt at {k}"
    assert [s["status"] for s in history["steps"]].count("interrupted") == 1
    finished = run("apply", "--yes", project=project)
    assert finished.exit_code == 0, f"interrupt at {k}: {finished.output}"
    assert pending_changes(project) == {}, f"interrupt at {k}: apply did not converge"
    if "Apply complete" in finished.output:  # else Ctrl-C came after the last step had landed
        assert latest_apply(project)["outcome"] == "applied"


@pytest.mark.slow
@pytest.mark.parametrize("part", range(2))  # two halves, so pytest-xdist runs them on two workers
def test_ctrl_c_inside_any_statement_of_apply(loaded_project: Path, tmp_path: Path, plan_without_impact_or_cost, part: int):
    project = loaded_project  # the core example, loaded
    baseline = tmp_path / "loaded.duckdb"
    shutil.copy(database(project), baseline)
    statements, _ = step_statements(project)
    assert len(statements) >= 20
    for k in [*statements[::2], statements[-1]][part::2]:  # every other statement (~25 s for all), and the last
        interrupted_then_converges(project, baseline, k, "raise")


def test_a_real_sigint_finishes_the_step_in_flight(loaded_project: Path, tmp_path: Path, plan_without_impact_or_cost):
    project = loaded_project  # the core example, loaded
    baseline = tmp_path / "loaded.duckdb"
    shutil.copy(database(project), baseline)
    statements, sent = step_statements(project)
    first_step = next(k for k in statements if "_RULECTL" not in sent[k])  # the first step's DDL
    for k in (statements[0], statements[len(statements) // 2]):
        interrupted_then_converges(project, baseline, k, "signal")
        shutil.copy(baseline, database(project))
    shutil.copy(baseline, database(project))
    with interrupt_at(first_step, "signal"):
        stopped = run("apply", "--yes", project=project)
    assert stopped.output.count("  applied ") == 1  # the step in flight finished, no other started
    steps = latest_apply(project)["steps"]
    assert [s["status"] for s in steps] == ["applied", "interrupted"] and steps[1]["message"].startswith("not started")


def test_a_killed_apply_shows_as_incomplete(loaded_project: Path, tmp_path: Path):
    project = loaded_project  # the core example, loaded
    shutil.copy(database(project), tmp_path / "loaded.duckdb")
    statements, _ = step_statements(project)
    shutil.copy(tmp_path / "loaded.duckdb", database(project))
    with dies_after(statements[len(statements) // 2]), pytest.raises(Killed):
        workflow.apply(load_project(project))
    assert run("unlock", "--yes", project=project).exit_code == 0
    history = latest_apply(project)
    assert history["outcome"] == "incomplete" and 0 < history["steps_applied"] < history["steps_planned"]
    header = next(line for line in run("history", project=project).output.splitlines() if "  plan " in line)
    assert f"INCOMPLETE by {history['applied_by']}: {history['steps_applied']} of {history['steps_planned']} step(s) applied" in header
    assert "killed, or still running" in header
    assert run("apply", "--yes", project=project).exit_code == 0
    assert latest_apply(project)["outcome"] == "applied"


def test_ctrl_c_while_planning_changes_nothing(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    with interrupt_at(None) as sent:
        workflow.apply(load_project(project))
    shutil.rmtree(project / ".rulectl")
    assert run("load", project=project).exit_code == 0
    introspecting = next(k for k, sql in enumerate(sent) if "duckdb_views()" in sql)
    assert any(sql.startswith("CREATE TABLE _RULECTL.APPLY_LOCK") for sql in sent[:introspecting])  # the lock is taken, the plan not made
    with interrupt_at(introspecting):
        stopped = run("apply", "--yes", project=project)
    assert (stopped.exit_code, stopped.output) == (130, "interrupted before any step was applied; nothing was changed\n")
    assert lock_is_free(project)
    assert set(pending_changes(project).values()) == {"create"}
