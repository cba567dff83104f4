"""Messages that point the right way (issue 13): each says what is wrong and the fix that works,
and the project is found from any subdirectory, like git and dbt."""

from __future__ import annotations

import os
from pathlib import Path

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


def test_insights_with_an_unknown_or_miscased_segment_is_an_error(project: Path):
    assert run("load", project=project).exit_code == 0
    assert run("apply", "--yes", project=project).exit_code == 0
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
