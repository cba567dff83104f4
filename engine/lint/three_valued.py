"""Rule conditions as z3 formulas with SQL's three-valued logic.

A scalar becomes a `Term` (a z3 value and a z3 "is NULL" flag); a condition becomes a `Truth` (two
z3 formulas, "is TRUE" and "is FALSE"; neither holds when the condition is NULL). A segment rule
matches only when its condition is TRUE, so NULL inputs are never silently treated as false or true.

What z3 cannot model exactly (unknown functions, ILIKE, type mismatches) becomes an *opaque* atom:
an unconstrained value of the right sort, keyed by its SQL text so that the same sub-expression is
the same atom everywhere. Opaque atoms only widen what looks possible, so "unsatisfiable" and
"unreachable" stay proofs; an example customer that relies on one is flagged as approximate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import z3
from sqlglot import exp

from engine.core.expressions import DIALECT
from engine.lint.domains import BOOLEAN, CONDITIONS, INTEGER, NUMERIC, TEXT, Bounds, Domains, infer_kind  # noqa: F401 (the kinds are read from here too)




def _within(value: z3.ExprRef, bounds: Bounds) -> list[z3.BoolRef]:
    """Facts keeping `value` inside `bounds` (an integer input compared as a real: bounds may be fractions)."""
    real = z3.ToReal(value) if value.sort() == z3.IntSort() else value
    low, high = bounds
    facts = [real >= z3.RealVal(str(low))] if low is not None else []
    return facts + ([real <= z3.RealVal(str(high))] if high is not None else [])


@dataclass(frozen=True)
class Term:
    """A scalar: its value and whether it is NULL."""

    value: z3.ExprRef
    null: z3.BoolRef


@dataclass(frozen=True)
class Truth:
    """A condition: when it is TRUE and when it is FALSE (NULL is neither)."""

    true: z3.BoolRef
    false: z3.BoolRef


@dataclass(frozen=True)
class Variable:
    """One input the solver may choose: a metric or customer column, or an opaque sub-expression."""

    name: str
    kind: str  # NUMERIC | INTEGER | TEXT | BOOLEAN
    term: Term
    opaque: bool = False


def sort_of(kind: str) -> z3.SortRef:
    return {INTEGER: z3.IntSort(), TEXT: z3.StringSort(), BOOLEAN: z3.BoolSort()}.get(kind, z3.RealSort())


class Untranslatable(Exception):
    """The expression (or a part of it) has no exact z3 meaning; the caller makes it opaque."""


@dataclass
class Translator:
    """sqlglot expression → z3, over named inputs.

    `kinds` gives each input name its kind; `definitions` inlines derived metrics (their own
    expressions); `never_null` names inputs that always have a value (counts, metrics with a default).
    """

    kinds: dict[str, str]
    definitions: dict[str, exp.Expression] = field(default_factory=dict)
    never_null: frozenset[str] = frozenset()
    bounds: dict[str, Bounds] = field(default_factory=dict)  # (lowest, highest) a numeric input can be
    variables: dict[str, Variable] = field(default_factory=dict)
    facts: list[z3.BoolRef] = field(default_factory=list)  # domain constraints on the variables
    _inlining: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, domains: Domains) -> Translator:
        return cls(domains.kinds, domains.definitions, domains.never_null, domains.bounds)

    def signature(self) -> str:
        return Domains(self.kinds, self.definitions, self.never_null, self.bounds).signature()

    def fresh(self) -> Translator:
        """The same inputs and definitions with no variables made yet: one per segmentation, so
        solver queries carry only the facts of the inputs they read."""
        return Translator(self.kinds, self.definitions, self.never_null, self.bounds)

    # ------------------------------------------------------------ conditions

    def truth(self, node: exp.Expression) -> Truth:
        """The three-valued truth of a condition."""
        handler = _TRUTH_HANDLERS.get(type(node))
        if handler is not None:
            try:
                return handler(self, node)
            except (Untranslatable, z3.Z3Exception):
                pass
        if isinstance(node, (exp.Column, exp.If, exp.Case, exp.Coalesce)):
            try:
                term = self.term(node)
                if term.value.sort() == z3.BoolSort():
                    return Truth(z3.And(z3.Not(term.null), term.value), z3.And(z3.Not(term.null), z3.Not(term.value)))
            except (Untranslatable, z3.Z3Exception):
                pass
        return self._opaque_truth(node)

    def _opaque_truth(self, node: exp.Expression) -> Truth:
        term = self._opaque(node, BOOLEAN)
        return Truth(z3.And(z3.Not(term.null), term.value), z3.And(z3.Not(term.null), z3.Not(term.value)))

    def _compare(self, node: exp.Binary) -> Truth:
        left, right = self.term(node.this), self.term(node.expression)
        left_value, right_value = _unify(left.value, right.value)
        holds = _COMPARISONS[type(node)](left_value, right_value)
        known = z3.And(z3.Not(left.null), z3.Not(right.null))
        return Truth(z3.And(known, holds), z3.And(known, z3.Not(holds)))

    def _and(self, node: exp.And) -> Truth:
        a, b = self.truth(node.this), self.truth(node.expression)
        return Truth(z3.And(a.true, b.true), z3.Or(a.false, b.false))

    def _or(self, node: exp.Or) -> Truth:
        a, b = self.truth(node.this), self.truth(node.expression)
        return Truth(z3.Or(a.true, b.true), z3.And(a.false, b.false))

    def _not(self, node: exp.Not) -> Truth:
        inner = self.truth(node.this)
        return Truth(inner.false, inner.true)

    def _paren(self, node: exp.Paren) -> Truth:
        return self.truth(node.this)

    def _is(self, node: exp.Is) -> Truth:
        if not isinstance(node.expression, exp.Null):
            raise Untranslatable("IS TRUE / IS FALSE")
        term = self.term(node.this)
        return Truth(term.null, z3.Not(term.null))  # IS NULL is never NULL itself

    def _between(self, node: exp.Between) -> Truth:
        low = exp.GTE(this=node.this, expression=node.args["low"])
        high = exp.LTE(this=node.this, expression=node.args["high"])
        return self._and(exp.And(this=low, expression=high))

    def _in(self, node: exp.In) -> Truth:
        if not node.expressions:
            raise Untranslatable("IN without a list")
        options = [self._compare(exp.EQ(this=node.this, expression=item)) for item in node.expressions]
        return Truth(z3.Or(*[o.true for o in options]), z3.And(*[o.false for o in options]))

    def _like(self, node: exp.Like) -> Truth:
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string) or node.args.get("escape"):
            raise Untranslatable("LIKE with a computed pattern")
        term = self.term(node.this)
        if term.value.sort() != z3.StringSort():
            raise Untranslatable("LIKE on a non-text value")
        holds = z3.InRe(term.value, like_regex(pattern.this))
        known = z3.Not(term.null)
        return Truth(z3.And(known, holds), z3.And(known, z3.Not(holds)))

    def _boolean(self, node: exp.Boolean) -> Truth:
        return Truth(z3.BoolVal(bool(node.this)), z3.BoolVal(not node.this))

    def _null(self, node: exp.Null) -> Truth:
        return Truth(z3.BoolVal(False), z3.BoolVal(False))

    # ------------------------------------------------------------ scalars

    def term(self, node: exp.Expression) -> Term:
        """The value and NULL flag of a scalar expression (opaque when z3 has no exact meaning)."""
        handler = _TERM_HANDLERS.get(type(node))
        if handler is not None:
            try:
                return handler(self, node)
            except (Untranslatable, z3.Z3Exception):
                pass
        if type(node) in _TRUTH_HANDLERS:  # a condition used as a value, e.g. IFF(a > 1, TRUE, b)
            truth = self.truth(node)
            return Term(truth.true, z3.And(z3.Not(truth.true), z3.Not(truth.false)))
        return self._opaque(node, self.kind_of(node))

    def _column(self, node: exp.Column) -> Term:
        name = node.name.lower()
        if name in self.definitions and name not in self._inlining:
            self._inlining.add(name)
            try:
                return self.term(self.definitions[name])
            finally:
                self._inlining.discard(name)
        if name not in self.kinds:
            raise Untranslatable(f"unknown name {name}")
        return self._variable(name, self.kinds[name]).term

    def _variable(self, name: str, kind: str, opaque: bool = False) -> Variable:
        if name not in self.variables:
            value = z3.Const(name, sort_of(kind))
            null = z3.Bool(f"{name} is null")
            self.variables[name] = Variable(name, kind, Term(value, null), opaque)
            if name in self.never_null:
                self.facts.append(z3.Not(null))
            if name in self.bounds and kind in (NUMERIC, INTEGER):
                self.facts += _within(value, self.bounds[name])
        return self.variables[name]

    def _opaque(self, node: exp.Expression, kind: str) -> Term:
        """An unconstrained value for `node`, NULL whenever an input it reads is NULL (SQL functions
        are NULL-in, NULL-out, apart from those handled exactly, like COALESCE)."""
        text = node.sql(dialect=DIALECT)
        variable = self._variable(text, kind, opaque=True)
        for column in node.find_all(exp.Column):
            if column.find_ancestor(exp.Window):  # NTILE(…) OVER (ORDER BY x) has a value also when x is NULL
                continue
            try:
                inner = self._column(column)
            except Untranslatable:
                continue
            self.facts.append(z3.Implies(inner.null, variable.term.null))
        return variable.term

    def _literal(self, node: exp.Literal) -> Term:
        if node.is_string:
            return Term(z3.StringVal(node.this), z3.BoolVal(False))
        text = node.this
        value = z3.IntVal(int(text)) if text.lstrip("-").isdigit() else z3.RealVal(text)
        return Term(value, z3.BoolVal(False))

    def _null_term(self, node: exp.Null) -> Term:
        return Term(z3.RealVal(0), z3.BoolVal(True))

    def _boolean_term(self, node: exp.Boolean) -> Term:
        return Term(z3.BoolVal(bool(node.this)), z3.BoolVal(False))

    def _arithmetic(self, node: exp.Binary) -> Term:
        left, right = self.term(node.this), self.term(node.expression)
        if z3.StringSort() in (left.value.sort(), right.value.sort()):
            raise Untranslatable("arithmetic on text")
        a, b = _unify(left.value, right.value)
        null = z3.Or(left.null, right.null)
        if isinstance(node, exp.Div):
            # SQL division is never integer division. A zero divisor is treated as NULL (DuckDB's
            # answer; Snowflake fails the whole query), so no rule is credited with such a customer.
            a, b = _real(a), _real(b)
            return Term(a / b, z3.Or(null, b == 0))
        if isinstance(node, exp.Mod):
            if not (a.sort() == b.sort() == z3.IntSort()):
                raise Untranslatable("MOD on decimals")
            return Term(a % b, z3.Or(null, b == 0))
        return Term(_ARITHMETIC[type(node)](a, b), null)

    def _neg(self, node: exp.Neg) -> Term:
        inner = self.term(node.this)
        return Term(-inner.value, inner.null)

    def _paren_term(self, node: exp.Paren) -> Term:
        return self.term(node.this)

    def _coalesce(self, node: exp.Coalesce) -> Term:
        terms = [self.term(node.this)] + [self.term(e) for e in node.expressions]
        value, null = terms[-1].value, terms[-1].null
        for term in reversed(terms[:-1]):
            picked, value = _unify(term.value, value)
            value = z3.If(term.null, value, picked)
            null = z3.And(term.null, null)
        return Term(value, null)

    def _nullif(self, node: exp.Nullif) -> Term:
        a, b = self.term(node.this), self.term(node.expression)
        left, right = _unify(a.value, b.value)
        return Term(a.value, z3.Or(a.null, z3.And(z3.Not(b.null), left == right)))

    def _iff(self, node: exp.If) -> Term:
        otherwise = self.term(node.args["false"]) if node.args.get("false") else self._null_term(exp.null())
        return _choose(self.truth(node.this), self.term(node.args["true"]), otherwise)

    def _case(self, node: exp.Case) -> Term:
        if node.this is not None:
            raise Untranslatable("simple CASE")
        result = self.term(node.args["default"]) if node.args.get("default") else self._null_term(exp.null())
        for branch in reversed(node.args["ifs"]):
            result = _choose(self.truth(branch.this), self.term(branch.args["true"]), result)
        return result

    # ------------------------------------------------------------ kinds

    def kind_of(self, node: exp.Expression) -> str:
        """The kind of value an expression yields, from the inputs' kinds and the node type."""
        return infer_kind(node, lambda name: self.kinds.get(name) or (self.kind_of(self.definitions[name]) if name in self.definitions else None))


