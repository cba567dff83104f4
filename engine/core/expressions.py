"""Analyst-written SQL expressions: parsed with sqlglot (Snowflake dialect), checked, never pasted.

Only a single scalar expression is accepted: no statements, no `;`, no subqueries, no table
references, no qualified or quoted names. Compilation rebuilds SQL from the AST returned here.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from engine.core import text_facts
from engine.core.aggregate_order import explicit_listagg_delimiter
from engine.core.errors import RulectlError, did_you_mean

DIALECT = "snowflake"

# sqlglot logs "unsupported syntax, falling back to Command" warnings; rulectl reports its own errors.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_STATEMENTS = (exp.Query, exp.Drop, exp.Create, exp.Alter, exp.Insert, exp.Update, exp.Delete, exp.Merge, *(getattr(exp, n) for n in ("Grant", "TruncateTable", "Revoke") if hasattr(exp, n)), exp.DDL, exp.DML, exp.Command, exp.Use, exp.Transaction, exp.Commit, exp.Rollback, exp.Set, exp.Describe, exp.Pragma)
_FORBIDDEN_INSIDE = {
    exp.Subquery: "a subquery",
    exp.Query: "a query",
    exp.Table: "a table reference",
    exp.Exists: "EXISTS (a subquery)",
    exp.Placeholder: "a bind placeholder",
    exp.Parameter: "a session parameter",
    exp.Star: "`*`",
    exp.Lambda: "a lambda",
}


@functools.lru_cache(maxsize=1)
def _utc_now() -> exp.Expression:
    return sqlglot.parse_one("CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::TIMESTAMP_NTZ", read=DIALECT)


def utc_now() -> exp.Expression:
    """The current time in UTC as TIMESTAMP_NTZ, whatever the session's time zone.

    CURRENT_TIMESTAMP() is a TIMESTAMP_LTZ in the session's zone (America/Los_Angeles unless set);
    stored into a TIMESTAMP_NTZ column it would keep the local wall-clock time.
    https://docs.snowflake.com/en/sql-reference/functions/current_timestamp
    https://docs.snowflake.com/en/sql-reference/functions/convert_timezone (two-argument form → TIMESTAMP_LTZ
    converted to the target zone; the cast drops the offset)
    """
    return _utc_now().copy()


@functools.lru_cache(maxsize=1)
def _utc_today() -> exp.Expression:
    return sqlglot.parse_one("CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::DATE", read=DIALECT)


def utc_today() -> exp.Expression:
    """Today's date in UTC, whatever the session's time zone (CURRENT_DATE is "in the time zone for
    the session", https://docs.snowflake.com/en/sql-reference/functions/current_date). DuckDB gets
    `CAST(CURRENT_TIMESTAMP AT TIME ZONE 'UTC' AS DATE)` from sqlglot: also the UTC date."""
    return _utc_today().copy()


def utc_calendar(tree: exp.Expression) -> exp.Expression:
    """`tree` with CURRENT_DATE / CURRENT_TIMESTAMP in their UTC forms, rewritten in place.

    A deployed view is read by sessions rulectl does not open (a BI user's, in the account's
    TIMEZONE): with the UTC forms every reader gets the same date, so the same segments. A
    timestamp becomes a UTC TIMESTAMP_NTZ (the wall-clock time in UTC)."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentDate):
            return utc_today()
        if isinstance(node, exp.Localtimestamp) or (isinstance(node, exp.CurrentTimestamp) and not node.args.get("sysdate") and not isinstance(node.parent, exp.ConvertTimezone)):
            return utc_now()
        return node

    return tree.transform(fix, copy=False)


def is_utc_today(node: exp.Expression) -> bool:
    """True for `utc_today()`'s tree (rule tests replace it with their `today:`)."""
    return isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DATE) and _is_utc_now_core(node.this)


def is_utc_now(node: exp.Expression) -> bool:
    """True for `utc_now()`'s tree."""
    return isinstance(node, exp.Cast) and not node.to.is_type(exp.DataType.Type.DATE) and _is_utc_now_core(node.this)


def _is_utc_now_core(node: exp.Expression) -> bool:
    return (
        isinstance(node, exp.ConvertTimezone)
        and node.args.get("source_tz") is None
        and node.args.get("target_tz") is not None
        and node.args["target_tz"].name.upper() == "UTC"
        and isinstance(node.args.get("timestamp"), exp.CurrentTimestamp)
    )


def sf_func(name: str, *args: exp.Expression) -> exp.Expression:
    """A Snowflake function call as sqlglot's Snowflake parser would build it (e.g. TO_VARCHAR → a
    typed node, not an anonymous call), so every target transpiles it."""
    return exp.func(name, *args, dialect=DIALECT)


