"""Types of analyst expressions, offline: number, text, date, timestamp or boolean, from the declared
source column types and the metrics' own inferred types.

A small pass over the parsed AST: the operators analysts write (comparisons, AND/OR/NOT, arithmetic,
CASE/IFF) are typed here, so a mistake can be named with its operands; every other function asks
sqlglot's type annotator. Anything it cannot tell is `unknown` and never an error.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import datetime
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types

from engine.core.expressions import DIALECT, number_in_prose

NUMBER, TEXT, DATE, TIMESTAMP, BOOLEAN, NULL, UNKNOWN = "number", "text", "date", "timestamp", "boolean", "null", "unknown"
TypeEnv = dict[str, str]  # lower-case column or metric name → one of the categories above

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
_ARITHMETIC = (exp.Mul, exp.Div, exp.Mod, exp.IntDiv)
_PLUS_MINUS = (exp.Add, exp.Sub)
_CONNECTIVES = (exp.And, exp.Or, exp.Xor)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_PLAIN_NUMBER = re.compile(r"^\s*[-+]?\d+(\.\d+)?\s*$")


class ExpressionTypeError(ValueError):
    """Two operands that cannot meet, or a value used where a condition is needed; says the fix."""


@dataclass(frozen=True)
class Division:
    """A division whose divisor can be zero (Snowflake fails the whole query when it is)."""

    dividend: str
    divisor: str
    always_zero: bool = False  # the divisor is a literal zero (`x / 0`, `x / 0.0`)


_T = exp.DataType.Type
_CATEGORIES = (  # first match wins, as DataType.is_type(Type…) compares the type's `this` alone
    (frozenset({_T.UNKNOWN}), UNKNOWN),
    (frozenset({_T.NULL}), NULL),
    (frozenset({_T.BOOLEAN}), BOOLEAN),
    (frozenset(exp.DataType.NUMERIC_TYPES), NUMBER),
    (frozenset(exp.DataType.TEXT_TYPES), TEXT),
    (frozenset({_T.DATE, _T.DATE32}), DATE),
    (frozenset(exp.DataType.TEMPORAL_TYPES), TIMESTAMP),
)


def category(data_type: exp.DataType | None) -> str:
    """The category of a SQL type (number, text, date, timestamp, boolean) or `unknown`. Compares
    the type's enum directly: `is_type(*NUMERIC_TYPES)` builds a DataType per candidate per call."""
    if data_type is None:
        return UNKNOWN
    kind = data_type.this
    return next((name for members, name in _CATEGORIES if kind in members), UNKNOWN)
    if data_type.is_type(exp.DataType.Type.NULL):
        return NULL
    if data_type.is_type(exp.DataType.Type.BOOLEAN):
        return BOOLEAN
    if data_type.is_type(*exp.DataType.NUMERIC_TYPES):
        return NUMBER
    if data_type.is_type(*exp.DataType.TEXT_TYPES):
        return TEXT
    if data_type.is_type(exp.DataType.Type.DATE, exp.DataType.Type.DATE32):
        return DATE
    if data_type.is_type(*exp.DataType.TEMPORAL_TYPES):
        return TIMESTAMP
    return UNKNOWN


@functools.lru_cache(maxsize=1024)
def declared_category(type_text: str) -> str:
    """Cached: a project declares a handful of type texts, read once per metric and column."""
    try:
        return category(exp.DataType.build(type_text, dialect=DIALECT))
    except Exception:  # an invalid type is reported by the source checks
        return UNKNOWN


def expression_type(tree: exp.Expression, env: TypeEnv) -> str:
    """The category of `tree`; raise ExpressionTypeError at the first mistake found."""
    return _Typer(env).type_of(tree)


def require_condition(tree: exp.Expression, env: TypeEnv) -> None:
    """`tree` must be true/false (a rule's `when`, a `filter`)."""
    kind = expression_type(tree, env)
    if kind in (NUMBER, TEXT, DATE, TIMESTAMP):
        raise ExpressionTypeError(_not_a_condition(tree, kind))