def _choose(condition: Truth, then: Term, otherwise: Term) -> Term:
    # A literal NULL branch has no sort of its own: give it the other branch's.
    if z3.is_true(then.null):
        then = Term(z3.FreshConst(otherwise.value.sort()), then.null)
    if z3.is_true(otherwise.null):
        otherwise = Term(z3.FreshConst(then.value.sort()), otherwise.null)
    a, b = _unify(then.value, otherwise.value)
    return Term(z3.If(condition.true, a, b), z3.If(condition.true, then.null, otherwise.null))


def _unify(a: z3.ExprRef, b: z3.ExprRef) -> tuple[z3.ExprRef, z3.ExprRef]:
    """Make two values comparable: integers meet reals as reals; other mismatches are opaque."""
    if a.sort() == b.sort():
        return a, b
    if a.sort() == z3.IntSort() and b.sort() == z3.RealSort():
        return z3.ToReal(a), b
    if a.sort() == z3.RealSort() and b.sort() == z3.IntSort():
        return a, z3.ToReal(b)
    raise Untranslatable(f"cannot compare {a.sort()} with {b.sort()}")


def _real(value: z3.ExprRef) -> z3.ExprRef:
    return z3.ToReal(value) if value.sort() == z3.IntSort() else value


def like_regex(pattern: str) -> z3.ReRef:
    """A SQL LIKE pattern as a z3 regular expression (`%` any text, `_` one character, `\\` escapes)."""
    any_char = z3.AllChar(z3.ReSort(z3.StringSort()))
    parts: list[z3.ReRef] = []
    literal, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            literal += pattern[index + 1]
            index += 2
            continue
        if char in "%_":
            if literal:
                parts.append(z3.Re(literal))
                literal = ""
            parts.append(z3.Star(any_char) if char == "%" else any_char)
        else:
            literal += char
        index += 1
    if literal:
        parts.append(z3.Re(literal))
    if not parts:
        return z3.Re("")
    return parts[0] if len(parts) == 1 else z3.Concat(*parts)


