"""Rules proven satisfiable are remembered under .rulectl/: a command proves only rules that are new,
or whose facts changed, and an unsatisfiable rule is an error however warm the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import z3

from engine import workflow
from engine.core import project_cache
from engine.core.errors import ConfigErrors
from engine.lint.proof_cache import CACHE_FILE
from tests.conftest import edit

SHAPES = Path(__file__).resolve().parent.parent / "projects"


@pytest.fixture
def solver_checks(monkeypatch) -> list[int]:
    """How many rules were proven: each a z3 check of a formula, or a plain rule's witness found
    without the solver (lint/simple_rules.py)."""
    from engine.lint import rule_proofs

    calls: list[int] = []
    original = z3.Solver.check
    plainly = rule_proofs.plainly_satisfiable

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    def counting_plain(translator, condition):
        shown = plainly(translator, condition)
        if shown:
            calls.append(1)
        return shown

    monkeypatch.setattr(z3.Solver, "check", counting)
    monkeypatch.setattr(rule_proofs, "plainly_satisfiable", counting_plain)
    return calls


def rule_count(root: Path) -> int:
    return sum(len(s.item.rules) for s in workflow.load(root).segmentations)


def test_a_second_load_proves_nothing_and_an_edit_proves_one_rule(project: Path, solver_checks: list[int]):
    (project / ".rulectl").mkdir()  # as after `rulectl load`: the cache never creates the project's state folder
    rules = rule_count(project)  # cold: every rule proven once
    assert rules >= 5 and len(solver_checks) == rules
    assert (project / CACHE_FILE).is_file()
    solver_checks.clear()
    workflow.load(project)
    assert solver_checks == []
    edit(project / "rules" / "segments.yml", "module_count >= 2", "module_count >= 3")
    workflow.load(project)
    assert len(solver_checks) == 1


def test_an_unsatisfiable_rule_is_an_error_with_a_warm_cache(project: Path):
    workflow.load(project)
    edit(project / "rules" / "segments.yml", "module_count >= 2", "module_count >= 2 AND module_count < 1")
    with pytest.raises(ConfigErrors, match="can never match"):
        workflow.load(project)
    with pytest.raises(ConfigErrors, match="can never match"):  # never remembered as proven
        workflow.load(project)


def test_a_changed_derived_metric_proves_its_rules_again(project: Path):
    """adoption_rate is module_count / 4.0: `days_to_renewal <= 120 AND adoption_rate < 0.5` holds for
    some customer. Redefined as module_count + 1, `adoption_rate < 0.5` needs module_count < -0.5,
    which a count never is: the rule's cached proof must not survive the metric's change."""
    workflow.load(project)
    edit(project / "rules" / "metrics.yml", "expr: module_count / 4.0", "expr: module_count + 1")
    with pytest.raises(ConfigErrors, match="At Risk"):
        workflow.load(project)


def test_a_damaged_or_unwritable_cache_is_ignored(tmp_path: Path, solver_checks: list[int]):
    root = tmp_path / "minimal"
    shutil.copytree(SHAPES / "minimal", root, ignore=shutil.ignore_patterns(".rulectl"))
    (root / CACHE_FILE).parent.mkdir(parents=True)
    (root / CACHE_FILE).write_text("{not json")
    assert rule_count(root) == 1 and len(solver_checks) == 1
    solver_checks.clear()
    workflow.load(root)
    assert solver_checks == []  # rewritten whole
    (root / CACHE_FILE).unlink()
    (root / CACHE_FILE).mkdir()  # a directory where the file should be: cannot be written
    (root / project_cache.CACHE_FILE).unlink()  # else the project cache says the rules were proven
    workflow.load(root)
    assert len(solver_checks) == 1


@pytest.mark.parametrize("library", ["sqlglot", "z3-solver"])
def test_another_parser_or_solver_version_proves_every_rule_again(library, project: Path, solver_checks: list[int], monkeypatch):
    """The keys hold conditions and derived metrics as text: another sqlglot may parse a text into
    another tree, another z3 may decide differently, so neither reuses the other's verdicts."""
    from engine.lint import proof_cache

    (project / ".rulectl").mkdir()
    rules = rule_count(project)
    solver_checks.clear()
    (project / project_cache.CACHE_FILE).unlink()  # the proofs' own cache answers, not the project's
    proof_cache._solver_code_stamp.cache_clear()
    if library == "sqlglot":
        monkeypatch.setattr(proof_cache.sqlglot, "__version__", "0.0.1")
    else:
        monkeypatch.setattr(proof_cache, "_z3_version", lambda: "0.0.1")
    try:
        workflow.load(project)
        assert len(solver_checks) == rules
    finally:
        proof_cache._solver_code_stamp.cache_clear()