def risky_divisions(tree: exp.Expression) -> list[Division]:
    """Divisions whose divisor may be zero: not a non-zero number, not NULLIF(x, 0), not inside DIV0/DIV0NULL."""
    return [
        Division(node.this.sql(dialect=DIALECT), node.expression.sql(dialect=DIALECT), _literal_zero(node.expression))
        for node in tree.find_all(exp.Div)
        if not _never_zero(node.expression) and not _guarded_by_div0(node)
    ]


# ------------------------------------------------------------------------------------------------


class _Typer:
    def __init__(self, env: TypeEnv):
        self.env = env
        self._typed: dict[int, tuple[exp.Expression, str]] = {}  # id → (node, category), for probes

    def type_of(self, node: exp.Expression) -> str:
        kind = self._type_of(node)
        self._typed[id(node)] = (node, kind)
        return kind

    def _type_of(self, node: exp.Expression) -> str:
        method = getattr(self, f"_{type(node).__name__.lower()}", None)
        if method is not None:
            return method(node)
        if isinstance(node, _COMPARISONS):
            return self._comparison(node)
        if isinstance(node, _CONNECTIVES):
            spine = _left_spine(node, _CONNECTIVES)
            self._condition(spine[-1].this, spine[-1])
            for step in reversed(spine):
                self._condition(step.expression, step)
            return BOOLEAN
        if isinstance(node, _ARITHMETIC):
            spine = _left_spine(node, _ARITHMETIC)
            self._numeric(spine[-1].this, spine[-1])
            for step in reversed(spine):  # each step's left side is arithmetic below it: a number
                self._numeric(step.expression, step)
            return NUMBER
        if isinstance(node, (exp.Like, exp.ILike, exp.RegexpLike, exp.Is)):
            self._children(node)
            return BOOLEAN
        self._children(node)
        return self._annotated(node)

    def _children(self, node: exp.Expression) -> None:
        for child in node.iter_expressions():
            if not isinstance(child, (exp.Var, exp.Identifier, exp.DataType)):
                self.type_of(child)

    # leaves

    def _literal(self, node: exp.Literal) -> str:
        if node.is_string:
            _check_date_text(node.this)
            return TEXT
        return NUMBER

    def _boolean(self, node: exp.Expression) -> str:
        return BOOLEAN

    def _null(self, node: exp.Expression) -> str:
        return NULL

    def _column(self, node: exp.Column) -> str:
        return self.env.get(node.name.lower(), UNKNOWN)

    def _paren(self, node: exp.Paren) -> str:
        return self.type_of(node.this)

    def _cast(self, node: exp.Cast) -> str:
        self.type_of(node.this)
        return category(node.to)

    _trycast = _cast

    # operators

    def _not(self, node: exp.Not) -> str:
        self._condition(node.this, node)
        return BOOLEAN

    def _neg(self, node: exp.Neg) -> str:
        self._numeric(node.this, node)
        return NUMBER

    def _add(self, node: exp.Add) -> str:
        return self._plus_minus(node)

    def _sub(self, node: exp.Sub) -> str:
        return self._plus_minus(node)

    def _plus_minus(self, node: exp.Binary) -> str:
        spine = _left_spine(node, _PLUS_MINUS)
        kind = self.type_of(spine[-1].this)
        for step in reversed(spine):
            kind = self._plus_minus_step(step, kind, self.type_of(step.expression))
        return kind

    def _plus_minus_step(self, node: exp.Binary, left: str, right: str) -> str:
        """The type of `left ± right`, each side already typed."""
        if DATE in (left, right) or TIMESTAMP in (left, right):
            # https://docs.snowflake.com/en/sql-reference/operators-arithmetic: date - date is a number of days
            if isinstance(node, exp.Sub) and {left, right} <= {DATE, TIMESTAMP}:
                return NUMBER
            return left if left in (DATE, TIMESTAMP) else right
        self._numeric(node.this, node, left)
        self._numeric(node.expression, node, right)
        return NUMBER

    def _comparison(self, node: exp.Binary) -> str:
        self._compatible(node.this, node.expression, node)
        return BOOLEAN

    def _between(self, node: exp.Between) -> str:
        self._compatible(node.this, node.args["low"], node)
        self._compatible(node.this, node.args["high"], node)
        return BOOLEAN

    def _in(self, node: exp.In) -> str:
        for value in node.expressions:
            self._compatible(node.this, value, node)
        return BOOLEAN

    def _if(self, node: exp.If) -> str:
        self._condition(node.this, node)
        return self._first_known([node.args.get("true"), node.args.get("false")])

    def _case(self, node: exp.Case) -> str:
        operand = node.this  # simple CASE: `CASE x WHEN 'EUR' THEN …` compares x with each WHEN value
        for branch in node.args.get("ifs") or []:
            if operand is not None:
                self._compatible(operand, branch.this, exp.EQ(this=operand.copy(), expression=branch.this.copy()))
            else:
                self._condition(branch.this, branch)
        return self._first_known([b.args.get("true") for b in node.args.get("ifs") or []] + [node.args.get("default")])

    def _coalesce(self, node: exp.Coalesce) -> str:
        return self._first_known([node.this, *node.expressions])

    def _first_known(self, branches: list[exp.Expression | None]) -> str:
        kinds = [self.type_of(b) for b in branches if b is not None]
        return next((k for k in kinds if k not in (NULL, UNKNOWN)), UNKNOWN)

    def _countif(self, node: exp.CountIf) -> str:
        self._condition(node.this, node)
        return NUMBER

    def _count(self, node: exp.Count) -> str:
        self._children(node)
        return NUMBER

    # checks

    def _condition(self, operand: exp.Expression, parent: exp.Expression) -> None:
        kind = self.type_of(operand)
        if kind in (NUMBER, TEXT, DATE, TIMESTAMP):
            raise ExpressionTypeError(_not_a_condition(operand, kind))

    def _numeric(self, operand: exp.Expression, parent: exp.Expression, kind: str | None = None) -> None:
        kind = kind or self.type_of(operand)
        if kind == TEXT:
            shown = parent.sql(dialect=DIALECT)
            if isinstance(operand, exp.Literal) and _PLAIN_NUMBER.match(operand.this):
                raise ExpressionTypeError(f"`{shown}` does arithmetic with the text {_sql(operand)}; write the number without quotes: {operand.this.strip()}")
            raise ExpressionTypeError(f"`{shown}` does arithmetic with {_what(operand, kind)}; arithmetic needs numbers")
        if kind in (DATE, TIMESTAMP, BOOLEAN):
            raise ExpressionTypeError(f"`{parent.sql(dialect=DIALECT)}` does arithmetic with {_what(operand, kind)}; use DATEADD/DATEDIFF for dates, and IFF(condition, 1, 0) for conditions")

    def _compatible(self, left: exp.Expression, right: exp.Expression, parent: exp.Expression) -> None:
        left_kind, right_kind = self.type_of(left), self.type_of(right)
        if _meet(left_kind, right_kind, left, right):
            return
        if right_kind == TEXT and left_kind != TEXT:
            left, right, left_kind, right_kind = right, left, right_kind, left_kind  # text on the left
        raise ExpressionTypeError(_mismatch(parent, left, left_kind, right, right_kind))

    def _annotated(self, node: exp.Expression) -> str:
        """sqlglot's own type rules for functions, on a one-level probe: each argument already typed
        is a NULL of its type (a column by its declared type, a nested call by what it was found to
        be). Copying the whole subtree at every level made nested expressions quadratic (1,600 terms:
        40,000 deep copies)."""
        probe = type(node)(**{key: self._probe_argument(value) for key, value in node.args.items()})
        try:
            return category(annotate_types(probe, dialect=DIALECT).type)
        except Exception:  # the annotator does not know every function; unknown is never an error
            return UNKNOWN


    def _probe_argument(self, value):
        if isinstance(value, list):
            return [self._probe_argument(item) for item in value]
        if not isinstance(value, exp.Expression):
            return value
        typed = self._typed.get(id(value))
        if typed is not None and typed[0] is value and typed[1] in _PROBE_TYPES:
            return exp.cast(exp.null(), _PROBE_DATA_TYPES[typed[1]])  # a copy of a built type: parsing its name each time cost most of a check
        return value.copy()  # literals, units, type names, and arguments of unknown type (small)