_COMPARISONS: dict[type, Callable[[z3.ExprRef, z3.ExprRef], z3.BoolRef]] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
}
_ARITHMETIC: dict[type, Callable[[z3.ExprRef, z3.ExprRef], z3.ExprRef]] = {
    exp.Add: lambda a, b: a + b,
    exp.Sub: lambda a, b: a - b,
    exp.Mul: lambda a, b: a * b,
}
_TRUTH_HANDLERS: dict[type, Callable[[Translator, exp.Expression], Truth]] = {
    **{kind: Translator._compare for kind in _COMPARISONS},
    exp.And: Translator._and,
    exp.Or: Translator._or,
    exp.Not: Translator._not,
    exp.Paren: Translator._paren,
    exp.Is: Translator._is,
    exp.Between: Translator._between,
    exp.In: Translator._in,
    exp.Like: Translator._like,
    exp.Boolean: Translator._boolean,
    exp.Null: Translator._null,
}
_TERM_HANDLERS: dict[type, Callable[[Translator, exp.Expression], Term]] = {
    exp.Column: Translator._column,
    exp.Literal: Translator._literal,
    exp.Null: Translator._null_term,
    exp.Boolean: Translator._boolean_term,
    **{kind: Translator._arithmetic for kind in (*_ARITHMETIC, exp.Div, exp.Mod)},
    exp.Neg: Translator._neg,
    exp.Paren: Translator._paren_term,
    exp.Coalesce: Translator._coalesce,
    exp.Nullif: Translator._nullif,
    exp.If: Translator._iff,
    exp.Case: Translator._case,
}

assert set(_TRUTH_HANDLERS) == CONDITIONS, "domains.CONDITIONS must name the conditions translated here"
