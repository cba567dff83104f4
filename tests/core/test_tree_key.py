"""The tree memo's key (engine/core/tree_memo.py `tree_key`) tells trees apart exactly as
sqlglot's own serialisation does: two trees get one key iff `serde.dump` records the same content.
A false hit would hand one statement another's SQL; a miss only costs a generation."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.serde import dump

from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.core.tree_memo import tree_key

REPO = Path(__file__).resolve().parents[2]

# Pairs differing in one thing the generated SQL or a fix depends on, and sqlglot's `==` folds or ignores.
NEAR_TWINS = [
    "SELECT 'EUR'", "SELECT 'eur'",
    "SELECT x -- one", "SELECT x -- two", "SELECT x",
    "SELECT CAST(x AS INT)", "SELECT CAST(x AS BIGINT)", "SELECT CAST(x AS DECIMAL(10, 2))", "SELECT CAST(x AS DECIMAL(10, 3))",
    'SELECT "A"', "SELECT a", 'SELECT "a"',
    "SELECT 1", "SELECT '1'", "SELECT TRUE", "SELECT 'TRUE'", "SELECT NULL", "SELECT 'None'",
    "SELECT a FROM t", "SELECT t FROM a", "SELECT a.b FROM t", "SELECT b FROM t AS a",
    "SELECT f(a, b)", "SELECT f(a), b", "SELECT f(b, a)", "SELECT f(ARRAY(a, b))", "SELECT f(ARRAY(a), b)",
    "SELECT a FROM t WHERE x = 1", "SELECT a FROM t WHERE x = 1 ORDER BY a", "SELECT a FROM t ORDER BY a DESC",
]


def same_content(a: exp.Expression, b: exp.Expression) -> bool:
    return json.dumps(dump(a), default=repr) == json.dumps(dump(b), default=repr)


def test_near_twins_get_keys_as_sqlglots_serialisation_tells_them_apart():
    trees = [sqlglot.parse_one(sql, read="snowflake") for sql in NEAR_TWINS]
    typed = sqlglot.parse_one("SELECT a", read="snowflake")
    typed.selects[0].type = exp.DataType.build("INT")
    trees.append(typed)
    meta = sqlglot.parse_one("SELECT a", read="snowflake")
    meta.selects[0].meta["line"] = 3
    trees.append(meta)
    for a, b in itertools.combinations(trees, 2):
        assert (tree_key(a) == tree_key(b)) == same_content(a, b), (a.sql(), b.sql())


def test_every_compiled_statement_keys_like_its_copy_and_unlike_the_others():
    statements = [obj.statement for obj in compile_project(load_project(REPO))]
    keys = [tree_key(statement) for statement in statements]
    assert keys == [tree_key(statement.copy()) for statement in statements]
    assert len(set(keys)) == len(statements)
    edited = statements[0].copy()
    identifier = next(edited.find_all(exp.Identifier))
    identifier.set("quoted", not identifier.args.get("quoted"))  # one flag deep inside
    assert tree_key(edited) != keys[0]


def test_values_of_any_kind_are_values_not_structure():
    """A tuple or a string that looks like the walk's own markers, held as a value, is told apart."""
    pairs = [
        (exp.Anonymous(this="f", expressions=[("=", "x")]), exp.Anonymous(this="f", expressions=[("=x", "")])),
        (exp.Literal(this=("a", "b"), is_string=True), exp.Literal(this=("ab", ""), is_string=True)),
        (exp.Anonymous(this="f", expressions=["[x", ")"]), exp.Anonymous(this="f", expressions=["[x"])),
        (exp.Literal(this=(1, 2), is_string=False), exp.Literal(this=(1, 2, 3), is_string=False)),
        (exp.Anonymous(this="f", expressions=[None]), exp.Anonymous(this="f", expressions=[])),
    ]
    for a, b in pairs:
        assert not same_content(a, b)
        assert tree_key(a) != tree_key(b)

