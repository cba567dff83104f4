"""How each input value is written into a prompt's data block: dates by an explicit pattern, numbers
by the metric's `format:` / `decimals:` or the declared column type, the same text on both targets.

The text is what the input hash is made of, so it must depend on the value alone: not on the SQL
type an expression happens to have (`SUM(amount)` is NUMBER(38,2), `SUM(amount * rate)` NUMBER(38,8)
and prints `15085.88640000`), not on the engine (DuckDB prints a DOUBLE as `0.06666666666666667`,
Snowflake's TO_VARCHAR of a FLOAT differently), not on a session's output format. So a number is
cast to a fixed-point NUMBER(38, 12) first (exact from there on, and the same on both engines),
rounded half away from zero to its decimals, cast to NUMBER(38, decimals) — whose TO_VARCHAR both
engines write as plain digits — and, unless it is an amount of money, written with the fewest of
those decimals that hold it exactly: 12.50 → 12.5, 3.00 → 3, whatever type produced it.
https://docs.snowflake.com/en/sql-reference/functions/round (half away from zero for NUMBER),
https://docs.snowflake.com/en/sql-reference/functions/to_char (a NUMBER with no format: its digits).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlglot import exp

from engine.config.expression_types import DATE, NUMBER, TIMESTAMP
from engine.config.project import LoadedProject, spine_name
from engine.config.type_checks import input_view_types
from engine.config.value_formats import CURRENCY_SIGNS, DEFAULT_DECIMALS, MAX_DECIMALS, PERCENT_DECIMALS, currency_decimals
from engine.core.expressions import parse_expression, sf_func

# https://docs.snowflake.com/en/sql-reference/functions/to_char (a date or timestamp with a format
# ignores DATE_OUTPUT_FORMAT / TIMESTAMP_OUTPUT_FORMAT); the DuckDB backend maps them to strftime.
DATE_FORMAT, TIMESTAMP_FORMAT = "YYYY-MM-DD", "YYYY-MM-DD HH24:MI:SS"

EXACT_SCALE = 12  # digits kept when a FLOAT becomes fixed-point, before rounding to the decimals


@dataclass(frozen=True)
class NumberFormat:
    """How one number input is written: rounded to `decimals`; a ratio as a percent; an amount of
    money with its currency's sign (or code) and fixed decimals."""

    decimals: int
    percent: bool = False
    currency: str | None = None  # ISO 4217 code: an amount of money

    def __str__(self) -> str:
        """Stable text for fingerprints: `number(2)`, `percent(1)`, `currency(2,EUR)`."""
        kind = "percent" if self.percent else "currency" if self.currency else "number"
        return f"{kind}({self.decimals}{',' + self.currency if self.currency else ''})"

    def example(self, value: float) -> str:
        """The text the compiled SQL writes for `value` (documentation and tests of the rule)."""
        from decimal import ROUND_HALF_UP, Decimal

        number = Decimal(repr(value)) * (100 if self.percent else 1)
        text = str(number.quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_UP))
        text = "0" + text[2:] if text.startswith("-0") and set(text) <= set("-0.") else text  # fixed-point has no -0
        if self.currency is None and self.decimals:
            text = text.rstrip("0").rstrip(".")
        if self.percent:
            return text + "%"
        if self.currency is None:
            return text
        sign = CURRENCY_SIGNS.get(self.currency)
        if sign is None:
            return f"{text} {self.currency}"
        return f"-{sign}{text[1:]}" if text.startswith("-") else f"{sign}{text}"


InputFormat = str | NumberFormat  # a TO_CHAR pattern for a date or timestamp, or a NumberFormat


def format_settings(formats: tuple[tuple[str, InputFormat], ...]) -> list[list[str]]:
    """`formats` as JSON-ready text for a fingerprint (a date pattern is its own text)."""
    return [[field, str(fmt)] for field, fmt in formats]


