"""Parse once: analyst text is parsed by sqlglot once per process, however many commands and layers
(load, semantic checks, compile, plan, lint, explain) read its tree. A layer that re-parses analyst
text instead of using the loaded tree shows up here as a second parse of the same text."""

from __future__ import annotations

import collections
import shutil
from pathlib import Path

import pytest
from sqlglot import parser

from engine.core import expressions
from tests.conftest import run

SHAPES = Path(__file__).resolve().parent.parent / "projects"


@pytest.fixture
def parses(monkeypatch) -> collections.Counter:
    """Every SQL text handed to sqlglot's parser from now on, counted."""
    counted: collections.Counter = collections.Counter()
    original = parser.Parser.parse

    def counting_parse(self, raw_tokens, sql=None):
        counted[sql] += 1
        return original(self, raw_tokens, sql)

    monkeypatch.setattr(parser.Parser, "parse", counting_parse)
    expressions.parse_expression.cache_clear()
    yield counted
    expressions.parse_expression.cache_clear()


def shape(name: str, tmp_path: Path, project: Path) -> Path:
    if name == "example":
        return project
    root = tmp_path / name
    shutil.copytree(SHAPES / name, root, ignore=shutil.ignore_patterns(".rulectl"))
    return root


@pytest.mark.parametrize("name", ["example", "renamed", "minimal"])
def test_every_analyst_expression_is_parsed_once_across_load_plan_apply_lint(name, tmp_path, project, parses):
    root = shape(name, tmp_path, project)
    assert run("load", project=root).exit_code == 0
    for command in (["validate"], ["plan"], ["apply", "--yes"], ["lint"], ["plan"]):
        result = run(*command, project=root)
        assert result.exit_code in (0, 2), result.output
    from engine.config.loader import load_project

    loaded = load_project(root)
    texts = [m.item.expr for m in loaded.metrics] + [r.when for s in loaded.segmentations for r in s.item.rules]
    texts = [t for t in texts if t]
    assert texts, "the shape declares expressions"
    reparsed = {t: parses[t] for t in texts if parses[t] > 1}
    assert reparsed == {}, f"analyst text parsed more than once: {reparsed}"
    assert all(parses[t] == 1 for t in texts), {t: parses[t] for t in texts}