def _check_date_text(text: str) -> None:
    """A text written as a date ('2026-02-30') must be a real calendar date: Snowflake fails the whole
    view when it reads it as one ("Date '2026-02-30' is not recognized"), and nothing else would be meant."""
    stripped = text.strip()
    reason = calendar_problem(stripped)
    if reason is not None:
        raise ExpressionTypeError(f"'{stripped}' is not a real date ({reason}); write an existing date as 'YYYY-MM-DD'")


def calendar_problem(text: str) -> str | None:
    """Why a text shaped like a date (YYYY-MM-DD, maybe with a time) is no real date or time
    (`there is no month 13`, `February 2025 has 28 days`); None when it is one or is not so shaped."""
    if not _ISO_DATE.match(text):
        return None
    try:
        datetime.fromisoformat(text)
        return None
    except ValueError:
        year, month, day = (int(part) for part in text[:10].split("-"))
        if not 1 <= month <= 12:
            return f"there is no month {month}"
        if not 1 <= day <= calendar.monthrange(year, month)[1]:
            return f"{calendar.month_name[month]} {year} has {calendar.monthrange(year, month)[1]} days"
        return "the time of day is out of range"


def _left_spine(node: exp.Binary, kinds: tuple[type, ...]) -> list[exp.Binary]:
    """`node` and the operators of `kinds` down its left side: `a + b + c + …` parses as a chain one
    level deeper per term, so a few hundred terms typed by recursion would exceed Python's
    recursion limit (and the parser takes up to the 20,000-character cap). Typed in a loop instead."""
    spine = [node]
    while isinstance(spine[-1].this, kinds):
        spine.append(spine[-1].this)
    return spine


