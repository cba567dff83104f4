"""rulectl's own AST fixes where sqlglot's Snowflake → DuckDB output differs from Snowflake semantics.

Each fix is a plain function (Snowflake-dialect AST in, AST out) listed in DUCKDB_FIXES, like
sqlglot's optimizer RULES. They run on a copy of the compiled statement, before DuckDB SQL is
generated, and only in the DuckDB backend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

Fix = Callable[[exp.Expression, "FixContext"], exp.Expression]
DATE_UNITS = {"DAY", "DAYS", "WEEK", "WEEKS", "MONTH", "MONTHS", "QUARTER", "QUARTERS", "YEAR", "YEARS"}


class FixContext:
    """What fixes may need to know beyond the AST: which column names hold DATE values, and the
    scale of the columns declared as fixed-point numbers (integers have scale 0)."""

    def __init__(
        self,
        date_columns: frozenset[str] = frozenset(),
        complete_function: str = "rulectl_complete",
        fixed_point_scales: Mapping[str, int] | None = None,
    ):
        self.date_columns = date_columns
        self.complete_function = complete_function
        self.fixed_point_scales = dict(fixed_point_scales or {})

    def cache_key(self) -> tuple:
        """Everything here that a fix reads, hashable (computed per call: the scales are filled in
        after construction)."""
        # every render asks: the sorted scales are kept until they change (a dict compare is ~50×
        # cheaper than sorting a thousand metrics' scales again)
        if getattr(self, "_scales_seen", None) != self.fixed_point_scales:
            self._scales_seen = dict(self.fixed_point_scales)
            self._sorted_scales = tuple(sorted(self.fixed_point_scales.items()))
        return (frozenset(self.date_columns), self.complete_function, self._sorted_scales)

    def kept_key(self) -> str:
        """`cache_key` as text that is the same in every process, with rulectl's code stamp (the
        fixes are rulectl's code): the settings under which renderings are kept across commands."""
        from engine.core.project_cache import code_stamp

        key = (self.cache_key(), code_stamp())
        if getattr(self, "_kept_key", (None, None))[0] != key:
            text = json.dumps([sorted(self.date_columns), self.complete_function, self._sorted_scales, key[1]], default=str)
            self._kept_key = (key, "duckdb:" + hashlib.sha256(text.encode()).hexdigest())
        return self._kept_key[1]


def _is_date(node: exp.Expression, context: FixContext) -> bool:
    if isinstance(node, exp.CurrentDate):
        return True
    if isinstance(node, (exp.Cast, exp.TryCast)) and node.to.is_type(exp.DataType.Type.DATE):
        return True
    if isinstance(node, (exp.TsOrDsToDate, exp.StrToDate, exp.Date)):
        return True
    if isinstance(node, (exp.Paren, exp.Min, exp.Max, exp.AnyValue)):  # the earliest, latest or any date is a date
        return _is_date(node.this, context)
    if isinstance(node, (exp.Add, exp.Sub)):  # a date plus or minus days is a date (a date minus a date is not)
        return _is_date(node.this, context) and not _is_date(node.expression, context)
    return isinstance(node, exp.Column) and node.name.lower() in context.date_columns