class ExpressionError(ValueError):
    """The text is not a single acceptable SQL expression; the message says why."""


@dataclass(frozen=True, eq=False)
class ParsedExpression:
    """A checked expression and the (lower-cased) names of the columns it reads.

    Made from a text whose facts an earlier command kept (core/text_facts.py), it answers
    `column_names`, `has_aggregate` and `has_window` from them and parses the text (with every
    check) only when `tree` is first read. Equal when the texts are: a text parses one way."""

    text: str
    parsed: exp.Expression | None = field(default=None, repr=False)
    facts: text_facts.TextFacts | None = field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParsedExpression) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    @functools.cached_property
    def tree(self) -> exp.Expression:
        if self.parsed is not None:
            return self.parsed
        try:
            return _checked_tree(self.text)
        except ExpressionError as error:  # only a hand-edited cache file says a refused text passed
            raise RulectlError(
                f"rulectl's cache says `{self.text}` passed the checks, but it does not ({error}); "
                f"delete the folder {text_facts.FACTS_FILE.parent} and run the command again"
            ) from None

    @functools.cached_property
    def column_names(self) -> tuple[str, ...]:
        # once per parsed text: validation, references, proofs and lineage each ask (~8 times a rule)
        if self.facts is not None:
            return self.facts.column_names
        seen: dict[str, None] = {}
        for column in self.tree.find_all(exp.Column):
            seen[column.name.lower()] = None
        return tuple(seen)

    @functools.cached_property
    def has_window(self) -> bool:
        if self.facts is not None:
            return self.facts.has_window
        return any(True for _ in self.tree.find_all(exp.Window))

    @functools.cached_property
    def has_aggregate(self) -> bool:
        if self.facts is not None:
            return self.facts.has_aggregate
        # NTILE and the other window scores are AggFuncs to sqlglot, but OVER (…) makes them per row
        return any(not isinstance(node.parent, exp.Window) for node in self.tree.find_all(exp.AggFunc))

    def known_facts(self) -> text_facts.TextFacts:
        """What core/text_facts.py keeps of this text."""
        return self.facts or text_facts.TextFacts(self.column_names, self.has_aggregate, self.has_window)

    def columns_outside_aggregates(self) -> list[str]:
        return [node.name.lower() for node in self._outside_aggregates() if isinstance(node, exp.Column)]

    def nested_aggregates(self) -> bool:
        outer = [node for node in self._outside_aggregates() if isinstance(node, _AGGREGATE_CALLS)]
        calls = {id(agg) for agg in outer} | {id(agg.this) for agg in outer if isinstance(agg, exp.WithinGroup)}
        return any(id(inner) not in calls for agg in outer for inner in agg.find_all(exp.AggFunc))

    def _outside_aggregates(self) -> Iterator[exp.Expression]:
        """Every node not inside an aggregate (the outermost aggregates included), in one walk that
        stops at aggregates: asking each column for an aggregate ancestor walks up the whole chain
        of a long `a + b + …`, quadratic in the number of terms."""
        return self.tree.bfs(prune=lambda node: isinstance(node, _AGGREGATE_CALLS))

    def copy(self) -> exp.Expression:
        return self.tree.copy()


# An aggregate call with its ordering: `ARRAY_AGG(x) WITHIN GROUP (ORDER BY y)` parses as a
# WithinGroup around the aggregate, and `y` is read per row like `x`.
_AGGREGATE_CALLS = (exp.AggFunc, exp.WithinGroup)


# A rule or metric is a line or two; a cap keeps a pasted megabyte from costing seconds to parse.
MAX_EXPRESSION_CHARS = 20_000


# Every step after validation walks an expression by recursion, one level (and up to three Python
# frames) per nested node: sqlglot rendering it (a chain mixing + and - failed at 330 terms,
# sqlglot 30.22), the DuckDB fixes, lint's translation to z3. Capping the nesting here keeps all of
# them far from Python's recursion limit, with room for the statement around the expression.
MAX_NESTING = 150


