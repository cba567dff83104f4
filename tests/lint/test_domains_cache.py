"""What the solver knows of the metrics (lint/domains.py) is kept under the key of what it reads —
the settings and the metrics (compile/project.py `part_digest`) — so a rule edit proves its rules
without parsing or typing a metric, with the same facts as computing them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine import workflow
from engine.config.loader import load_project
from engine.core import expressions, project_cache
from engine.core.errors import ConfigErrors
from engine.lint import domains as domains_module
from engine.lint.domains import Definitions, project_domains
from tests.conftest import edit

SHAPES = Path(__file__).resolve().parent.parent / "projects"


def facts(domains) -> tuple:
    return (domains.kinds, {name: domains.definitions[name].sql() for name in domains.definitions}, domains.never_null, domains.bounds, domains.signature())


def shape_root(shape: str, project: Path, tmp_path: Path) -> Path:
    if shape == "example":
        root = project
    else:
        root = shutil.copytree(SHAPES / shape, tmp_path / shape, ignore=shutil.ignore_patterns(".rulectl"))
    if shape == "minimal":  # a declared range, one side unbounded: `.inf` goes through the cache's JSON
        edit(root / "rulectl.yml", "    sample: data/members.csv", "    sample: data/members.csv\n    ranges: {visits: {min: 0, max: .inf}}")
    (root / ".rulectl").mkdir(exist_ok=True)
    return root


@pytest.fixture
def metric_domains(monkeypatch) -> list[int]:
    """How many times the metrics' domains were derived (not restored from the cache)."""
    ran: list[int] = []
    original = domains_module._metric_domains
    monkeypatch.setattr(domains_module, "_metric_domains", lambda loaded: ran.append(1) or original(loaded))
    return ran


@pytest.mark.parametrize("shape", ["example", "minimal", "renamed"])
def test_the_cached_domains_are_the_ones_computed(shape, project, tmp_path, metric_domains):
    root = shape_root(shape, project, tmp_path)
    computed = facts(project_domains(load_project(root)))
    restored = facts(project_domains(load_project(root)))
    assert metric_domains == [1]
    assert restored == computed
    if shape == "minimal":
        assert computed[3]["visits"] == (0, float("inf"))


def test_a_rule_edit_parses_no_metric_for_the_proofs_and_a_metric_edit_derives_them_again(project, metric_domains, monkeypatch):
    (project / ".rulectl").mkdir()
    workflow.load(project)
    assert metric_domains == [1]
    metric_texts = {m.item.expr for m in load_project(project).metrics}
    parsed: list[str] = []
    inner = expressions.parse_expression.__wrapped__
    expressions.parse_expression.cache_clear()
    counting = expressions.functools.lru_cache(maxsize=None)(lambda text: parsed.append(text) or inner(text))
    for module in (expressions, domains_module):
        monkeypatch.setattr(module, "parse_expression", counting)

    edit(project / "rules" / "segments.yml", "module_count >= 2", "module_count >= 3")
    workflow.load(project)
    assert metric_domains == [1] and not set(parsed) & metric_texts

    edit(project / "rules" / "metrics.yml", "expr: SUM(arr)", "expr: SUM(arr) / 3")
    workflow.load(project)
    assert metric_domains == [1, 1]


def test_a_derived_metric_is_parsed_when_the_solver_reads_it():
    parsed: list[str] = []
    definitions = Definitions({"rate": "visits / 52.0", "ratio": "a / NULLIF(b, 0)"}, {"band": expressions.parse_expression("CASE WHEN visits > 1 THEN 'x' END").tree})
    original = domains_module.parse_expression
    domains_module.parse_expression = lambda text: parsed.append(text) or original(text)
    try:
        assert set(definitions) == {"rate", "ratio", "band"} and len(definitions) == 3
        assert "rate" in definitions and "visits" not in definitions
        assert definitions.text_of("ratio") == "text:a / NULLIF(b, 0)" and parsed == []
        assert definitions["rate"].sql() == "visits / 52.0" and parsed == ["visits / 52.0"]
        assert definitions.text_of("band") == "tree:CASE WHEN visits > 1 THEN 'x' END"
        with pytest.raises(KeyError):
            definitions["visits"]
    finally:
        domains_module.parse_expression = original


def test_a_cached_derived_metric_still_decides_its_rules(project):
    """With the domains restored, a rule reading a derived metric (adoption_rate, module_count / 4.0)
    is still proven against its definition: redefined so the rule can never hold, it is an error."""
    (project / ".rulectl").mkdir()
    workflow.load(project)
    edit(project / "rules" / "segments.yml", "days_to_renewal <= 120", "days_to_renewal <= 90")
    workflow.load(project)  # domains restored, the edited rule proven with them
    edit(project / "rules" / "segments.yml", "adoption_rate < 0.5", "adoption_rate < -0.5")
    with pytest.raises(ConfigErrors, match="can never match"):
        workflow.load(project)


@pytest.mark.parametrize("damage", [{"x": 5}, {"x": [1]}, {"x": ["a", 2]}, {"x": [True, 2]}, [[0, 1]]])
def test_a_damaged_cache_entry_is_derived_again(damage, tmp_path, metric_domains):
    """The cache is a file anyone can edit: an entry whose bounds are not (low, high) pairs of
    numbers is a miss, never a TypeError out of validate."""
    root = shape_root("minimal", None, tmp_path)
    computed = facts(project_domains(load_project(root)))
    path = root / project_cache.CACHE_FILE
    data = json.loads(path.read_text())
    for entry in data["entries"].values():
        if "domains" in entry:
            entry["domains"]["bounds"] = damage
    path.write_text(json.dumps(data))
    assert facts(project_domains(load_project(root))) == computed and metric_domains == [1, 1]
