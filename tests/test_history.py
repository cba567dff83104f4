"""`rulectl history`: applies newest first, each with who, the git commit and its steps; on DuckDB
through the CLI and on the Snowflake path through fakesnow."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.features.apply_history import read_history
from engine.core.provenance import os_user
from tests.conftest import run


def git(root: Path, *args: str) -> str:
    command = ["git", "-c", "user.email=analyst@example.com", "-c", "user.name=Analyst", *args]
    return subprocess.run(command, cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def test_history_of_two_applies_with_user_and_commit(tmp_path: Path):
    root = tmp_path / "p"
    assert run("init", str(root)).exit_code == 0
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    head = git(root, "rev-parse", "HEAD")
    assert run("history", project=root).output.strip() == "nothing has been applied to this target yet"
    assert run("load", project=root).exit_code == 0
    assert run("apply", "--yes", project=root).exit_code == 0
    segments = root / "rules" / "segments.yml"
    segments.write_text(segments.read_text().replace("monthly_revenue >= 1000", "monthly_revenue >= 900"))
    assert run("apply", "--yes", project=root).exit_code == 0

    result = run("history", project=root)

    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if "  plan " in line]
    assert len(headers) == 2
    assert f"applied by {os_user()}, commit {head[:12]}+dirty: 1 step(s)" in headers[0]  # newest first
    assert f"applied by {os_user()}, commit {head[:12]}: " in headers[1]
    assert "    applied  replace view ANALYTICS.CUSTOMER_SEGMENTS" in result.output.splitlines()
    data = json.loads(run("history", "--json", "-n", "1", project=root).output)
    assert [(a["git_commit"], a["target"], a["failed"], len(a["steps"])) for a in data] == [(f"{head}+dirty", "local", False, 1)]


def test_history_outside_git(tmp_path: Path):
    root = tmp_path / "p"
    assert run("init", str(root)).exit_code == 0
    assert run("load", project=root).exit_code == 0
    assert run("apply", "--yes", project=root).exit_code == 0
    data = json.loads(run("history", "--json", project=root).output)
    assert data[0]["git_commit"] is None and data[0]["applied_by"] == os_user()


@pytest.mark.snowflake
def test_history_on_the_snowflake_path():
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    from engine.backends.snowflake import SnowflakeBackend

    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        backend = SnowflakeBackend(connection, "CUSTOMER_INTEL")
        backend.ensure_state_tables()
        user = backend.session_user()
        backend.write_apply("p1", f"{user} (os user someone)", "abc123", "prod")
        backend.write_history("p1", "create", "view", "ANALYTICS.CUSTOMER_METRICS", "f1", "applied")
        backend.write_history("p1", "create", "task", "AI.REFRESH_X", "f2", "failed", "no warehouse")
        applies = read_history(backend, 5)
        connection.close()
    assert [(a.plan_id, a.applied_by, a.git_commit, a.target, a.failed) for a in applies] == [("p1", f"{user} (os user someone)", "abc123", "prod", True)]
    assert sorted((s.kind, s.status, s.message) for s in applies[0].steps) == [("task", "failed", "no warehouse"), ("view", "applied", "")]
    assert "SELECT CURRENT_USER()" in backend.statements