_PROBE_TYPES = {NUMBER: "DOUBLE", TEXT: "VARCHAR", DATE: "DATE", TIMESTAMP: "TIMESTAMP", BOOLEAN: "BOOLEAN"}
_PROBE_DATA_TYPES = {kind: exp.DataType.build(name) for kind, name in _PROBE_TYPES.items()}


def _meet(left_kind: str, right_kind: str, left: exp.Expression, right: exp.Expression) -> bool:
    kinds = {left_kind, right_kind}
    if kinds & {UNKNOWN, NULL} or len(kinds) == 1 or kinds == {DATE, TIMESTAMP}:
        return True
    if kinds <= {DATE, TIMESTAMP, TEXT}:  # '2026-01-01' is read as a date (https://docs.snowflake.com/en/sql-reference/date-time-input-output)
        text = left if left_kind == TEXT else right
        return not isinstance(text, exp.Literal) or bool(_ISO_DATE.match(text.this.strip()))
    return False


def _mismatch(parent: exp.Expression, text_side: exp.Expression, text_kind: str, other: exp.Expression, other_kind: str) -> str:
    shown = parent.sql(dialect=DIALECT)
    if text_kind == TEXT and other_kind == NUMBER:
        if isinstance(text_side, exp.Literal):
            value = text_side.this.strip()
            in_prose = number_in_prose(value)
            plain = value if _PLAIN_NUMBER.match(value) else in_prose[1] if in_prose else None
            fix = f"write the number without quotes: {plain}" if plain else "compare it with a number written as plain digits, without quotes"
            return f"`{shown}` compares {_what(other, other_kind)} with the text {_sql(text_side)}; {fix}"
        if isinstance(other, exp.Literal):
            return f"`{shown}` compares {_what(text_side, text_kind)} with the number {_sql(other)}; write text values in single quotes: '{other.this}'"
        return f"`{shown}` compares {_what(other, other_kind)} with {_what(text_side, text_kind)}; compare numbers with numbers and text with text"
    if text_kind == TEXT and other_kind in (DATE, TIMESTAMP):
        return f"`{shown}` compares {_what(other, other_kind)} with the text {_sql(text_side)}, which is not a date; write dates as 'YYYY-MM-DD'"
    if {text_kind, other_kind} == {DATE, NUMBER} or {text_kind, other_kind} == {TIMESTAMP, NUMBER}:
        date_side, number_side = (text_side, other) if text_kind in (DATE, TIMESTAMP) else (other, text_side)
        return (
            f"`{shown}` compares {_what(date_side, DATE)} with {_what(number_side, NUMBER)}; count days instead, "
            f"e.g. DATEDIFF('day', CURRENT_DATE, {_sql(date_side)}) <= {_sql(number_side)}"
        )
    if BOOLEAN in (text_kind, other_kind):
        return f"`{shown}` compares {_what(text_side, text_kind)} with {_what(other, other_kind)}; compare a condition with TRUE or FALSE only"
    return f"`{shown}` compares {_what(text_side, text_kind)} with {_what(other, other_kind)}; compare values of the same kind"


