"""Tasks and output tables are fingerprinted from their settings, without building their SQL; the
fingerprint must still change exactly when the SQL apply would send changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from engine.compile import prompts
from engine.compile.project import compile_project
from engine.config.loader import load_project
from tests.conftest import edit

PROMPT = Path("prompts") / "account_summary.yml"


def prompt_objects(project: Path) -> dict[str, tuple[str, str]]:
    """Task and table name → (fingerprint, canonical SQL)."""
    return {obj.qualified_name: (obj.fingerprint, obj.canonical_sql) for obj in compile_project(load_project(project)) if obj.kind in ("task", "table")}


EDITS = [
    ("template", "Write a three-sentence", "Write a four-sentence"),
    ("system", "You are a customer success analyst", "You are an account manager"),
    ("model", "model: llama3.1-8b", "model: llama3.3-70b"),
    ("options", "temperature: 0.2", "temperature: 0.3"),
    ("max_rows", "max_rows: 1000", "max_rows: 999"),
    ("only_changed", "only_changed: true", "only_changed: false"),
    ("salt", "salt: account-summary-2026-11", "salt: account-summary-2026-12"),
    ("weights", "{name: control, weight: 50}\n    - name: action_first\n      weight: 50", "{name: control, weight: 40}\n    - name: action_first\n      weight: 60"),
    ("variant template", "Start with the two most important", "Start with the three most important"),
    ("input", "input: customer_segments", "input: customer_metrics"),
]


@pytest.mark.parametrize("setting, old, new", EDITS, ids=[e[0] for e in EDITS])
def test_every_setting_that_changes_the_merge_changes_the_fingerprint(project: Path, setting: str, old: str, new: str):
    if setting == "input":  # the metrics view has no segment columns: the template must not name them
        edit(project / PROMPT, "Tier: {account_tier}. Opportunities: {opportunities}. Renewal", "Renewal")
        edit(project / PROMPT, "Tier: {account_tier}. Opportunities: {opportunities}.\n", "\n")
    before = prompt_objects(project)
    edit(project / PROMPT, old, new)
    after = prompt_objects(project)
    task = "AI.REFRESH_ACCOUNT_SUMMARY"
    assert after[task][1] != before[task][1] and after[task][0] != before[task][0]


def test_formatting_only_prompt_edits_keep_the_fingerprint(project: Path):
    before = prompt_objects(project)
    text = (project / PROMPT).read_text()
    (project / PROMPT).write_text("# reviewed\n" + text.replace("options: {temperature: 0.2, max_tokens: 600}", "options:\n  max_tokens: 600   # a ceiling\n  temperature: 0.2"))
    assert prompt_objects(project) == before


def test_a_no_change_plan_builds_no_merge(project: Path):
    objects = [obj for obj in compile_project(load_project(project)) if obj.kind in ("task", "table")]
    fingerprints = [obj.fingerprint for obj in objects]
    assert all(fingerprints) and all("statement" not in vars(obj) for obj in objects)
    assert all("merge" not in vars(obj.details["compiled"]) for obj in objects if obj.kind == "task")


def test_the_stamp_follows_the_compilers_sql(project: Path, monkeypatch):
    before = prompt_objects(project)
    changed = prompts.MERGE_TEMPLATE.replace("WHERE r.response IS NOT NULL", "WHERE r.response IS NOT NULL AND LENGTH(r.response) > 1")
    monkeypatch.setattr(prompts, "_merge_template", lambda: sqlglot.parse_one(changed, read="snowflake"))
    prompts.merge_stamp.cache_clear()
    try:
        after = prompt_objects(project)
    finally:
        prompts.merge_stamp.cache_clear()
    task = "AI.REFRESH_ACCOUNT_SUMMARY"
    assert "LENGTH(r.response) > 1" in after[task][1] and after[task][0] != before[task][0]
    assert after["AI.ACCOUNT_INSIGHTS"] == before["AI.ACCOUNT_INSIGHTS"]
