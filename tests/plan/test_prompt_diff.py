"""plan shows a changed prompt as a diff of its model, options, system text and templates (read
back from the MERGE rulectl recorded), not as a hash inside the task's SQL."""

from __future__ import annotations

import json
from pathlib import Path

from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.plan.prompt_diff import deployed_prompt_text, planned_prompt_text
from tests.conftest import edit, run


def test_recorded_merge_reads_back_as_the_prompt(project: Path):
    loaded = load_project(project)
    task = next(o for o in compile_project(loaded) if o.kind == "task")
    compiled = task.details["compiled"]
    text = planned_prompt_text(compiled)
    assert deployed_prompt_text(task.canonical_sql) == text
    assert "variant control:" in text and "variant action_first:" in text
    assert "    Start with the two most important next actions, then summarise the account in two sentences." in text.splitlines()


def test_plan_shows_the_prompt_diff(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    prompt = project / "prompts" / "account_summary.yml"
    edit(prompt, "temperature: 0.2", "temperature: 0.4")
    edit(prompt, "Start with the two most important next actions", "Start with the three most important next actions")
    edit(prompt, "system: You are a customer success analyst", "system: You are a senior customer success analyst")

    result = run("plan", project=project)

    lines = result.output.splitlines()
    assert "--- deployed prompt" in lines and "+++ planned prompt" in lines
    assert '-options: {"max_tokens": 600, "temperature": 0.2}' in lines
    assert '+options: {"max_tokens": 600, "temperature": 0.4}' in lines
    assert "+    Start with the three most important next actions, then summarise the account in two sentences." in lines
    assert "+    You are a senior customer success analyst for municipal finance software." in lines
    assert "MERGE INTO" not in result.output
    step = next(s for s in json.loads(run("plan", "--json", project=project).output)["steps"] if s["kind"] == "task")
    # the prompt diff says what changed; the MERGE's SQL diff (0.15 s per task to pretty-print) is
    # left out — `plan --sql` prints the statements apply would send
    assert step["prompt_diff"].startswith("--- deployed prompt") and step["sql_diff"] is None


def test_unchanged_prompt_has_no_prompt_diff(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "segments.yml", "module_count >= 2", "module_count >= 3")
    steps = json.loads(run("plan", "--json", project=project).output)["steps"]
    assert all(step["prompt_diff"] is None for step in steps)