def _not_a_condition(operand: exp.Expression, kind: str) -> str:
    examples = {
        NUMBER: f"{_sql(operand)} >= 100000",
        TEXT: f"{_sql(operand)} = 'some value' or {_sql(operand)} LIKE '%part%'",
        DATE: f"{_sql(operand)} <= DATEADD('day', 90, CURRENT_DATE)",
        TIMESTAMP: f"{_sql(operand)} >= DATEADD('day', -30, CURRENT_TIMESTAMP)",
    }
    return f"{_what(operand, kind)} is not a condition (true or false); compare it, e.g. {examples[kind]}"


def _what(node: exp.Expression, kind: str) -> str:
    article = "an" if kind[0] in "aeiou" else "a"
    if isinstance(node, exp.Literal):
        return f"the {kind} {_sql(node)}" if kind != TEXT else f"the text {_sql(node)}"
    label = "text" if kind == TEXT else f"{article} {kind}"
    return f"`{_sql(node)}` ({label})"


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect=DIALECT)


def _never_zero(divisor: exp.Expression) -> bool:
    while isinstance(divisor, (exp.Paren, exp.Cast)):
        divisor = divisor.this
    if isinstance(divisor, exp.Literal) and not divisor.is_string:
        return float(divisor.this) != 0
    if isinstance(divisor, exp.Nullif):
        zero = divisor.expression
        return isinstance(zero, exp.Literal) and not zero.is_string and float(zero.this) == 0
    return False


def _literal_zero(node: exp.Expression) -> bool:
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    if not (isinstance(node, exp.Literal) and not node.is_string):
        return False
    try:
        return float(node.this) == 0
    except ValueError:
        return False


def _guarded_by_div0(division: exp.Div) -> bool:
    """sqlglot parses DIV0(a, b) / DIV0NULL(a, b) as IFF(b = 0 …, 0, a / b): the division never sees 0."""
    guard = division.parent
    if not isinstance(guard, exp.If) or guard.args.get("false") is not division:
        return False
    divisor = division.expression.sql(dialect=DIALECT)
    return any(
        eq.this.sql(dialect=DIALECT) == divisor and isinstance(eq.expression, exp.Literal) and eq.expression.this == "0"
        for eq in guard.this.find_all(exp.EQ)
    )
