"""Retyping a prompt's output field (label → integer, integer → number) is a destructive recreate of
the output table that plan shows until it is applied — never an ALTER that changes nothing
(tests/projects/renamed: CUSTOMER_AI_INSIGHTS, field `urgency`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from engine.backends.snowflake import SnowflakeBackend
from engine.config.loader import load_project
from engine.plan.source_check import declared_sources
from tests.conftest import edit, run
from tests.doubles.recording import RecordingConnection

RENAMED = Path(__file__).resolve().parent.parent / "projects" / "renamed"
LABEL = "urgency: {type: label, labels: [later, this quarter, now], description: When to act}"
PROMPT = Path("prompts") / "recommended_action.yml"


@pytest.fixture
def renamed(tmp_path: Path) -> Path:
    root = tmp_path / "renamed"
    shutil.copytree(RENAMED, root, ignore=shutil.ignore_patterns(".rulectl"))
    return root


def urgency_type(root: Path) -> str:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return connection.execute("SELECT data_type FROM duckdb_columns() WHERE table_name = 'CUSTOMER_AI_INSIGHTS' AND column_name = 'urgency'").fetchone()[0]
    finally:
        connection.close()


def test_retyping_on_duckdb_is_refused_until_destructive_then_the_column_has_the_new_type(renamed: Path):
    assert run("load", project=renamed).exit_code == 0
    assert run("apply", "--yes", project=renamed).exit_code == 0
    assert run("run", "recommended_action", project=renamed).exit_code == 0
    assert urgency_type(renamed) == "VARCHAR"

    edit(renamed / PROMPT, LABEL, "urgency: {type: integer, description: When to act}")
    for _ in range(2):  # a refused apply changes nothing, and the next plan still says so
        planned = run("plan", project=renamed)
        assert "replace  table  ENRICHED.CUSTOMER_AI_INSIGHTS  (urgency (text → integer)" in planned.output and "DESTRUCTIVE" in planned.output, planned.output
        refused = run("apply", "--yes", project=renamed)
        assert refused.exit_code != 0 and "--allow-destructive" in refused.output
        assert urgency_type(renamed) == "VARCHAR"

    assert run("apply", "--yes", "--allow-destructive", project=renamed).exit_code == 0
    assert urgency_type(renamed) == "DECIMAL(38,0)"
    assert run("plan", "--detailed-exitcode", project=renamed).exit_code == 0

    edit(renamed / PROMPT, "urgency: {type: integer,", "urgency: {type: number,")
    assert "urgency (integer → float)" in run("plan", project=renamed).output
    assert run("apply", "--yes", "--allow-destructive", project=renamed).exit_code == 0
    assert urgency_type(renamed) == "DOUBLE"


@pytest.mark.snowflake
def test_retyping_on_snowflake_recreates_the_table_with_the_new_type(renamed: Path, monkeypatch):
    connection = RecordingConnection("CUSTOMER_AI").add_source_tables(declared_sources(load_project(renamed).config))
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, **options: cls(connection, "CUSTOMER_AI")))
    assert run("apply", "--yes", "--target", "prod", project=renamed).exit_code == 0

    edit(renamed / PROMPT, LABEL, "urgency: {type: integer, description: When to act}")
    before = len(connection.statements)
    refused = run("apply", "--yes", "--target", "prod", project=renamed)
    assert refused.exit_code != 0 and "urgency (text → integer)" in refused.output
    assert not [s for s in connection.statements[before:] if "CUSTOMER_AI_INSIGHTS" in s and s.startswith(("CREATE", "ALTER", "DROP"))]

    before = len(connection.statements)
    assert run("apply", "--yes", "--allow-destructive", "--target", "prod", project=renamed).exit_code == 0
    recreated = [s for s in connection.statements[before:] if "TABLE ENRICHED.CUSTOMER_AI_INSIGHTS" in s and s.startswith(("CREATE", "ALTER", "DROP"))]
    assert [s.split(" COMMENT=")[0] for s in recreated] == [
        "CREATE OR REPLACE TABLE ENRICHED.CUSTOMER_AI_INSIGHTS (account_id VARCHAR, prompt_name VARCHAR, variant VARCHAR, prompt_version VARCHAR, "
        "input_hash VARCHAR, response VARCHAR, model VARCHAR, provider VARCHAR, input_tokens DECIMAL(38, 0), output_tokens DECIMAL(38, 0), "
        "generated_at TIMESTAMPNTZ, action VARCHAR, urgency DECIMAL(38, 0), owner_needed BOOLEAN, talking_points ARRAY) COPY GRANTS"
    ]
    assert run("plan", "--detailed-exitcode", "--target", "prod", project=renamed).exit_code == 0
