"""Exit codes CI can trust: 0 success / no changes, 1 any error (usage errors and a declined apply
included), 2 only for "changes" with `plan --detailed-exitcode`; `run` exits 1 when calls failed."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import edit, run


def test_usage_errors_exit_1_not_2(project: Path):
    for argv in (("plan", "--detailed-exitcode", "--bogus"), ("nosuchcommand",), ("experiment", "report"), ("apply", "a.json", "b.json")):
        result = run(*argv, project=project)
        assert result.exit_code == 1, (argv, result.output)


def test_plan_detailed_exitcode_is_2_only_for_changes(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    assert run("plan", project=project).exit_code == 0
    assert run("plan", "--detailed-exitcode", project=project).exit_code == 2
    assert run("apply", "--yes", project=project).exit_code == 0
    assert run("plan", "--detailed-exitcode", project=project).exit_code == 0


def test_a_declined_apply_exits_1_and_changes_nothing(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    result = run("apply", project=project, input="n\n")
    assert result.exit_code == 1, result.output
    assert "Nothing applied." in result.output
    assert run("plan", "--detailed-exitcode", project=project).exit_code == 2  # still everything to do


def test_apply_with_no_answer_on_stdin_says_how_to_confirm(loaded_project: Path):
    """CI with stdin closed or /dev/null: not a bare `Aborted.`, but what to pass."""
    project = loaded_project  # the core example, loaded
    result = run("apply", project=project, input="")
    assert result.exit_code == 1 and "apply needs confirmation: run it in a terminal, or pass --yes" in result.output
    assert "Aborted" not in result.output
    piped = run("apply", project=project, input="y\n")  # `echo y | rulectl apply` answers the question
    assert piped.exit_code == 0 and "Apply these changes? [y/N]: y" in piped.output


def test_run_with_failed_calls_exits_1_unless_failures_are_allowed(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    # port 9 (discard) on localhost: nothing listens, every call fails fast
    edit(project / "rulectl.yml", "llm: {provider: offline}", "llm: {provider: openai, base_url: 'http://127.0.0.1:9/v1', model: m, retries: 0, timeout_seconds: 0.5}")
    failed = run("run", project=project)
    assert failed.exit_code == 1, failed.output
    assert "model call(s) failed" in failed.output and "--allow-failures" in failed.output
    allowed = run("run", "--allow-failures", project=project)
    assert allowed.exit_code == 0, allowed.output
    assert "call(s) failed" in allowed.output
