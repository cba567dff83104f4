"""Hostile YAML is bounded: an alias bomb, deep nesting, a huge or deeply nested expression and odd
paths (a symlink to a directory, a loop, a link out of the project) each give file:line, exit 1, no
traceback — in bounded time and memory."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from tests.conftest import run

BILLION_LAUGHS = """metrics:
  - name: a
    source: products
    expr: SUM(arr)
    description: &l0 [x, x, x, x, x, x, x, x, x, x]
x1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]
x2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]
x3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]
x4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]
x5: &l5 [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]
x6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]
x7: &l7 [*l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6]
x8: &l8 [*l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7]
"""


def validate_bounded(project: Path, seconds: float = 10.0):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = run("validate", project=project)
    assert time.perf_counter() - started < seconds
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 512 * 1024  # KiB: under 512 MB more
    assert result.exit_code == 1 and "Traceback" not in result.output
    return result.output


def test_an_alias_bomb_is_refused(project: Path):
    (project / "rules" / "metrics.yml").write_text(BILLION_LAUGHS)
    output = validate_bounded(project)
    assert "rules/metrics.yml:" in output and "expands to more than 200,000 values" in output


@pytest.mark.parametrize("depth", [100, 10_000])
def test_deep_nesting_is_refused(project: Path, depth: int):
    (project / "rules" / "metrics.yml").write_text("metrics: " + "[" * depth + "]" * depth + "\n")
    output = validate_bounded(project)
    assert "rules/metrics.yml:1:" in output and "nested" in output


def test_a_huge_expression_is_refused_quickly(project: Path):
    huge = " + ".join(["arr"] * 100_000)
    (project / "rules" / "metrics.yml").write_text(f"metrics:\n  - name: a\n    source: products\n    expr: SUM({huge})\n")
    output = validate_bounded(project)
    assert "rules/metrics.yml:4:" in output and "characters long; rulectl takes at most 20,000" in output


def test_a_deeply_nested_expression_is_refused(project: Path):
    deep = "(" * 3000 + "arr" + ")" * 3000
    (project / "rules" / "metrics.yml").write_text(f"metrics:\n  - name: a\n    source: products\n    expr: SUM({deep})\n")
    output = validate_bounded(project)
    assert "rules/metrics.yml:4:" in output and "nested too deeply" in output


def test_a_symlink_to_a_directory_is_refused(project: Path, tmp_path: Path):
    (tmp_path / "somewhere").mkdir()
    (project / "rules" / "x.yml").symlink_to(tmp_path / "somewhere")
    output = validate_bounded(project)
    assert "rules/x.yml:1: rules/x.yml is not a regular file" in output


def test_a_symlink_loop_is_refused(project: Path):
    (project / "rules" / "loop.yml").symlink_to(project / "rules" / "loop.yml")
    output = validate_bounded(project)
    assert "rules/loop.yml:1: rules/loop.yml is a symbolic link" in output and "loop" in output


def test_a_link_out_of_the_project_is_refused(project: Path, tmp_path: Path):
    outside = tmp_path / "outside.yml"
    outside.write_text("metrics: []\n")
    (project / "rules" / "outside.yml").symlink_to(outside)
    output = validate_bounded(project)
    assert "rules/outside.yml links outside the project" in output



def alternating(terms: int) -> str:
    """`SUM(arr) + MAX(seats) - SUM(arr) + …`: one level deeper per term, mixing operators (sqlglot
    renders a chain of one operator in a loop, but recurses at every change of operator)."""
    return " ".join((("+ " if index % 2 else "- ") if index else "") + ("SUM(arr)", "MAX(seats)")[index % 2] for index in range(terms))


@pytest.mark.slow
def test_long_expressions_within_the_caps_go_all_the_way(project: Path):
    """1,600 terms in parenthesised groups (a metric) and 1,000 ORs (a rule) validate, and a chain
    just under the 150-level nesting cap compiles for both targets and lints: the type checker
    walks chains in a loop, and every later recursive step stays far from Python's limit."""
    grouped = " + ".join("(" + " + ".join(["SUM(arr)", "MAX(seats)"] * 20) + ")" for _ in range(40))
    (project / "rules" / "metrics.yml").write_text(
        (project / "rules" / "metrics.yml").read_text().rstrip("\n")
        + f"\n  - name: long_sum\n    source: products\n    expr: {grouped}\n  - name: long_chain\n    source: products\n    expr: {alternating(145)}\n"
    )
    rule = " OR ".join("(" + " OR ".join(f"total_arr > {group * 40 + index}" for index in range(40)) + ")" for group in range(25))
    segments = project / "rules" / "segments.yml"
    segments.write_text(segments.read_text().replace("when: module_count >= 2", f"when: {rule}", 1))
    for command in (("validate",), ("lint",), ("compile", "--target", "local"), ("compile", "--target", "prod")):
        result = run(*command, project=project)
        assert result.exit_code == 0, (command, result.output[-500:])
    segments.write_text(segments.read_text().replace("total_arr > 700 OR", "total_arr > 'seven hundred' OR", 1))
    result = run("validate", project=project)
    assert result.exit_code == 1 and "Traceback" not in result.output and "with the text 'seven hundred'" in result.output


@pytest.mark.parametrize("terms", [160, 400, 1600])
def test_a_chain_deeper_than_the_cap_is_refused(project: Path, terms: int):
    (project / "rules" / "metrics.yml").write_text(f"metrics:\n  - name: a\n    source: products\n    expr: {alternating(terms)}\n")
    output = validate_bounded(project)
    assert "rules/metrics.yml:4:" in output and "nested too deeply" in output and "at most 150" in output
