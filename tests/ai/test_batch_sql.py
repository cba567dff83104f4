"""A local run renders its prompt's batch MERGE once and fills in each batch's row counts
(engine/ai/runner.py `batch_sql`). That is only right if the filled SQL is what rendering each
batch whole gives: checked for every deployed task of two project shapes, at several counts, and
for a prompt whose own text spells a placeholder's name (then every batch is rendered whole)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlglot import exp

from engine.ai.runner import BATCH_SKIP, batch_sql, deployed_tasks, task_statements
from engine.backends.duckdb import DuckDBBackend
from engine.compile.refresh_batches import batch_merge
from tests.conftest import edit, run

COUNTS = [(0, 50), (0, 1), (37, 13), (1200, 50)]


def whole(backend: DuckDBBackend, merge: exp.Expression, skip: int, take: int) -> str:
    return backend.to_sql(batch_merge(merge, exp.Literal.number(skip), exp.Literal.number(take)))


def merges(project: Path) -> tuple[DuckDBBackend, list[exp.Expression]]:
    backend = DuckDBBackend(project / ".rulectl" / "local.duckdb")
    return backend, [task_statements(task)[-1] for task in deployed_tasks(backend)]


@pytest.mark.parametrize("shape", ["applied_project", "renamed"])
def test_filled_batches_are_the_batches_rendered_whole(shape: str, request, tmp_path: Path):
    if shape == "applied_project":
        project = request.getfixturevalue("applied_project")
    else:
        from tests.test_project_shapes import copy_shape

        project = copy_shape("renamed", tmp_path)
        assert run("load", project=project).exit_code == 0 and run("apply", "--yes", project=project).exit_code == 0
    backend, tasks = merges(project)
    try:
        assert tasks, "the shape deploys no task"
        for merge in tasks:
            batch = batch_sql(backend, merge)
            for skip, take in COUNTS:
                assert batch(skip, take) == whole(backend, merge, skip, take)
    finally:
        backend.close()


def test_a_prompt_that_spells_a_placeholder_is_rendered_whole_per_batch(applied_project: Path):
    prompt = applied_project / "prompts" / "account_summary.yml"
    edit(prompt, "Start with the two most important next actions", f"Start with the two most important next actions (not {BATCH_SKIP})")
    assert run("apply", "--yes", project=applied_project).exit_code == 0
    backend, tasks = merges(applied_project)
    try:
        merge = next(m for m in tasks if BATCH_SKIP in m.sql("snowflake"))
        batch = batch_sql(backend, merge)
        for skip, take in COUNTS:
            filled = batch(skip, take)
            assert filled == whole(backend, merge, skip, take)
            assert BATCH_SKIP in filled  # the prompt's text is sent as written
    finally:
        backend.close()