def keep_date_type(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """DATEADD/DATE_TRUNC on a DATE return a DATE in Snowflake but a TIMESTAMP in DuckDB.

    https://docs.snowflake.com/en/sql-reference/functions/dateadd (returns DATE for a DATE input
    and a date part of day or larger); DuckDB `date + INTERVAL` and `date_trunc` give TIMESTAMP.
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, (exp.DateAdd, exp.DateTrunc, exp.TimestampTrunc)):
            unit = (node.unit.name if node.args.get("unit") is not None else "").upper()
            if unit in DATE_UNITS and _is_date(node.this, context) and not isinstance(node.parent, exp.Cast):
                return exp.cast(node.copy(), exp.DataType.Type.DATE)
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def object_construct_drops_nulls(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """OBJECT_CONSTRUCT omits keys whose value is NULL; DuckDB's struct keeps them as null.

    https://docs.snowflake.com/en/sql-reference/functions/object_construct — a JSON merge patch
    onto '{}' removes null members, giving the same object.
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Struct) and not isinstance(node.parent, exp.Anonymous):
            as_json = exp.Anonymous(this="TO_JSON", expressions=[node.copy()])
            return exp.Anonymous(this="JSON_MERGE_PATCH", expressions=[exp.Literal.string("{}"), as_json])
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def lateral_flatten_to_unnest(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """`, LATERAL FLATTEN(input => x) f` → `CROSS JOIN UNNEST(x) AS f(value)`.

    sqlglot renders the Snowflake form as an invalid `, CROSS JOIN UNNEST(input => …)` for DuckDB.
    Only `f.value` is supported, which is all rulectl's own queries use.
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Join) and isinstance(node.this, exp.Lateral) and isinstance(node.this.this, exp.Explode):
            lateral = node.this
            argument = lateral.this.this
            if isinstance(argument, exp.Kwarg):
                argument = argument.expression
            alias = lateral.args.get("alias")
            name = alias.name if alias else "f"
            unnest = exp.Unnest(
                expressions=[argument.copy()],
                alias=exp.TableAlias(this=exp.to_identifier(name), columns=[exp.to_identifier("value")]),
            )
            return exp.Join(this=unnest, kind="CROSS")
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def unqualify_merge_update_targets(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """Snowflake accepts `UPDATE SET t.col = …` in MERGE; DuckDB wants the bare column name."""
    for merge in tree.find_all(exp.Merge):
        for update in merge.find_all(exp.Update):
            for assignment in update.expressions:
                target = assignment.this
                if isinstance(target, exp.Column) and target.table:
                    assignment.set("this", exp.column(target.name))
    return tree


def array_construct_compact_without_arrow_lambda(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """ARRAY_CONSTRUCT_COMPACT(…) → LIST_FILTER([…], lambda x: x IS NOT NULL).

    sqlglot would write the deprecated `x -> …` lambda, which DuckDB 2 rejects; writing the call
    here keeps its own rulectl_x name (DuckDB2 below writes sqlglot's lambdas in the same form).
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.ArrayConstructCompact):
            values = exp.Array(expressions=[e.copy() for e in node.expressions])
            return exp.Anonymous(this="LIST_FILTER", expressions=[values, exp.var("lambda rulectl_x: rulectl_x IS NOT NULL")])
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def variant_cast_is_identity(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """`x::VARIANT` (e.g. the value argument of ARRAY_CONTAINS) has no DuckDB type to cast to; DuckDB's
    lists and JSON take the value as it is."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.VARIANT):
            return node.this.copy()
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def hex_to_number(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """TO_NUMBER(hex, 'XXXXXXXX') → CAST('0x' || hex AS BIGINT); sqlglot turns it into a DOUBLE cast.

    https://docs.snowflake.com/en/sql-reference/sql-format-models (X: hexadecimal digit).
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.ToNumber):
            fmt = node.args.get("format")
            if isinstance(fmt, exp.Literal) and set(fmt.this.upper()) == {"X"}:
                return exp.cast(exp.DPipe(this=exp.Literal.string("0x"), expression=node.this.copy()), "BIGINT")
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def cortex_complete_to_local_function(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """AI_COMPLETE(model => …, prompt => …, model_parameters => …, response_format => …,
    show_details => TRUE) → the local provider's function `rulectl_complete(model, system, prompt,
    options_json)` registered on the connection; the options JSON holds the model parameters and the
    response_format. The prompt compile built as system text, a blank line, the prompt is split
    again (local providers take a system message).

    It answers like AI_COMPLETE with show_details (choices[0].messages and usage), or NULL when the
    call failed, as AI_COMPLETE does: https://docs.snowflake.com/en/sql-reference/functions/ai_complete
    """
    from engine.compile.prompts import split_prompt_argument

    parameters = ("model", "prompt", "model_parameters", "response_format", "show_details")

    def fix(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Anonymous) and node.name.upper() == "AI_COMPLETE"):
            return node
        named: dict[str, exp.Expression] = {}
        for position, argument in enumerate(node.expressions):
            if isinstance(argument, exp.Kwarg):
                named[argument.this.name.lower()] = argument.expression
            elif position < len(parameters):
                named[parameters[position]] = argument
        system, user = split_prompt_argument(named["prompt"])
        options = _literal_object(named.get("model_parameters"))
        if "response_format" in named:
            options["response_format"] = _literal_object(named["response_format"])
        arguments = [named["model"].copy(), (system or exp.Literal.string("")).copy(), user.copy(), exp.Literal.string(json.dumps(options, sort_keys=True))]
        return exp.Anonymous(this=context.complete_function, expressions=arguments)

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def cortex_sentiment_to_local_function(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """AI_SENTIMENT(text) → `rulectl_sentiment(text)`, the local analyser registered on the connection
    (ai/local_sentiment.py): AI_SENTIMENT's OBJECT as JSON text, {"categories": [{"name": "overall",
    "sentiment": "positive" | "negative" | "neutral"}]}, NULL on no text.
    https://docs.snowflake.com/en/sql-reference/functions/ai_sentiment (Returns)
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.upper() == "AI_SENTIMENT":
            return exp.Anonymous(this=SENTIMENT_FUNCTION, expressions=[argument.copy() for argument in node.expressions[:1]])
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


SENTIMENT_FUNCTION = "rulectl_sentiment"  # = engine.ai.local_sentiment.FUNCTION_NAME (backends do not import ai)
EMBED_FUNCTION = "rulectl_embed"  # = engine.ai.local_embed.FUNCTION_NAME


def cortex_embed_to_local_function(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """AI_EMBED(model, text) → `rulectl_embed(model, text)`, the local embedder registered on the
    connection (ai/local_embed.py): a FLOAT list, NULL when the call failed.
    https://docs.snowflake.com/en/sql-reference/functions/ai_embed"""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.AIEmbed) or (isinstance(node, exp.Anonymous) and node.name.upper() == "AI_EMBED"):
            return exp.Anonymous(this=EMBED_FUNCTION, expressions=[argument.copy() for argument in node.expressions])
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def vector_is_a_float_list(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """VECTOR(FLOAT, n) → FLOAT[] (sqlglot writes `VECTOR(DOUBLE, n)`, which DuckDB does not have).
    A list, not FLOAT[n]: a local embedding endpoint's models differ in dimension, and rows of two
    models are never compared (search filters on the model).
    https://docs.snowflake.com/en/sql-reference/data-types-vector"""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.VECTOR:
            return exp.DataType(this=exp.DataType.Type.ARRAY, expressions=[exp.DataType.build("FLOAT")], nested=True)
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def cosine_similarity_is_not_a_distance(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """VECTOR_COSINE_SIMILARITY → list_cosine_similarity. sqlglot 30 reads Snowflake's function as a
    cosine *distance* and writes DuckDB's LIST_COSINE_DISTANCE (1 − similarity): nearest would rank
    last. https://docs.snowflake.com/en/sql-reference/functions/vector_cosine_similarity
    https://duckdb.org/docs/stable/sql/functions/list#list_cosine_similaritylist1-list2"""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CosineDistance) or (isinstance(node, exp.Anonymous) and node.name.upper() == "VECTOR_COSINE_SIMILARITY"):
            arguments = [node.this, node.expression] if isinstance(node, exp.CosineDistance) else node.expressions
            return exp.Anonymous(this="list_cosine_similarity", expressions=[argument.copy() for argument in arguments])
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def _literal_object(node: exp.Expression | None) -> dict:
    """An OBJECT_CONSTRUCT of literals as a Python dict (nested objects and arrays included:
    `response_format` carries a JSON schema); {} for anything else."""
    from engine.compile.structured_outputs import literal_value

    value = literal_value(node) if node is not None else None
    return value if isinstance(value, dict) else {}


def untyped_array_is_a_text_list(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """Snowflake's ARRAY holds any values; rulectl stores only lists of text in it (match-all labels,
    list output fields). DuckDB needs an element type: ARRAY → VARCHAR[] (in DDL and casts; a JSON
    array casts to VARCHAR[] element by element)."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.ARRAY and not node.expressions:
            return exp.DataType.build("VARCHAR[]", dialect="duckdb")
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def variant_text_is_unquoted(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """`json:path::VARCHAR` gives the bare string in Snowflake; DuckDB's CAST(json AS TEXT) keeps the
    JSON quotes. Extract as text (`->>`) instead."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.JSONExtract) and node.to.is_type(*exp.DataType.TEXT_TYPES):
            extract = node.this
            return exp.JSONExtractScalar(this=extract.this.copy(), expression=extract.expression.copy())
        return node

    return _rewrite(tree, fix)  # apply_fixes copied the tree once


def division_by_zero_fails(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """`a / b` fails the whole query when b is 0 in Snowflake ("Division by zero"); DuckDB returns
    inf or NaN, and NaN sorts above every number, so a customer with a zero divisor would land in
    the top segment locally and break the view in production. Raise the same error instead.

    https://docs.snowflake.com/en/sql-reference/operators-arithmetic (`/`; DIV0 and DIV0NULL are
    the forms that return 0). A NULL dividend gives NULL, as every arithmetic operator on NULL does,
    so the error needs a non-NULL dividend. DIV0/DIV0NULL reach here as IFF(b = 0 …, 0, a / b), whose
    division never sees a zero, so the guard never fires for them.
    """
    for division in list(tree.find_all(exp.Div)):
        divisor = division.expression
        if _never_zero(divisor):
            continue
        zero_with_value = exp.and_(exp.EQ(this=divisor.copy(), expression=exp.Literal.number(0)), exp.Not(this=exp.Is(this=division.this.copy(), expression=exp.null())))
        fail = exp.Anonymous(this="error", expressions=[exp.Literal.string("Division by zero")])
        division.set("expression", exp.Case(ifs=[exp.If(this=zero_with_value, true=fail)], default=divisor.copy()))
    return tree


def _never_zero(divisor: exp.Expression) -> bool:
    """A non-zero number, or NULLIF(x, 0): nothing to guard."""
    if isinstance(divisor, exp.Literal) and not divisor.is_string:
        return float(divisor.this) != 0
    zero = divisor.expression if isinstance(divisor, exp.Nullif) else None
    return isinstance(zero, exp.Literal) and not zero.is_string and float(zero.this) == 0


def division_keeps_snowflake_scale(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """Snowflake divides fixed-point numbers to scale max(S1, min(S1 + 6, 12)), S1 the dividend's
    scale: 1 / 3 = 0.333333 and 7 / 4 = 1.750000. DuckDB divides in DOUBLE (0.3333333333333333), so
    a threshold such as `>= 0.333333` would split customers differently. Round to Snowflake's scale
    where both operands are known fixed-point numbers (source columns, counts, number literals).

    https://docs.snowflake.com/en/sql-reference/operators-arithmetic (Scale and precision: Division)
    """
    for division in list(tree.find_all(exp.Div)):
        dividend_scale = fixed_point_scale(division.this, context)
        if dividend_scale is None or fixed_point_scale(division.expression, context) is None:
            continue  # a FLOAT, or a value whose type this pass cannot see: DuckDB's DOUBLE matches
        scale = max(dividend_scale, min(dividend_scale + 6, 12))
        rounded = exp.Round(this=division.copy(), decimals=exp.Literal.number(scale))
        division.replace(rounded)
    return tree


# Expressions whose result is one of their values: its type is the values' common type.
CHOOSES_A_VALUE = (exp.Case, exp.If, exp.Coalesce, exp.Least, exp.Greatest)


def _chosen_values(node: exp.Expression) -> list[exp.Expression]:
    """The values a CHOOSES_A_VALUE node can give (not its conditions)."""
    if isinstance(node, exp.Case):
        values = [branch.args.get("true") for branch in node.args.get("ifs") or []] + [node.args.get("default")]
    elif isinstance(node, exp.If):
        values = [node.args.get("true"), node.args.get("false")]
    else:
        values = [node.this, *node.expressions]
    return [value for value in values if value is not None]


def fixed_point_scale(node: exp.Expression, context: FixContext) -> int | None:
    """The scale Snowflake gives `node` when it is a fixed-point number, else None (FLOAT or unknown)."""
    if isinstance(node, exp.Literal) and not node.is_string:
        return None if "e" in node.this.lower() else len(node.this.partition(".")[2])
    if isinstance(node, exp.Column):
        return context.fixed_point_scales.get(node.name.lower())
    if isinstance(node, (exp.Count, exp.CountIf)):
        return 0
    if isinstance(node, (exp.Cast, exp.TryCast)):  # CAST(x AS NUMBER(p, s)): the type says it
        to = node.to
        if to.is_type(*exp.DataType.INTEGER_TYPES):
            return 0
        if to.is_type(exp.DataType.Type.DECIMAL):
            return int(to.expressions[1].name) if len(to.expressions) > 1 else 0
        return None
    if isinstance(node, (exp.Paren, exp.Sum, exp.Min, exp.Max, exp.Neg, exp.Abs, exp.AnyValue, exp.Nullif, exp.Window)):
        return fixed_point_scale(node.this, context)
    if isinstance(node, exp.Median):  # three more decimals (median_keeps_its_fraction)
        scale = fixed_point_scale(node.this, context)
        return None if scale is None else min(scale + 3, 37)
    if isinstance(node, CHOOSES_A_VALUE):  # the largest of its values' scales
        scales = [fixed_point_scale(value, context) for value in _chosen_values(node) if not isinstance(value, exp.Null)]
        return None if not scales or None in scales else max(scales)  # type: ignore[type-var]
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        left, right = fixed_point_scale(node.this, context), fixed_point_scale(node.expression, context)
        if left is None or right is None:
            return None
        if isinstance(node, exp.Mul):
            return min(left + right, max(left, right, 12))
        if isinstance(node, exp.Div):
            return max(left, min(left + 6, 12))
        return max(left, right)
    return None


def to_char_with_format(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """TO_CHAR(date_or_timestamp, 'YYYY-MM-DD…') formats by its pattern in Snowflake; sqlglot writes
    a bare CAST AS TEXT for DuckDB (dropping the format), so the text would follow DuckDB's default.
    Write STRFTIME with the pattern translated by sqlglot's Snowflake time mapping.

    https://docs.snowflake.com/en/sql-reference/functions/to_char
    """
    from sqlglot.dialects.snowflake import Snowflake

    for to_char in list(tree.find_all(exp.ToChar)):
        pattern = to_char.args.get("format")
        if isinstance(pattern, exp.Literal) and pattern.is_string:
            to_char.replace(exp.TimeToStr(this=to_char.this.copy(), format=Snowflake.format_time(pattern)))
    return tree


def listagg_of_nulls_is_empty(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """LISTAGG returns a string of the group's non-NULL values, so a group whose values are all NULL
    gives '' in Snowflake; DuckDB's string_agg gives NULL. (A customer with no rows at all still gets
    NULL from the join, on both.) https://docs.snowflake.com/en/sql-reference/functions/listagg
    """
    for listagg in list(tree.find_all(exp.GroupConcat)):
        if not isinstance(listagg.parent, exp.Coalesce):
            listagg.replace(exp.Coalesce(this=listagg.copy(), expressions=[exp.Literal.string("")]))
    return tree


# The arguments DuckDB takes as an INTEGER where Snowflake takes any NUMBER: lengths, counts,
# positions and character codes (LPAD/RPAD, LEFT/RIGHT, REPEAT, SUBSTR, CHR).
INTEGER_ARGUMENTS: dict[type[exp.Expression], tuple[str, ...]] = {
    exp.Pad: ("expression",), exp.Left: ("expression",), exp.Right: ("expression",),
    exp.Repeat: ("times",), exp.Substring: ("start", "length"), exp.Chr: ("expressions",),
}


def whole_numbers_where_duckdb_wants_integers(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """A whole NUMBER (a `number` column is DECIMAL(38,0) here) given where DuckDB's function takes an
    INTEGER: DuckDB has no DECIMAL overload ("No function matches the given name and argument
    types"), Snowflake takes any NUMBER. Cast to INTEGER: a length, position, count, character code
    or a number of days added to a date (`renewal_date + grace_days`). A declared `integer` column
    is one already (the cast is then a no-op); literals are left as written.
    https://docs.snowflake.com/en/sql-reference/functions/lpad (and left, repeat, substr, chr),
    https://docs.snowflake.com/en/sql-reference/operators-arithmetic (date + integer)."""

    def whole(node: exp.Expression) -> bool:
        return not isinstance(node, exp.Literal) and fixed_point_scale(node, context) == 0

    def as_integer(node: exp.Expression) -> exp.Expression:
        return exp.cast(node.copy(), exp.DataType.Type.INT) if whole(node) else node

    def fix(node: exp.Expression) -> exp.Expression:
        if type(node) in INTEGER_ARGUMENTS:
            names = INTEGER_ARGUMENTS[type(node)]
            if not any(whole(arg) for name in names for arg in _as_list(node.args.get(name))):
                return node
            fixed = node.copy()
            for name in names:
                value = fixed.args.get(name)
                fixed.set(name, [as_integer(arg) for arg in value] if isinstance(value, list) else as_integer(value) if value is not None else None)
            return fixed
        if isinstance(node, (exp.Add, exp.Sub)) and _is_date(node.this, context) and whole(node.expression):
            return node.__class__(this=node.this.copy(), expression=as_integer(node.expression))
        if isinstance(node, exp.Add) and _is_date(node.expression, context) and whole(node.this):
            return exp.Add(this=as_integer(node.this), expression=node.expression.copy())
        return node

    return _rewrite_bottom_up(tree, (*INTEGER_ARGUMENTS, exp.Add, exp.Sub), fix)


def _rewrite_bottom_up(tree: exp.Expression, classes: tuple[type[exp.Expression], ...], fix: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """Like `_rewrite`, innermost nodes first: sqlglot's `transform` does not visit the children of a
    node it replaced, so `LPAD(LEFT(s, n), …)` kept its inner LEFT unfixed. Counted as `_rewrite` does."""
    for node in reversed(list(tree.find_all(*classes))):  # pre-order reversed: every node after its descendants
        new = fix(node)
        if new is not node:
            _Rewrites.count += 1
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def mixed_scales_keep_the_largest(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """The results of CASE / IFF / COALESCE / LEAST / GREATEST whose values are fixed-point numbers of
    different scales: Snowflake gives the result the largest scale, so `IFF(n > 1, n, 0.5)` is 0.5
    for n = 1; DuckDB's common type of DECIMAL(38,0) and DECIMAL(2,1) keeps scale 0 (it has no room
    for 39 digits) and gives 1. Each value is cast to DECIMAL(38, largest scale) first.
    https://docs.snowflake.com/en/sql-reference/data-types-numeric (fixed-point precision and scale)"""

    def fix(node: exp.Expression) -> exp.Expression:
        found = _chosen_values(node)
        if any(value.find(exp.Div) for value in found):  # DuckDB divides in DOUBLE: the common type is DOUBLE, no scale lost
            return node
        scales = [fixed_point_scale(value, context) for value in found if not isinstance(value, exp.Null)]
        if len(scales) < 2 or None in scales or len(set(scales)) == 1:
            return node
        target = exp.DataType.build(f"DECIMAL(38, {max(scales)})")  # type: ignore[type-var]
        widened = node.copy()
        for value in _chosen_values(widened):  # the copy's values, in the same order
            if not isinstance(value, exp.Null):
                value.replace(exp.cast(value.copy(), target.copy()))
        return widened

    return _rewrite_bottom_up(tree, CHOOSES_A_VALUE, fix)


def median_keeps_its_fraction(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """MEDIAN of a fixed-point number: Snowflake returns it with three more decimals (the median of
    1 and 2 is 1.500; Snowpark's MEDIAN of 1, 3, 10, 1, 3 shows Decimal('3.000')); DuckDB keeps the
    input's scale, so the median of 1 and 2 in a `number` column was 1. Its argument is cast to
    DECIMAL(38, scale + 3) first. https://docs.snowflake.com/en/sql-reference/functions/median"""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Median):
            scale = fixed_point_scale(node.this, context)
            if scale is not None:
                return exp.Median(this=exp.cast(node.this.copy(), exp.DataType.build(f"DECIMAL(38, {min(scale + 3, 37)})")))
        return node

    return _rewrite_bottom_up(tree, (exp.Median,), fix)


DUCKDB_FIXES: tuple[Fix, ...] = (
    cortex_complete_to_local_function,  # first: it reads the OBJECT_CONSTRUCT messages as written
    cortex_sentiment_to_local_function,
    cortex_embed_to_local_function,
    vector_is_a_float_list,
    cosine_similarity_is_not_a_distance,
    variant_text_is_unquoted,
    keep_date_type,
    object_construct_drops_nulls,
    lateral_flatten_to_unnest,
    unqualify_merge_update_targets,
    hex_to_number,
    array_construct_compact_without_arrow_lambda,
    variant_cast_is_identity,
    whole_numbers_where_duckdb_wants_integers,  # before division's rounding: it reads the written types
    mixed_scales_keep_the_largest,
    median_keeps_its_fraction,
    division_keeps_snowflake_scale,  # before the zero guard, which hides the divisor's type
    division_by_zero_fails,
    listagg_of_nulls_is_empty,
    untyped_array_is_a_text_list,
    to_char_with_format,
)


# The node classes each fix rewrites (its isinstance tests): a fix is skipped when the tree holds
# none of them. Each fix walks the whole tree, so on a large view running all of them cost ~5× the
# walk that finds which classes are there; a fix that runs may add classes, so they are found again.
# A new fix must be listed here (test_duckdb_fixes checks that every fix is).
FIX_NODE_CLASSES: dict[Fix, tuple[type[exp.Expression], ...]] = {
    cortex_complete_to_local_function: (exp.Anonymous,),
    cortex_sentiment_to_local_function: (exp.Anonymous,),
    cortex_embed_to_local_function: (exp.AIEmbed, exp.Anonymous),
    vector_is_a_float_list: (exp.DataType,),
    cosine_similarity_is_not_a_distance: (exp.CosineDistance, exp.Anonymous),
    variant_text_is_unquoted: (exp.Cast,),
    keep_date_type: (exp.DateAdd, exp.DateTrunc, exp.TimestampTrunc),
    object_construct_drops_nulls: (exp.Struct,),
    lateral_flatten_to_unnest: (exp.Lateral,),
    unqualify_merge_update_targets: (exp.Merge,),
    hex_to_number: (exp.ToNumber,),
    array_construct_compact_without_arrow_lambda: (exp.ArrayConstructCompact,),
    variant_cast_is_identity: (exp.Cast,),
    whole_numbers_where_duckdb_wants_integers: (*INTEGER_ARGUMENTS, exp.Add, exp.Sub),
    mixed_scales_keep_the_largest: CHOOSES_A_VALUE,
    median_keeps_its_fraction: (exp.Median,),
    division_keeps_snowflake_scale: (exp.Div,),
    division_by_zero_fails: (exp.Div,),
    listagg_of_nulls_is_empty: (exp.GroupConcat,),
    untyped_array_is_a_text_list: (exp.DataType,),
    to_char_with_format: (exp.ToChar,),
}


# The fixes that replace nodes only through `_rewrite`, so apply_fixes knows whether they changed anything.
REPORTS_REWRITES = frozenset({
    whole_numbers_where_duckdb_wants_integers,
    mixed_scales_keep_the_largest,
    median_keeps_its_fraction,
    keep_date_type,
    object_construct_drops_nulls,
    lateral_flatten_to_unnest,
    array_construct_compact_without_arrow_lambda,
    variant_cast_is_identity,
    hex_to_number,
    cortex_complete_to_local_function,
    cortex_sentiment_to_local_function,
    cortex_embed_to_local_function,
    vector_is_a_float_list,
    cosine_similarity_is_not_a_distance,
    untyped_array_is_a_text_list,
    variant_text_is_unquoted,
})


def apply_fixes(tree: exp.Expression, context: FixContext) -> exp.Expression:
    """The fixes, in order, each only on a tree holding a node it rewrites. The tree's node classes
    are taken again after a fix that changed something (a fix may add nodes a later one rewrites);
    a fix written with `_rewrite` says whether it did, any other is assumed to have (re-walking a
    prompt's MERGE after every fix that looked was a third of its fixing time)."""
    tree = tree.copy()
    present = _node_classes(tree)
    for fix in DUCKDB_FIXES:
        wanted = FIX_NODE_CLASSES[fix]
        if any(issubclass(cls, wanted) for cls in present):
            before = _Rewrites.count
            tree = fix(tree, context)
            if fix not in REPORTS_REWRITES or _Rewrites.count != before:
                present = _node_classes(tree)
    return tree


class _Rewrites:
    """How many nodes `_rewrite` has replaced in this process. It only grows, so a fix that replaced
    anything moved it, even with another thread fixing another tree at the same time."""

    count = 0


def _rewrite(tree: exp.Expression, fix: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """tree.transform(fix) in place, counting the nodes `fix` replaced. `fix` must return either
    the node unchanged or a new node, never the node changed in place (that would go uncounted)."""

    def counted(node: exp.Expression) -> exp.Expression:
        new = fix(node)
        if new is not node:
            _Rewrites.count += 1
        return new

    return tree.transform(counted, copy=False)


def _node_classes(tree: exp.Expression) -> set[type]:
    return {type(node) for node in tree.walk()}


class DuckDB2(DuckDB):
    """DuckDB as rulectl generates it: every lambda in DuckDB 2's `lambda x: expr` form.

    DuckDB 2 rejects `x -> expr` lambdas (deprecated): https://duckdb.org/docs/current/sql/functions/lambda.html
    sqlglot writes that form for the lambdas it makes while generating (ARRAY_CONSTRUCT_COMPACT →
    LIST_FILTER, TRANSFORM, REDUCE) and for written ones; every one passes through `lambda_sql`, so
    the generated SQL is right the first time (the earlier fallback re-parsed any statement holding
    `->`, which JSON's `->>` made every prompt's MERGE do: ~20 ms each)."""

    class Generator(DuckDB.Generator):
        def lambda_sql(self, expression: exp.Lambda, arrow_sep: str = "->", wrap: bool = True) -> str:
            return f"lambda {self.expressions(expression, flat=True)}: {self.sql(expression, 'this')}"
