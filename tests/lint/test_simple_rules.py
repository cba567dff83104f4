"""The solver-free path for plain rules (lint/simple_rules.py) says "satisfiable" only where the
solver does, and says it for the common shapes, so validation refuses exactly what it refused."""

from __future__ import annotations

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from engine.core.expressions import parse_expression
from engine.lint.simple_rules import plainly_satisfiable
from engine.lint.domains import INTEGER, NUMERIC, TEXT
from engine.lint.three_valued import Translator

KINDS = {"n": INTEGER, "arr": NUMERIC, "seats": INTEGER, "rate": NUMERIC, "tier": TEXT}
BOUNDS = {"seats": (0.0, 40.0), "rate": (0.0, 1.0)}


def translator() -> Translator:
    return Translator(dict(KINDS), {"derived": exp.column("arr") / exp.column("n")}, frozenset(), dict(BOUNDS))


def solver_says_satisfiable(condition: str) -> bool:
    fresh = translator()
    truth = fresh.truth(parse_expression(condition).tree)
    solver = z3.Solver()
    solver.add(*fresh.facts, truth.true)
    return solver.check() == z3.sat


@pytest.mark.parametrize("condition", [
    "n >= 3", "arr >= 150000 AND n >= 3", "seats = 40", "seats > 39.5", "rate > 0.99 AND rate < 1", "n > 1 AND n < 3",
    "n != 0 AND n != 1 AND n >= 0", "(arr > -5) AND (-3 <= n)", "3 < n", "arr = 1e5", "seats >= 0 AND seats != 0",
])
def test_plain_rules_need_no_solver(condition: str):
    assert plainly_satisfiable(translator(), parse_expression(condition).tree)
    assert solver_says_satisfiable(condition)


@pytest.mark.parametrize("condition", [
    "n > 1 AND n < 2",  # no integer between
    "rate > 1", "seats < 0", "seats > 40",  # outside the declared bounds
    "arr >= 0.8 AND arr < 0.5", "n = 1 AND n != 1", "rate >= 1 AND rate != 1", "arr > 5 AND arr < 5",
])
def test_what_no_customer_meets_is_left_to_the_solver(condition: str):
    assert not plainly_satisfiable(translator(), parse_expression(condition).tree)
    assert not solver_says_satisfiable(condition)


@pytest.mark.parametrize("condition", [
    "derived > 1", "tier = 'gold'", "n + 1 > 3", "n > 1 OR arr > 2", "NOT n > 1", "n > arr", "unknown > 1", "ABS(n) > 1",
])
def test_other_shapes_are_left_to_the_solver(condition: str):
    assert not plainly_satisfiable(translator(), parse_expression(condition).tree)


NUMBERS = st.one_of(st.integers(-5, 45), st.sampled_from(["0.5", "39.5", "40", "1", "0.99", "-0.5", "1e1"]))
ATOMS = st.tuples(st.sampled_from(["n", "arr", "seats", "rate"]), st.sampled_from([">", ">=", "<", "<=", "=", "!="]), NUMBERS, st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(ATOMS, min_size=1, max_size=5))
def test_a_witness_is_never_wrong(atoms):
    condition = " AND ".join(f"{value} {_mirror(op)} {name}" if flipped else f"{name} {op} {value}" for name, op, value, flipped in atoms)
    if plainly_satisfiable(translator(), parse_expression(condition).tree):
        assert solver_says_satisfiable(condition), condition


def _mirror(op: str) -> str:
    return {">": "<", ">=": "<=", "<": ">", "<=": ">="}.get(op, op)


def test_an_unbounded_range_is_left_to_the_solver():
    # `ranges: {visits: {max: .inf}}` validates: no number to compare with (a review found a traceback)
    domains = Translator({"visits": NUMERIC}, {}, frozenset(), {"visits": (0.0, float("inf"))})
    assert not plainly_satisfiable(domains, parse_expression("visits >= 1").tree)
