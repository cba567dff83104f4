"""Each DuckDB fix: the Snowflake SQL, run on DuckDB, gives the result Snowflake documents."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

import duckdb
import pytest
import sqlglot

from engine.backends.duckdb import render_duckdb
from engine.backends.duckdb_fixes import FixContext

CONTEXT = FixContext(date_columns=frozenset({"d"}))


def run_snowflake_sql(sql: str, setup: str = "CREATE TABLE t AS SELECT DATE '2026-01-31' AS d, 'k1' AS k"):
    connection = duckdb.connect()
    connection.execute(setup)
    rendered = render_duckdb(sqlglot.parse_one(sql, read="snowflake"), CONTEXT)
    return connection.execute(rendered).fetchall()


def test_dateadd_on_a_date_stays_a_date():
    # https://docs.snowflake.com/en/sql-reference/functions/dateadd: DATE in, DATE out for day+ parts
    assert run_snowflake_sql("SELECT DATEADD(month, 1, d), DATEADD(day, 1, d) FROM t") == [(date(2026, 2, 28), date(2026, 2, 1))]


def test_date_trunc_on_a_date_stays_a_date():
    assert run_snowflake_sql("SELECT DATE_TRUNC('month', d) FROM t") == [(date(2026, 1, 1),)]


def test_without_the_fix_duckdb_would_return_a_timestamp():
    plain = sqlglot.transpile("SELECT DATEADD(day, 1, d) FROM t", read="snowflake", write="duckdb")[0]
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t AS SELECT DATE '2026-01-31' AS d")
    assert type(connection.execute(plain).fetchone()[0]).__name__ == "datetime"


def test_object_construct_omits_null_values():
    # https://docs.snowflake.com/en/sql-reference/functions/object_construct: NULL values are omitted
    rows = run_snowflake_sql("SELECT TO_JSON(OBJECT_CONSTRUCT('a', 1, 'b', NULL, 'c', 'x'))")
    assert rows == [('{"a":1,"c":"x"}',)]


def test_lateral_flatten_becomes_unnest():
    setup = "CREATE TABLE v AS SELECT 'k1' AS k, ['x', 'y'] AS labels UNION ALL SELECT 'k2', ['y']"
    rows = run_snowflake_sql("SELECT f.value, COUNT(*) FROM v, LATERAL FLATTEN(input => v.labels) f GROUP BY 1 ORDER BY 1", setup)
    assert rows == [("x", 1), ("y", 2)]


def test_merge_update_with_qualified_target_columns():
    connection = duckdb.connect()
    connection.execute("CREATE TABLE tgt (k VARCHAR, a INT); INSERT INTO tgt VALUES ('k1', 1); CREATE TABLE src (k VARCHAR, a INT); INSERT INTO src VALUES ('k1', 5), ('k2', 7)")
    merge = "MERGE INTO tgt USING src ON tgt.k = src.k WHEN MATCHED THEN UPDATE SET tgt.a = src.a WHEN NOT MATCHED THEN INSERT (k, a) VALUES (src.k, src.a)"
    connection.execute(render_duckdb(sqlglot.parse_one(merge, read="snowflake"), CONTEXT))
    assert connection.execute("SELECT * FROM tgt ORDER BY k").fetchall() == [("k1", 5), ("k2", 7)]


def test_array_construct_compact_uses_the_new_lambda_syntax():
    rendered = render_duckdb(sqlglot.parse_one("SELECT ARRAY_CONSTRUCT_COMPACT('a', NULL, 'b')", read="snowflake"), CONTEXT)
    assert "->" not in rendered and "lambda" in rendered
    assert duckdb.connect().execute(rendered).fetchall() == [(["a", "b"],)]


@pytest.mark.parametrize(("snowflake", "expected"), [
    ("SELECT FILTER(ARRAY_CONSTRUCT(1, 2, 3), x -> x > 1)", [([2, 3],)]),  # written by an analyst
    ("SELECT TRANSFORM(ARRAY_CONSTRUCT('p', 'q'), x -> '$' || x)", [(["$p", "$q"],)]),  # a body that starts like a JSON path
    ("SELECT REDUCE(ARRAY_CONSTRUCT(1, 2, 3), 0, (acc, x) -> acc + x)", [(6,)]),  # two parameters
    ("SELECT ARRAY_SIZE(FILTER(ARRAY_CONSTRUCT('a', NULL), v -> v IS NULL))", [(1,)]),
])
def test_every_lambda_is_written_in_duckdb_2_form_and_runs(snowflake, expected):
    rendered = render_duckdb(sqlglot.parse_one(snowflake, read="snowflake"), CONTEXT)
    assert "->" not in rendered and "lambda " in rendered, rendered
    assert duckdb.connect().execute(rendered).fetchall() == expected


def test_json_arrows_are_left_as_they_are():
    rendered = render_duckdb(sqlglot.parse_one("""SELECT PARSE_JSON('{"a": {"b": "x"}}'):a.b::VARCHAR""", read="snowflake"), CONTEXT)
    assert "lambda" not in rendered and "->" in rendered
    assert duckdb.connect().execute(rendered).fetchall() == [("x",)]


@pytest.mark.parametrize("text", ["abc", "C0000001", "account-summary-2026-11C0000042"])
def test_hex_to_number_matches_python(text):
    import hashlib

    sql = f"SELECT TO_NUMBER(SUBSTR(MD5('{text}'), 1, 8), 'XXXXXXXX')"
    assert run_snowflake_sql(sql) == [(int(hashlib.md5(text.encode()).hexdigest()[:8], 16),)]


def test_array_contains_with_a_variant_value():
    setup = "CREATE TABLE v AS SELECT 'k1' AS k, ['x', 'y'] AS labels UNION ALL SELECT 'k2', ['y']"
    rows = run_snowflake_sql("SELECT k FROM v WHERE ARRAY_CONTAINS('x'::VARIANT, labels) ORDER BY k", setup)
    assert rows == [("k1",)]


def test_variant_path_cast_to_varchar_gives_the_bare_string():
    # Snowflake: TRY_PARSE_JSON('{"a": "x"}'):a::VARCHAR = 'x' (no JSON quotes)
    assert run_snowflake_sql("""SELECT TRY_PARSE_JSON('{"a": "x", "n": 3}'):a::VARCHAR, TRY_PARSE_JSON('{"a": "x", "n": 3}'):n::NUMBER""") == [("x", 3)]
    assert run_snowflake_sql("SELECT TRY_PARSE_JSON('not json'):a::VARCHAR") == [(None,)]


def test_ai_complete_becomes_the_local_function_with_system_prompt_and_options():
    connection = duckdb.connect()
    connection.create_function("rulectl_complete", lambda m, s, p, o: f"{m}|{s}|{p}|{o}", [str, str, str, str], str)
    sql = (
        "SELECT AI_COMPLETE(model => 'llama3.1-8b', prompt => 'sys' || '\\n\\n' || 'hello', "
        "model_parameters => OBJECT_CONSTRUCT('temperature', 0.2, 'max_tokens', 300), "
        "response_format => OBJECT_CONSTRUCT('type', 'json', 'schema', OBJECT_CONSTRUCT('type', 'object')), show_details => TRUE)"
    )
    rendered = render_duckdb(sqlglot.parse_one(sql, read="snowflake"), CONTEXT)
    expected = 'llama3.1-8b|sys|hello|{"max_tokens": 300, "response_format": {"schema": {"type": "object"}, "type": "json"}, "temperature": 0.2}'
    assert connection.execute(rendered).fetchone()[0] == expected
    # a prompt not built by compile (no system part) is sent whole, positional arguments too
    plain = render_duckdb(sqlglot.parse_one("SELECT AI_COMPLETE('llama3.1-8b', 'hi there')", read="snowflake"), CONTEXT)
    assert connection.execute(plain).fetchone()[0] == "llama3.1-8b||hi there|{}"


SCALES = FixContext(fixed_point_scales={"a": 0, "b": 0, "arr": 2})
NUMBERS = "CREATE TABLE t AS SELECT * FROM (VALUES (7, 2, 1.5::DOUBLE), (1, 3, 2.0), (NULL, 0, 0.0), (0, 0, NULL)) v(a, b, f)"


def run_with_scales(sql: str, setup: str = NUMBERS):
    connection = duckdb.connect()
    connection.execute(setup)
    return connection.execute(render_duckdb(sqlglot.parse_one(sql, read="snowflake"), SCALES)).fetchall()


def test_division_by_zero_fails_like_snowflake():
    # https://docs.snowflake.com/en/sql-reference/operators-arithmetic: `/` by 0 is an error (DIV0 gives 0)
    with pytest.raises(duckdb.Error, match="Division by zero"):
        run_with_scales("SELECT a / b FROM t")
    with pytest.raises(duckdb.Error, match="Division by zero"):
        run_with_scales("SELECT f / 0 FROM t")  # DOUBLE too: no inf, no NaN that sorts above every number
    assert run_with_scales("SELECT a / b FROM t WHERE b <> 0 OR a IS NULL") == [(3.5,), (0.333333,), (None,)]


def test_without_the_fix_duckdb_gives_inf_and_nan():
    plain = sqlglot.transpile("SELECT 1.0 / 0, 0.0 / 0.0", read="snowflake", write="duckdb")[0]
    inf, nan = duckdb.connect().execute(plain).fetchone()
    assert inf == float("inf") and nan != nan


def test_div0_div0null_and_nullif_never_fail():
    rows = run_with_scales("SELECT DIV0(a, b), DIV0NULL(a, b), a / NULLIF(b, 0) FROM t")
    assert rows == [(3.5, 3.5, 3.5), (0.333333, 0.333333, 0.333333), (None, 0, None), (0, 0, None)]


def test_fixed_point_division_has_snowflake_scale():
    # https://docs.snowflake.com/en/sql-reference/operators-arithmetic (Division: scale max(S1, min(S1 + 6, 12)))
    assert run_with_scales("SELECT a / 3, a / 4, SUM(a) / COUNT(*) FROM t GROUP BY a ORDER BY a NULLS LAST") == [
        (0.0, 0.0, 0.0), (0.333333, 0.25, 1.0), (2.333333, 1.75, 7.0), (None, None, None),
    ]
    assert run_with_scales("SELECT arr / 3 FROM (SELECT 1.00::DECIMAL(12, 2) AS arr)") == [(0.33333333,)]  # S1 = 2 → 8


def test_float_division_is_not_rounded():
    assert run_with_scales("SELECT f / 3 FROM t WHERE f = 2.0") == [(2.0 / 3,)]


def test_listagg_of_only_nulls_is_an_empty_string():
    # https://docs.snowflake.com/en/sql-reference/functions/listagg: a string of the non-NULL values
    setup = "CREATE TABLE v AS SELECT * FROM (VALUES ('k1', NULL), ('k1', NULL), ('k2', ''), ('k2', 'x')) t(k, s)"
    rows = run_snowflake_sql("SELECT k, LISTAGG(DISTINCT s, '|') WITHIN GROUP (ORDER BY s) FROM v GROUP BY k ORDER BY k", setup)
    assert rows == [("k1", ""), ("k2", "|x")]


def test_ai_sentiment_becomes_the_local_analyser():
    connection = duckdb.connect()
    label = lambda text: '{"categories": [{"name": "overall", "sentiment": "%s"}]}' % ("negative" if "bad" in text else "positive")  # noqa: E731
    connection.create_function("rulectl_sentiment", label, [str], str)
    tree = sqlglot.parse_one("SELECT AI_SENTIMENT(p.text_value):categories[0]:sentiment::VARCHAR AS label FROM (SELECT 'bad day' AS text_value) AS p", read="snowflake")
    assert connection.execute(render_duckdb(tree, FixContext())).fetchall() == [("negative",)]
    other = sqlglot.parse_one("SELECT AI_SUMMARIZE_AGG(x) FROM t", read="snowflake")
    assert "rulectl_sentiment" not in render_duckdb(other, FixContext())


def test_to_char_with_a_format_keeps_the_format():
    # https://docs.snowflake.com/en/sql-reference/functions/to_char: the format decides the text;
    # sqlglot alone writes CAST(d AS TEXT) for DuckDB and drops it
    setup = "CREATE TABLE v AS SELECT DATE '2026-03-04' AS d, TIMESTAMP '2026-03-04 05:06:07.891' AS t"
    rows = run_snowflake_sql("SELECT TO_CHAR(d, 'YYYY-MM-DD'), TO_CHAR(t, 'YYYY-MM-DD HH24:MI:SS'), TO_CHAR(d, 'DD/MM/YYYY') FROM v", setup)
    assert rows == [("2026-03-04", "2026-03-04 05:06:07", "04/03/2026")]


# Golden values: DuckDB through the fixes against Snowflake's documented result for each pair of
# types (https://docs.snowflake.com/en/sql-reference/operators-arithmetic, Division: leading digits
# L1 + S2, scale S = max(S1, min(S1 + 6, 12)); the value rounded to that scale). Columns are
# declared as a project declares them (FixContext.fixed_point_scales, from rulectl.yml types).
TYPED = FixContext(fixed_point_scales={"seats": 0, "users": 0, "fee": 2, "rate": 3, "fine": 10, "finer": 14})
TYPED_ROW = (
    "CREATE TABLE t AS SELECT 30::INTEGER AS seats, 22::INTEGER AS users, 1234.50::DECIMAL(12, 2) AS fee, "
    "0.125::DECIMAL(10, 3) AS rate, 1.0000000001::DECIMAL(38, 10) AS fine, 2.00000000000001::DECIMAL(38, 14) AS finer"
)
DIVISION_GOLDEN = [
    ("users / seats", "NUMBER(38,0) / NUMBER(38,0)", 0.733333),  # scale 0 + 6
    ("COUNT(*) / 3", "COUNT / integer literal", 0.333333),
    ("fee / seats", "NUMBER(12,2) / NUMBER(38,0)", 41.15),  # 41.15000000 (scale 8)
    ("seats / fee", "NUMBER(38,0) / NUMBER(12,2)", 0.024301),  # scale 6: 0.0243013…
    ("rate / seats", "NUMBER(10,3) / NUMBER(38,0)", 0.004166667),  # scale 9: 0.00416666…7 rounded
    ("users / rate", "NUMBER(38,0) / NUMBER(10,3)", 176.0),
    ("fine / 3", "NUMBER(38,10) / integer literal", 0.333333333367),  # min(16, 12) → max(10, 12) = 12
    ("finer / 3", "NUMBER(38,14) / integer literal", 0.66666666666667),  # S1 = 14 > 12: scale 14
    ("users / 7.25", "NUMBER(38,0) / NUMBER(3,2) literal", 3.034483),
    ("CAST(users AS NUMBER(10, 3)) / seats", "CAST to NUMBER(10,3) / NUMBER(38,0)", 0.733333333),
    ("SUM(users) / SUM(seats)", "SUM / SUM of integers", 0.733333),
]


@pytest.mark.parametrize("expression, types, snowflake", DIVISION_GOLDEN, ids=[t for _, t, _ in DIVISION_GOLDEN])
def test_division_matches_snowflakes_documented_scale(expression, types, snowflake):
    connection = duckdb.connect()
    connection.execute(TYPED_ROW)
    (value,), = connection.execute(render_duckdb(sqlglot.parse_one(f"SELECT {expression} FROM t", read="snowflake"), TYPED)).fetchall()
    assert float(value) == snowflake, (types, value)


def test_every_fix_names_the_nodes_it_rewrites():
    # apply_fixes skips a fix when the tree holds none of its node classes (FIX_NODE_CLASSES); a fix
    # missing there would never run. Skipping changes no output: the golden DuckDB SQL proves it.
    from engine.backends.duckdb_fixes import DUCKDB_FIXES, FIX_NODE_CLASSES

    assert set(DUCKDB_FIXES) == set(FIX_NODE_CLASSES)
    tree = sqlglot.parse_one("SELECT DATEADD(day, 1, d) FROM t", read="snowflake")
    assert "CAST(" in render_duckdb(tree, CONTEXT)  # keep_date_type ran: its node class is there


def _fixed_walking_after_every_fix(tree, context):
    """apply_fixes as it was: the node classes taken again after every fix that looked."""
    from engine.backends.duckdb_fixes import DUCKDB_FIXES, FIX_NODE_CLASSES

    tree = tree.copy()
    for fix in DUCKDB_FIXES:
        if any(isinstance(node, FIX_NODE_CLASSES[fix]) for node in tree.walk()):
            tree = fix(tree, context)
    return tree


@pytest.mark.parametrize("shape", ["example", "renamed", "minimal"])
def test_skipping_the_walk_after_a_fix_that_changed_nothing_gives_the_same_sql(shape, tmp_path):
    """apply_fixes takes the tree's node classes again only after a fix that replaced something;
    every statement the shape compiles (views, tables, tasks' MERGEs and their batches, removals)
    fixes to the same SQL as walking after every fix."""
    from engine.backends.duckdb_fixes import apply_fixes
    from engine.backends.registry import date_columns, fixed_point_scales
    from engine.compile.project import compile_project
    from engine.compile.refresh_batches import batch_merge
    from engine.config.loader import load_project
    from tests.conftest import REPO, copy_example

    if shape == "example":
        root = copy_example(tmp_path / "p", whole=True)
    else:
        root = tmp_path / "p"
        shutil.copytree(REPO / "tests" / "projects" / shape, root)
    loaded = load_project(root)
    context = FixContext(date_columns=date_columns(loaded), fixed_point_scales=fixed_point_scales(loaded))
    statements = []
    for obj in compile_project(loaded):
        statements.append(obj.statement)
        if obj.removal_statement is not None:
            statements.append(obj.removal_statement)
        if obj.kind == "task" and any(s.alias == "p" for s in obj.statement.find_all(sqlglot.exp.Subquery)):
            statements.append(batch_merge(obj.statement, sqlglot.exp.Literal.number(50), sqlglot.exp.Literal.number(50)))
    assert len(statements) >= 4  # minimal: schema, two views and more
    for statement in statements:
        assert apply_fixes(statement, context).sql("duckdb") == _fixed_walking_after_every_fix(statement, context).sql("duckdb")


# A `number` column is DECIMAL(38,0) on the local target, a declared `integer` DuckDB's INTEGER.
WHOLE = FixContext(date_columns=frozenset({"d"}), fixed_point_scales={"n": 0, "i": 0, "fee": 2})
WHOLE_ROWS = (
    "CREATE TABLE t AS SELECT DATE '2026-01-01' AS d, CAST(n AS DECIMAL(38, 0)) AS n, CAST(n AS INTEGER) AS i, "
    "CAST(fee AS DECIMAL(12, 2)) AS fee, 'abc' AS s FROM (VALUES (1, 1.01), (2, 1.02)) v(n, fee)"
)
# (Snowflake expression, the value Snowflake gives, with n and i holding 1 and 2, fee 1.01 and 1.02)
WHOLE_GOLDEN = [
    ("MIN(d + n)", date(2026, 1, 2)),  # date + integer: https://docs.snowflake.com/en/sql-reference/operators-arithmetic
    ("MIN(d - n)", date(2025, 12, 30)),
    ("MIN(n + d)", date(2026, 1, 2)),
    ("MIN(LPAD(s, n + 3, '*'))", "**abc"),
    ("MIN(RPAD(s, n + 3, '*'))", "abc*"),
    ("MIN(LEFT(s, n))", "a"),
    ("MIN(RIGHT(s, n))", "bc"),
    ("MIN(REPEAT(s, n))", "abc"),
    ("MIN(SUBSTR(s, n, n))", "a"),
    ("MIN(CHR(n + 64))", "A"),
    ("MIN(IFF(n > 1, n, 0.5))", 0.5),  # the result has the largest scale: 0.5, not 1
    ("MIN(CASE WHEN n > 1 THEN n ELSE 0.5 END)", 0.5),
    ("MIN(LEAST(n, 0.5))", 0.5),
    ("MAX(GREATEST(n, 1.5))", 2),
    ("MEDIAN(n)", 1.5),  # three more decimals: 1.500
    ("MEDIAN(i)", 1.5),
    ("MEDIAN(fee)", 1.015),  # 1.01500, not 1.02
    # nested: the inner node is fixed before the outer one is built
    ("MIN(LPAD(LEFT(s, n), n + 3, '*'))", "***a"),
    ("MIN(d + n + n)", date(2026, 1, 3)),
    ("MIN((d + n) - n)", date(2026, 1, 1)),
    ("MIN(d) + MAX(n)", date(2026, 1, 3)),  # an aggregated date plus an aggregated whole number
    ("MIN(IFF(n > 1, fee, IFF(n > 5, n, 0.5)))", 0.5),
    ("MAX(IFF(n > 1, IFF(n > 5, n, 0.5), fee))", 1.01),
    ("COALESCE(MEDIAN(i), MIN(n))", 1.5),  # a median beside a whole number keeps its fraction
    ("MEDIAN(n) / 3", 0.5),  # scale 3 + 6: 0.500000000
]


@pytest.mark.parametrize("expression, snowflake", WHOLE_GOLDEN, ids=[e for e, _ in WHOLE_GOLDEN])
def test_whole_numbers_work_where_snowflake_takes_them_and_keep_their_fractions(expression, snowflake):
    connection = duckdb.connect()
    connection.execute(WHOLE_ROWS)
    (value,), = connection.execute(render_duckdb(sqlglot.parse_one(f"SELECT {expression} FROM t", read="snowflake"), WHOLE)).fetchall()
    assert (float(value) if isinstance(value, Decimal) else value) == snowflake


def test_without_the_fixes_duckdb_refuses_or_rounds_them():
    """What the fixes are for: DuckDB on its own, over the same DECIMAL(38,0) column."""
    connection = duckdb.connect()
    connection.execute(WHOLE_ROWS)
    with pytest.raises(duckdb.BinderException):
        connection.execute("SELECT MIN(d + n) FROM t")
    with pytest.raises(duckdb.BinderException):
        connection.execute("SELECT MIN(LPAD(s, n + 3, '*')) FROM t")
    assert connection.execute("SELECT MIN(CASE WHEN n > 1 THEN n ELSE 0.5 END), MEDIAN(n) FROM t").fetchone() == (1, 1)


def test_a_rule_adding_a_whole_number_of_days_to_a_date_deploys_on_the_local_target(tmp_path):
    """The renamed shape: `signed_on + module_total` (a date plus a count, which DuckDB holds as a
    BIGINT) refused by DuckDB's binder before the fix, so the plan failed on the segments view."""
    from tests.conftest import run
    from tests.test_project_shapes import copy_shape, rows

    root = copy_shape("renamed", tmp_path)
    rules = root / "rules" / "rules.yml"
    rules.write_text(rules.read_text() + (
        "  - name: renewal_window\n    rules:\n"
        "      - {segment: Counted, when: signed_on + module_total > signed_on}\n"
        "    default: Uncounted\n"
    ))
    assert run("load", project=root).exit_code == 0
    applied = run("apply", "--yes", project=root)
    assert applied.exit_code == 0, applied.output
    labels = dict(rows(root, "SELECT renewal_window, count(*) FROM REPORTING.CUSTOMER_SEGMENTS GROUP BY 1"))  # the shape names its schemas
    counted = rows(root, "SELECT count(*) FROM REPORTING.CUSTOMER_METRICS WHERE module_total > 0")[0][0]
    assert labels.get("Counted") == counted and counted > 0
