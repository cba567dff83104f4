"""A rule whose condition plainly has customers, shown without the solver.

Most rules are an AND of comparisons of numeric inputs with numbers (`total_arr >= 150000 AND
module_count >= 3`). Such a condition is TRUE for some customer exactly when every input it reads
can take a value inside what the comparisons on it and its declared bounds leave: the inputs are
independent (no derived metric, no label, no function), so the question splits per input into an
interval with a few excluded points. Here the answer is a witness, a value per input found with
exact fractions, so "satisfiable" is a proof as the solver's is; anything else (another shape, an
empty interval) is left to the solver, which also writes the message. At 500 rules the solver took
~0.8 s of a cold `rulectl apply`, nearly all of it building formulas in Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from sqlglot import exp

from engine.lint.domains import INTEGER, NUMERIC, Domains

# `column OP number`; a number on the left is the mirrored comparison
_MIRRORED = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}


@dataclass
class _Interval:
    """The values one input may take: between `low` and `high` (each possibly strict), not `excluded`."""

    integer: bool
    low: Fraction | None = None
    low_strict: bool = False
    high: Fraction | None = None
    high_strict: bool = False
    excluded: set[Fraction] = field(default_factory=set)

    def above(self, value: Fraction, strict: bool) -> None:
        if self.low is None or value > self.low or (value == self.low and strict):
            self.low, self.low_strict = value, strict

    def below(self, value: Fraction, strict: bool) -> None:
        if self.high is None or value < self.high or (value == self.high and strict):
            self.high, self.high_strict = value, strict

    def admits(self, value: Fraction) -> bool:
        if self.low is not None and (value < self.low or (value == self.low and self.low_strict)):
            return False
        if self.high is not None and (value > self.high or (value == self.high and self.high_strict)):
            return False
        return value not in self.excluded and (not self.integer or value.denominator == 1)

    def witness(self) -> Fraction | None:
        """A value the input may take, or None when none was found (the solver decides then)."""
        candidates: list[Fraction] = []
        if self.integer:
            # the first integers from the lowest end (or the highest, or 0): one more than the
            # excluded points holds a free one whenever the interval has that many integers
            if self.low is not None:
                start = math.floor(self.low) + 1 if self.low_strict or self.low.denominator != 1 else int(self.low)
                candidates = [Fraction(start + step) for step in range(len(self.excluded) + 1)]
            elif self.high is not None:
                start = math.ceil(self.high) - 1 if self.high_strict or self.high.denominator != 1 else int(self.high)
                candidates = [Fraction(start - step) for step in range(len(self.excluded) + 1)]
            else:
                candidates = [Fraction(step) for step in range(len(self.excluded) + 1)]
        else:
            if self.low is not None and self.high is not None:
                candidates = [self.low, self.high] + [self.low + (self.high - self.low) * Fraction(step + 1, len(self.excluded) + 2) for step in range(len(self.excluded) + 1)]
            elif self.low is not None:
                candidates = [self.low + step for step in range(len(self.excluded) + 2)]
            elif self.high is not None:
                candidates = [self.high - step for step in range(len(self.excluded) + 2)]
            else:
                candidates = [Fraction(step) for step in range(len(self.excluded) + 1)]
        return next((value for value in candidates if self.admits(value)), None)


def plainly_satisfiable(domains: Domains, condition: exp.Expression) -> bool:
    """True when `condition` is an AND of `numeric input OP number` comparisons and a value of
    each input, inside its declared bounds, makes every comparison TRUE (found, not assumed).
    False means "not shown here", never "unsatisfiable"."""
    intervals: dict[str, _Interval] = {}
    for atom in _conjuncts(condition):
        found = _comparison(atom)
        if found is None:
            return False
        name, operator, value = found
        kind = domains.kinds.get(name)
        if name in domains.definitions or kind not in (NUMERIC, INTEGER):
            return False
        interval = intervals.get(name)
        if interval is None:
            interval = intervals[name] = _Interval(integer=kind == INTEGER)
            low, high = domains.bounds.get(name, (None, None))
            if any(bound is not None and not math.isfinite(bound) for bound in (low, high)):
                return False  # `max: .inf` and the like: as the solver takes them, not as a number
            if low is not None:
                interval.above(Fraction(str(low)), strict=False)  # as three_valued._within states them
            if high is not None:
                interval.below(Fraction(str(high)), strict=False)
        _narrow(interval, operator, value)
    return bool(intervals) and all(interval.witness() is not None for interval in intervals.values())


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _comparison(node: exp.Expression) -> tuple[str, type, Fraction] | None:
    """(input name, comparison with the input on the left, number) of `column OP number`."""
    operator = type(node)
    if operator not in _MIRRORED:
        return None
    left, right = node.this, node.expression
    if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
        left, right, operator = right, left, _MIRRORED[operator]
    if not isinstance(left, exp.Column) or left.table:
        return None
    number = _number(right)
    return None if number is None else (left.name.lower(), operator, number)


def _number(node: exp.Expression) -> Fraction | None:
    negative = False
    while isinstance(node, (exp.Neg, exp.Paren)):
        negative ^= isinstance(node, exp.Neg)
        node = node.this
    if not isinstance(node, exp.Literal) or node.is_string:
        return None
    try:
        value = Fraction(node.this)
    except (ValueError, ZeroDivisionError):
        return None
    return -value if negative else value


def _narrow(interval: _Interval, operator: type, value: Fraction) -> None:
    if operator is exp.GT:
        interval.above(value, strict=True)
    elif operator is exp.GTE:
        interval.above(value, strict=False)
    elif operator is exp.LT:
        interval.below(value, strict=True)
    elif operator is exp.LTE:
        interval.below(value, strict=False)
    elif operator is exp.EQ:
        interval.above(value, strict=False)
        interval.below(value, strict=False)
    else:  # NEQ
        interval.excluded.add(value)
