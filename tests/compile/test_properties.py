"""Property tests: any label text stays one literal; any key gets the same bucket in SQL and Python."""

from __future__ import annotations

import duckdb
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from engine.backends.duckdb import render_duckdb
from engine.backends.duckdb_fixes import FixContext
from engine.compile.segments import segmentation_columns
from engine.config.models import Segmentation
from engine.compile.variants import variant_bucket, variant_bucket_sql

# Printable text without NUL (YAML cannot carry it) — quotes, backslashes, $$, ; and SQL keywords included.
# One in-memory database for every example: a DuckDB instance costs ~13 ms to start, more than a query.
MEMORY = duckdb.connect()

LABELS = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(label=LABELS, action=LABELS)
def test_any_label_compiles_to_exactly_one_literal(label: str, action: str):
    segmentation = Segmentation(name="tier", rules=[{"segment": label, "when": "module_count >= 2", "action": action}], default="Other")
    select = exp.select(*segmentation_columns(segmentation)).from_("m")
    for dialect in ("snowflake", "duckdb"):
        sql = select.sql(dialect=dialect)
        statements = sqlglot.parse(sql, read=dialect)
        assert len(statements) == 1 and isinstance(statements[0], exp.Select)
        literals = [lit.this for lit in statements[0].find_all(exp.Literal) if lit.is_string]
        assert label in literals and action in literals


@settings(max_examples=60, deadline=None)
@given(label=LABELS)
def test_any_label_round_trips_through_duckdb(label: str):
    segmentation = Segmentation(name="tier", rules=[{"segment": label, "when": "module_count >= 2"}])
    select = exp.select(*segmentation_columns(segmentation)).from_(exp.alias_(exp.Subquery(this=exp.select(exp.Literal.number(3).as_("module_count"))), "m", table=True))
    assert MEMORY.execute(render_duckdb(select, FixContext())).fetchone()[0] == label


@settings(max_examples=200, deadline=None)
@given(salt=st.text(min_size=1, max_size=30), key=st.text(max_size=40))
def test_bucket_in_sql_equals_python(salt: str, key: str):
    query = exp.select(variant_bucket_sql(salt, exp.Literal.string(key)))
    assert MEMORY.execute(render_duckdb(query, FixContext())).fetchone()[0] == variant_bucket(salt, key)
