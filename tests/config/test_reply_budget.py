"""A prompt whose `max_tokens` cannot hold a full structured reply is warned about: a reply cut short
fails the outputs schema, is never stored, and the row is paid for again at every run."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import edit, run

PROMPT = "prompts/account_summary.yml"


def test_max_tokens_below_a_full_reply_is_a_warning_with_file_and_line(project: Path):
    edit(project / PROMPT, "max_tokens: 600", "max_tokens: 300")
    result = run("validate", project=project)
    said = " ".join(result.output.split())
    assert result.exit_code == 0  # a warning: the project works, replies may be cut short
    assert f"warning: {PROMPT}:6: `max_tokens` 300 is less than a full reply needs, about 399 tokens (summary alone may be 1,500 characters ≈ 375 tokens)" in said
    assert "raise max_tokens to at least 399 or lower `max_length`" in said


def test_enough_tokens_or_no_outputs_is_quiet(project: Path):
    assert "max_tokens" not in run("validate", project=project).output  # the example: 600
    edit(project / PROMPT, "max_tokens: 600", "max_tokens: 300")
    edit(project / PROMPT, "max_length: 1500}", "max_length: 800}")
    assert "max_tokens" not in run("validate", project=project).output  # 200 + 3 × 8 fits in 300


def test_a_retired_model_is_a_warning_naming_its_replacement_and_legacy_arctic_is_flagged(project: Path):
    """Retired models "will fail after the deprecation date"; the seed's snowflake-arctic is legacy
    (only accounts that used it may call it) — both compile and run, with a warning at the model line."""
    edit(project / PROMPT, "model: llama3.1-8b", "model: mistral-large2")
    said = " ".join(run("validate", project=project).output.split())
    assert f"warning: {PROMPT}:5: `model: mistral-large2` is retired by Snowflake" in said and "use `llama3.3-70b`" in said
    edit(project / PROMPT, "model: mistral-large2", "model: snowflake-arctic")
    result = run("validate", project=project)
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and f"warning: {PROMPT}:5: `model: snowflake-arctic` is a legacy Cortex model" in said and "else use `llama3.1-8b`" in said
    assert run("compile", "--target", "prod", project=project).exit_code == 0
    edit(project / PROMPT, "model: snowflake-arctic", "model: llama3.1-8b")
    assert "model:" not in run("validate", project=project).output
