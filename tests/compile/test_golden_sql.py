"""Golden SQL for the compiler: the example project's objects, in Snowflake and DuckDB dialects, and
tests/projects/renamed's (another shape: renamed schemas and columns, two prompts sharing an output
table, structured outputs of every type) under renamed/.

Regenerate after an intended change with RULECTL_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config.loader import load_project
from engine.features.compile_output import compiled_sql
from tests.conftest import REPO

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "compile"


def golden_cases():
    for root, prefix in ((REPO, ""), (REPO / "tests" / "projects" / "renamed", "renamed/")):
        loaded = load_project(root)
        for target, dialect in (("prod", "snowflake"), ("local", "duckdb")):
            for obj, sql in compiled_sql(loaded, target):
                yield f"{prefix}{obj.qualified_name.lower()}.{dialect}.sql", f"-- {obj.kind} {obj.qualified_name} ({dialect})\n{sql};\n"


@pytest.mark.parametrize("name, sql", list(golden_cases()), ids=lambda v: v if isinstance(v, str) and v.endswith(".sql") else "")
def test_compiled_sql_matches_golden_file(name: str, sql: str):
    path = FIXTURES / name
    if os.environ.get("RULECTL_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(sql, newline="")
    assert path.exists(), f"missing golden file {path}; run with RULECTL_UPDATE_GOLDEN=1"
    with path.open(newline="") as handle:  # literal \r in prompt SQL must survive
        assert sql == handle.read()