def input_formats(loaded: LoadedProject) -> dict[str, InputFormat]:
    """Input columns (spine columns and metrics) → how they enter a data block; text and unknown
    types are left out (TO_VARCHAR of text is the text)."""
    kinds = input_view_types(loaded)
    metrics = {located.item.name.lower(): located.item for located in loaded.metrics}
    columns = {name.lower(): type_text for name, type_text in loaded.config.sources[spine_name(loaded)].columns.items()}
    size = loaded.config.display.size
    whole_metrics = whole_number_metrics(loaded)
    formats: dict[str, InputFormat] = {}
    for name, kind in kinds.items():
        if kind in (DATE, TIMESTAMP):
            formats[name] = DATE_FORMAT if kind == DATE else TIMESTAMP_FORMAT
        elif kind == NUMBER and name in metrics:
            metric = metrics[name]
            sized = size if size is not None and size.metric.lower() == name else None
            fmt = metric.format or (sized.format if sized else None) or "number"
            code = (metric.currency or (sized.currency if sized and sized.format == "currency" else None) or "USD").upper()
            whole = fmt == "number" and metric.decimals is None and name in whole_metrics
            formats[name] = NumberFormat(0) if whole else number_format(fmt, metric.decimals, code)
        elif kind == NUMBER:
            formats[name] = NumberFormat(_declared_scale(columns.get(name, "")))
    return formats


def whole_number_metrics(loaded: LoadedProject) -> frozenset[str]:
    """Metrics whose every value is a whole number by construction — counts, DATEDIFF, sums, minima
    and maxima of integer columns, and their sums, differences and products — written without the
    default decimals (only a shorter SQL: a whole number never shows decimals either way)."""
    metrics = {located.item.name.lower(): located.item for located in loaded.metrics}
    spine = {name.lower(): _declared_scale(kind) == 0 for name, kind in loaded.config.sources[spine_name(loaded)].columns.items()}
    whole: dict[str, bool] = {}
    by_source: dict[str, dict[str, bool]] = {}

    def whole_columns(source_name: str) -> dict[str, bool]:
        """Per source, once: its columns → whether each holds whole numbers only."""
        if source_name not in by_source:
            source = loaded.config.sources.get(source_name)
            by_source[source_name] = {c.lower(): _declared_scale(k) == 0 for c, k in source.columns.items()} if source else {}
        return by_source[source_name]

    def of_metric(name: str) -> bool:
        if name not in metrics:
            return False
        if name not in whole:
            whole[name] = False  # a cycle is not whole (and is a validate error)
            metric = metrics[name]
            if metric.source is None:  # derived: reads spine columns and other metrics
                whole[name] = _whole(parse_expression(metric.expr).tree, spine, of_metric)
            else:  # a declared source's columns; a derived source (`<source>_sentiment`) declares none
                whole[name] = _whole(parse_expression(metric.expr).tree, whole_columns(metric.source), None)
        return whole[name]

    return frozenset(name for name in metrics if of_metric(name))


_KEEPS_WHOLE = (exp.Paren, exp.Sum, exp.Min, exp.Max, exp.Abs, exp.Neg)
_WHOLE_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul)


def _whole(node: exp.Expression, columns: dict[str, bool], metric_is_whole) -> bool:
    if isinstance(node, (exp.Count, exp.CountIf, exp.DateDiff)):
        return True
    if isinstance(node, exp.Literal):
        return not node.is_string and node.this.lstrip("-").isdigit()
    if isinstance(node, exp.Column):
        name = node.name.lower()
        if name in columns:
            return columns[name]
        return metric_is_whole is not None and metric_is_whole(name)
    if isinstance(node, _KEEPS_WHOLE):
        return _whole(node.this, columns, metric_is_whole)
    if isinstance(node, _WHOLE_ARITHMETIC):
        return _whole(node.this, columns, metric_is_whole) and _whole(node.expression, columns, metric_is_whole)
    if isinstance(node, exp.Coalesce):
        return all(_whole(arg, columns, metric_is_whole) for arg in (node.this, *node.expressions))
    return False


def number_format(fmt: str, decimals: int | None, currency: str = "USD") -> NumberFormat:
    """The NumberFormat a `format:` / `decimals:` pair asks for (their defaults filled in)."""
    if fmt == "percent":
        return NumberFormat(PERCENT_DECIMALS if decimals is None else decimals, percent=True)
    if fmt == "currency":
        return NumberFormat(currency_decimals(currency) if decimals is None else decimals, currency=currency.upper())
    return NumberFormat(DEFAULT_DECIMALS if decimals is None else decimals)