def nesting_depth(tree: exp.Expression) -> int:
    """How many nodes deep `tree` goes: each operator of a chain `a + b + c …` holds the one before
    it, so a chain is one level deeper per term. Counted with a stack, so any depth can be measured."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_expressions())
    return deepest


# Two quoted strings with only spaces between them (a `''` inside a string is an escaped quote).
ADJACENT_STRINGS = re.compile(r"('(?:[^']|'')*')\s+('(?:[^']|'')*')")


@functools.lru_cache(maxsize=65536)
def parse_expression(text: str) -> ParsedExpression:
    """Parse `text` as one Snowflake SQL expression; raise ExpressionError with a readable reason.

    Cached: the same text always parses the same way. Callers must `.copy()` before rewriting. A
    text an earlier command checked (core/text_facts.py) is parsed when its tree is first read.
    """
    if isinstance(text, str):
        facts = text_facts.known(text)
        if facts is not None:
            return ParsedExpression(text, facts=facts)
    return ParsedExpression(text, _checked_tree(text))


def _checked_tree(text: str) -> exp.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"the expression is {len(text):,} characters long; rulectl takes at most {MAX_EXPRESSION_CHARS:,} (split it into metrics that build on each other)")
    try:
        statements = [s for s in sqlglot.parse(text, read=DIALECT) if s is not None]
    except (ParseError, TokenError) as error:
        raise ExpressionError(_number_hint(text) or f"not valid SQL: {_first_error(error)}") from None
    except RecursionError:
        raise ExpressionError("the expression is nested too deeply (too many parentheses or operators inside each other); split it into metrics") from None
    if len(statements) != 1:
        raise ExpressionError("write a single expression; `;` and multiple statements are not allowed")
    adjacent = ADJACENT_STRINGS.search(text)
    if adjacent:  # Snowflake joins them into one string: `IN ('CA' 'NY')` would silently match 'CANY'
        raise ExpressionError(f"{adjacent.group(1)} and {adjacent.group(2)} stand side by side; put a comma between them (or || to join them)")
    tree = statements[0]
    if isinstance(tree, _STATEMENTS) and not isinstance(tree, (exp.Subquery, exp.Select)):
        raise ExpressionError(f"write an expression, not a {tree.key.upper()} statement")
    depth = nesting_depth(tree)
    if depth > MAX_NESTING:
        raise ExpressionError(
            f"the expression is nested too deeply: {depth} levels of operators, functions or parentheses inside each other "
            f"(each term of a chain like a + b + c adds one); rulectl takes at most {MAX_NESTING}. "
            "Split it into metrics that build on each other"
        )
    for node in tree.walk():
        if isinstance(node, exp.Star) and isinstance(node.parent, exp.Count):
            continue  # COUNT(*) is an ordinary aggregate
        if isinstance(node, (exp.Parameter, exp.Alias)):
            # `$150000` reads as a session parameter and `100k` as `100 AS k`: both are numbers meant
            hint = _number_hint(text)
            if hint:
                raise ExpressionError(hint)
        if isinstance(node, exp.Alias):
            raise ExpressionError(f"`{node.sql(dialect=DIALECT)}` names a result column; a rule expression needs no `AS` name")
        for kind, what in _FORBIDDEN_INSIDE.items():
            if isinstance(node, kind):
                raise ExpressionError(f"{what} is not allowed in a rule expression")
        if isinstance(node, _STATEMENTS):
            raise ExpressionError(f"a {node.key.upper()} statement is not allowed in a rule expression")
        _check_names(node)
    # Unquoted identifiers are case-insensitive in Snowflake: fold them once here, so `Total_ARR`
    # and `total_arr` compile to the same SQL and the same fingerprint.
    for column in tree.find_all(exp.Column):
        column.this.set("this", column.name.lower())
    explicit_listagg_delimiter(tree)  # Snowflake's default written out: both targets join alike
    return tree


def _check_names(node: exp.Expression) -> None:
    if isinstance(node, exp.Column):
        if node.table:
            raise ExpressionError(f"write `{node.name}` without the `{node.table}.` prefix; rulectl decides which table it comes from")
        if node.this.args.get("quoted"):
            # In SQL double quotes name a column; analysts usually mean a text value.
            raise ExpressionError(f"\"{node.name}\" in double quotes is a column name in SQL; write a text value in single quotes: '{node.name}' (or a column without quotes: {node.name})")
    if isinstance(node, exp.Dot):
        raise ExpressionError("qualified names (a.b.c) are not allowed; use plain column and metric names")
    if isinstance(node, exp.Window):
        _check_window(node)
    if isinstance(node, exp.Anonymous) and "$" in node.name:
        raise ExpressionError(f"the system function `{node.name}` is not allowed in a rule expression")
    if isinstance(node, exp.Anonymous):
        # sqlglot parses every Snowflake function it knows into a typed node it can translate for
        # DuckDB; an anonymous call is a name it does not know, which neither target may run the same
        # way (or at all). Said here, before a grain check would call it "not an aggregate".
        name = node.name.upper()
        raise ExpressionError(
            f"`{name}` is not a function rulectl knows (it compiles the Snowflake SQL functions both targets run)"
            f"{did_you_mean(name, _known_functions())}"
        )


# Window functions over the customer set that score or rank customers (RFM, quantiles). Their value
# is defined by the ordering alone; NTILE and ROW_NUMBER also need a tie-break, which compile adds
# (compile/metrics.py). https://docs.snowflake.com/en/sql-reference/functions-window
WINDOW_SCORES = {exp.Ntile: "NTILE", exp.RowNumber: "ROW_NUMBER", exp.Rank: "RANK", exp.DenseRank: "DENSE_RANK", exp.PercentRank: "PERCENT_RANK", exp.CumeDist: "CUME_DIST"}
WINDOWS_WITH_TIES = (exp.Ntile, exp.RowNumber)


def _check_window(window: exp.Window) -> None:
    if type(window.this) not in WINDOW_SCORES:
        raise ExpressionError(f"`{window.sql(dialect=DIALECT)}`: of the window functions rulectl takes the customer scores {', '.join(WINDOW_SCORES.values())} (… OVER (ORDER BY metric)); write other figures as metrics")
    if window.args.get("spec") is not None:
        raise ExpressionError(f"`{window.sql(dialect=DIALECT)}`: a window frame (ROWS/RANGE BETWEEN …) is not allowed; {WINDOW_SCORES[type(window.this)]} needs only OVER ([PARTITION BY …] ORDER BY …)")
    if window.args.get("order") is None:
        raise ExpressionError(f"`{window.sql(dialect=DIALECT)}` has no ORDER BY, so customers are scored in no particular order; write OVER (ORDER BY <metric>)")


@functools.lru_cache(maxsize=1)
def _known_functions() -> list[str]:
    """The function names sqlglot's Snowflake parser turns into typed nodes (did-you-mean candidates)."""
    from sqlglot.dialects.snowflake import Snowflake

    return sorted(name for name in Snowflake.Parser.FUNCTIONS if name.isidentifier() and not name.startswith("_"))


