"""Messages that point the right way (issue 13): each says what is wrong and the fix that works,
and the project is found from any subdirectory, like git and dbt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import edit, run


def run_in(directory: Path, *args: str):
    before = Path.cwd()
    os.chdir(directory)
    try:
        return run(*args)
    finally:
        os.chdir(before)


def test_the_project_is_found_from_a_subdirectory(project: Path):
    result = run_in(project / "rules", "validate")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 2 sources")


def test_no_project_file_has_no_line_number(tmp_path: Path):
    result = run_in(tmp_path, "validate")
    assert result.exit_code == 1
    assert result.output == (
        f"error: no rulectl.yml in {tmp_path.resolve()} or any directory above it; run rulectl inside a project, "
        "pass --project DIR, or create one with `rulectl init`\n"
    )
    explicit = run("validate", project=tmp_path)
    assert explicit.exit_code == 1
    assert "rulectl.yml:1" not in explicit.output
    assert f"error: no rulectl.yml in {tmp_path}; pass --project with the directory that holds rulectl.yml" in explicit.output


def test_run_an_unknown_prompt_names_the_prompts(project: Path):
    result = run("run", "nope", project=project)
    assert result.exit_code == 1
    assert "error: unknown prompt `nope` (prompts: account_summary)" in result.output


def test_insights_with_an_unknown_or_miscased_segment_is_an_error(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    wrong_case = run("insights", "--segment", "growth", project=project)
    assert wrong_case.exit_code == 1
    assert "error: no segment is called `growth`; labels are case-sensitive: write --segment 'Growth'" in wrong_case.output
    unknown = run("insights", "--segment", "Champion", project=project)
    assert unknown.exit_code == 1
    assert "error: no segment is called `Champion` (segments: Strategic, At Risk, Growth, Emerging, Cross-sell CR, Renewal due, Low adoption)" in unknown.output


def test_unlock_without_a_lock_says_so(project: Path):
    result = run("unlock", project=project)
    assert result.exit_code == 0
    assert "no apply lock is held on this target; nothing to release" in result.output


def test_load_without_any_sample_says_how_to_add_one(project: Path):
    text = (project / "rulectl.yml").read_text()
    (project / "rulectl.yml").write_text("\n".join(line for line in text.splitlines() if "sample:" not in line) + "\n")
    result = run("load", project=project)
    assert result.exit_code == 1
    assert "error: no source has a `sample:` CSV to load; add e.g. `sample: data/customer.csv` to a source in rulectl.yml" in result.output


def test_load_names_a_source_without_sample(project: Path):
    edit(project / "rulectl.yml", "    sample: data/sample_inputs/products.csv\n", "")
    result = run("load", project=project)
    assert result.exit_code == 0
    assert "skipped source products: it has no `sample:` CSV in rulectl.yml" in result.output


def test_load_a_csv_with_mixed_line_endings_says_so(project: Path):
    path = project / "data" / "sample_inputs" / "products.csv"
    lines = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n")  # the sample is CRLF
    path.write_bytes(b"\r\n".join(lines[:3]) + b"\n" + b"\n".join(lines[3:]))
    result = run("load", project=project)
    assert result.exit_code == 1
    assert "the file mixes Windows (CRLF) and Unix (LF) line endings (from line 3); save it with one kind of line ending" in result.output


def before_load_projects(tmp_path: Path, example: Path) -> list[tuple[Path, str]]:
    """The example and a fresh `rulectl init` project, nothing loaded: (root, a customer key)."""
    fresh = tmp_path / "fresh"
    assert run("init", str(fresh)).exit_code == 0
    return [(example, "1"), (fresh, "1")]


def test_explain_and_lint_before_load_say_to_load(project: Path, tmp_path: Path):
    for root, key in before_load_projects(tmp_path, project):
        for args in (("explain", key), ("lint", "--target", "local")):
            result = run(*args, project=root)
            assert result.exit_code == 1, (root, args, result.output)
            assert "error: the source tables are not as rulectl.yml declares them:\n  source `" in result.output, result.output
            assert "does not exist on this target; run `rulectl load`" in result.output
            assert "Catalog Error" not in result.output and "refused a statement" not in result.output


def test_insights_and_export_before_apply_say_to_apply(project: Path, tmp_path: Path):
    for root, _ in before_load_projects(tmp_path, project):
        for loaded in (False, True):
            if loaded:
                assert run("load", project=root).exit_code == 0
            for args in (("insights",), ("export", "--out", str(tmp_path / "out"))):
                result = run(*args, project=root)
                assert result.exit_code == 1, (root, args, result.output)
                assert "does not exist on this target yet; run `rulectl apply` (and `rulectl run`) first" in result.output, result.output
                assert "Catalog Error" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.snowflake
def test_cannot_read_on_the_snowflake_path():
    """Snowflake's `Object does not exist or not authorized` does not say which: SHOW tells them
    apart (the schema first: SHOW … IN a missing schema is itself an error)."""
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector

    from engine.backends.snowflake import SnowflakeBackend

    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        backend = SnowflakeBackend(connection, "CUSTOMER_INTEL")
        missing = Exception("Object 'AI.CUSTOMER_INSIGHTS' does not exist or not authorized.")
        before = backend.cannot_read("view", "AI.CUSTOMER_INSIGHTS", missing)
        backend.execute("CREATE SCHEMA AI")
        no_view = backend.cannot_read("view", "AI.CUSTOMER_INSIGHTS", missing)
        backend.execute("CREATE VIEW AI.CUSTOMER_INSIGHTS AS SELECT 1 AS x")
        refused = backend.cannot_read("view", "AI.CUSTOMER_INSIGHTS", Exception("Insufficient privileges to operate on view\nmore"))
        connection.close()
    assert before == no_view == "view AI.CUSTOMER_INSIGHTS does not exist on this target yet"
    assert refused == "cannot read AI.CUSTOMER_INSIGHTS: Insufficient privileges to operate on view"
    assert "SHOW SCHEMAS LIKE 'AI' IN DATABASE CUSTOMER_INTEL" in backend.statements