@functools.lru_cache(maxsize=1024)
def _declared_scale(type_text: str) -> int:
    """A column's declared scale: number(12,2) → 2, integer / number → 0, float → the default.
    Memoised: parsing a type name costs ~0.1 ms, and it is asked per metric for each column of its source."""
    try:
        data_type = exp.DataType.build(type_text, dialect="snowflake")
    except Exception:  # an invalid type is reported by the source checks
        return DEFAULT_DECIMALS
    if data_type.is_type(*exp.DataType.INTEGER_TYPES):
        return 0
    if data_type.is_type(exp.DataType.Type.DECIMAL):
        # NUMBER without a scale is NUMBER(38, 0) https://docs.snowflake.com/en/sql-reference/data-types-numeric
        return min(int(data_type.expressions[1].name), MAX_DECIMALS) if len(data_type.expressions) > 1 else 0
    return DEFAULT_DECIMALS


def value_text(column: exp.Expression, fmt: InputFormat | None) -> exp.Expression:
    """`column` as text by its format; NULL stays NULL (the data block writes n/a)."""
    if isinstance(fmt, NumberFormat):
        return number_text(column, fmt)
    if fmt:
        return exp.ToChar(this=column, format=exp.Literal.string(fmt))
    return sf_func("TO_VARCHAR", column)


def number_text(column: exp.Expression, fmt: NumberFormat) -> exp.Expression:
    """The SQL that writes a number as `fmt` says, the same text on DuckDB and Snowflake."""
    exact: exp.Expression = exp.Cast(this=column, to=exp.DataType.build(f"NUMBER(38, {EXACT_SCALE})", dialect="snowflake"))
    if fmt.percent:
        exact = exp.Mul(this=exact, expression=exp.Literal.number(100))
    rounded = exp.Cast(
        this=exp.Round(this=exact, decimals=exp.Literal.number(fmt.decimals)),
        to=exp.DataType.build(f"NUMBER(38, {fmt.decimals})", dialect="snowflake"),
    )
    if fmt.currency is not None:
        return _money(rounded, fmt.currency)
    text = _fewest_decimals(rounded, fmt.decimals)
    return exp.DPipe(this=text, expression=exp.Literal.string("%"), safe=True) if fmt.percent else text


def _fewest_decimals(rounded: exp.Expression, decimals: int) -> exp.Expression:
    """12.50 → 12.5, 3.00 → 3: the value decides the digits, not the scale of the type that held it.
    Written with numbers (the fewest decimals that hold the value exactly), not by trimming zeros
    off text, so no engine's string functions are involved."""
    def at(scale: int) -> exp.Expression:
        return exp.Cast(this=rounded.copy(), to=exp.DataType.build(f"NUMBER(38, {scale})", dialect="snowflake"))

    if decimals == 0:
        return sf_func("TO_VARCHAR", rounded)
    ifs = [exp.If(this=exp.EQ(this=rounded.copy(), expression=at(scale)), true=sf_func("TO_VARCHAR", at(scale))) for scale in range(decimals)]
    return exp.Case(ifs=ifs, default=sf_func("TO_VARCHAR", rounded))


def _money(rounded: exp.Expression, code: str) -> exp.Expression:
    """-$1200.50 / $1200.50 for a currency with a sign, 1200.50 CHF for any other code."""
    sign = CURRENCY_SIGNS.get(code)
    if sign is None:
        return exp.DPipe(this=sf_func("TO_VARCHAR", rounded), expression=exp.Literal.string(f" {code}"), safe=True)
    negative = exp.LT(this=rounded.copy(), expression=exp.Literal.number(0))
    minus = exp.If(this=negative, true=exp.Literal.string("-" + sign))
    signed = exp.Case(ifs=[minus], default=exp.Literal.string(sign))
    return exp.DPipe(this=signed, expression=sf_func("TO_VARCHAR", exp.Abs(this=rounded.copy())), safe=True)
