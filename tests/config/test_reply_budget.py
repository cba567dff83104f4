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
