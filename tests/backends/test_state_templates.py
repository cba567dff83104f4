"""rulectl's own record statements (the OBJECTS record MERGE, the HISTORY row) are rendered once per
backend (on DuckDB through its fixes) and each record's values set between the pieces, not rendered
per record (engine/backends/base.py `filled_template`). That is only right if rendering the filled
statement gives the same SQL, on each engine: checked
here for every kind of value a record holds (text with quotes and newlines, NULLs, timestamps, long
applied SQL), and the rows they write read back exactly."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import pytest
from sqlglot import exp

from engine.backends.base import HISTORY_INSERT, RECORD_MERGE, parsed_statement
from engine.backends.duckdb import DuckDBBackend, render_duckdb
from engine.backends.snowflake import SnowflakeBackend

def fill_template(tree: exp.Expression, values: dict[str, exp.Expression]) -> exp.Expression:
    """The reference: `tree` with each column named like a key of `values` replaced by that value."""
    return tree.transform(lambda node: values[node.name].copy() if isinstance(node, exp.Column) and node.name in values else node, copy=False)


TEXTS = ["view", "ANALYTICS.CUSTOMER_METRICS", "it's \"quoted\"\nand on two lines", "", "SELECT 1 AS x -- a comment\nFROM t WHERE s = 'a''b'"]


def record_values(backend: DuckDBBackend | SnowflakeBackend, text: str, hash_: str | None) -> dict[str, exp.Expression]:
    at = backend.timestamp_literal(datetime(2026, 12, 6, 7, 30, 1, 123456, tzinfo=timezone.utc))
    return {
        "__kind__": exp.Literal.string("view"),
        "__name__": exp.Literal.string(text),
        "__fingerprint__": exp.Literal.string("abc123"),
        "__hash__": exp.Literal.string(hash_) if hash_ else exp.cast(exp.null(), "VARCHAR"),
        "__plan__": exp.Literal.string("p1"),
        "__at__": at,
        "__sql__": exp.Literal.string(text * 50) if text else exp.cast(exp.null(), "VARCHAR"),
    }


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("hash_", ["h1", None])
def test_a_filled_record_is_the_sql_the_fixes_give_the_whole_statement(text: str, hash_: str | None):
    backend = DuckDBBackend(":memory:")
    values = record_values(backend, text, hash_)
    whole = render_duckdb(fill_template(parsed_statement(RECORD_MERGE), values), backend.context)
    assert backend.filled_template(RECORD_MERGE, values) == whole
    assert backend.filled_template(RECORD_MERGE, values) == whole  # the fixed template is not consumed by a fill


@pytest.mark.parametrize("text", TEXTS)
def test_a_filled_history_row_is_the_sql_the_fixes_give_the_whole_statement(text: str):
    backend = DuckDBBackend(":memory:")
    values = {"__at__": backend.timestamp_literal()} | {
        name: exp.Literal.string(text) for name in ("__plan__", "__action__", "__kind__", "__name__", "__status__", "__message__")
    } | {"__fingerprint__": exp.null()}
    whole = render_duckdb(fill_template(parsed_statement(HISTORY_INSERT), values), backend.context)
    assert backend.filled_template(HISTORY_INSERT, values) == whole


def test_records_and_history_read_back_exactly(tmp_path):
    backend = DuckDBBackend(tmp_path / "t.duckdb")
    backend.ensure_state_tables()
    for text in TEXTS[1:]:
        backend.write_record("view", text, "f1", None, "p1", text)  # the intent, then the landed record
        backend.write_record("view", text, "f2", "h2", "p2", None)
        backend.write_history("p2", "create", "view", text, None, "applied", text)
    backend.close()
    connection = duckdb.connect(str(tmp_path / "t.duckdb"))
    records = connection.execute("SELECT qualified_name, fingerprint, definition_hash, plan_id, applied_sql FROM _RULECTL.OBJECTS ORDER BY qualified_name").fetchall()
    history = connection.execute("SELECT qualified_name, fingerprint, status, message FROM _RULECTL.HISTORY ORDER BY qualified_name").fetchall()
    connection.close()
    assert records == sorted((text, "f2", "h2", "p2", None) for text in TEXTS[1:])
    assert history == sorted((text, None, "applied", text) for text in TEXTS[1:])


@pytest.mark.parametrize("text", TEXTS)
def test_on_snowflake_a_filled_record_and_history_row_are_the_whole_statements_sql(text: str):
    backend = SnowflakeBackend(None, "CUSTOMER_INTEL")  # offline: renders only
    for template, values in (
        (RECORD_MERGE, record_values(backend, text, None)),
        (HISTORY_INSERT, {"__at__": backend.timestamp_literal()} | {name: exp.Literal.string(text) for name in ("__plan__", "__action__", "__kind__", "__name__", "__status__", "__message__")} | {"__fingerprint__": exp.null()}),
    ):
        assert backend.filled_template(template, values) == fill_template(parsed_statement(template), values).sql(dialect="snowflake")