_QUOTED_TEXT = re.compile(r"'(?:[^']|'')*'")
_NUMBER_MISTAKES = (
    (re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([kKmMbB])\b"), lambda m: float(m[1]) * {"k": 1e3, "m": 1e6, "b": 1e9}[m[2].lower()]),
    (re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?)(?![\d,])"), lambda m: float(m[1].replace(",", ""))),
    (re.compile(r"\$\s*(\d[\d,]*(?:\.\d+)?)"), lambda m: float(m[1].replace(",", ""))),
    # digit groups split by `_` or a space (100_000, 100 000): SQL reads `100 AS _000` or two numbers
    (re.compile(r"(?<![\w.])(\d{1,3}(?:[_ ]\d{3})+)(?![\d_])"), lambda m: float(m[1].replace("_", "").replace(" ", ""))),
)


def number_in_prose(text: str) -> tuple[str, str] | None:
    """(`100k`, `100000`) when `text` holds a number written the way people write them in prose
    (units, thousands separators, a currency sign); quoted text is not looked at."""
    outside_quotes = _QUOTED_TEXT.sub(lambda m: " " * len(m[0]), text)
    for pattern, value in _NUMBER_MISTAKES:
        found = pattern.search(outside_quotes)
        if found:
            number = value(found)
            return found[0].strip(), str(int(number)) if number == int(number) else repr(number)
    return None


def _number_hint(text: str) -> str | None:
    """How to write a number, when `text` holds one written as in prose."""
    found = number_in_prose(text)
    if found is None:
        return None
    return f"`{found[0]}` is not a SQL number; write numbers as plain digits without units, commas or currency signs: {found[1]}"


def _first_error(error: Exception) -> str:
    """sqlglot's first error in an analyst's words: where it stopped, and the likely fix."""
    errors = getattr(error, "errors", None)
    if not errors:
        return str(error).splitlines()[0]
    first = errors[0]
    description = first.get("description") or str(error)
    near, before = (first.get("highlight") or "").strip(), (first.get("start_context") or "").rstrip()
    where = f" at `{near}` (character {first['col']})" if near and first.get("col") else ""
    if description.startswith("Required keyword") and near.upper() in ("AND", "OR", "NOT"):
        return f"`{near}` at the end has nothing after it; finish the condition or remove `{near}`"
    if description.startswith("Expecting )"):
        return f"a `(` is not closed{where}; add the missing `)`"
    if near == "&&" or near == "||" and "Invalid" in description:
        return f"`{near}` is not SQL's AND; write AND (or OR)"
    if description.startswith("Invalid expression / Unexpected token"):
        return f"rulectl could not read the expression{where}" + (f", after `{before[-30:]}`" if before else "") + "; check for a missing operator, comma or quote"
    if description.startswith("Required keyword"):
        return f"the expression is incomplete{where}"
    return description + where
