"""Two choices in the DuckDB backend made for a command's peak memory (engine/backends/duckdb.py),
checked for what they must not change: the columns introspection reports, and the error a refused
view definition reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.backends import duckdb as duckdb_backend
from engine.backends.duckdb import HAND_BACK_FREED, KEEP_FREED, DuckDBBackend

TYPES = ["DECIMAL(18,3)", "TIMESTAMP WITH TIME ZONE", "VARCHAR[]", "STRUCT(a INTEGER, b VARCHAR)", "DOUBLE", "BOOLEAN", "DATE", "BIGINT", "MAP(VARCHAR, INTEGER)"]


def deployed_tables(path: Path, pragma_tables: int, monkeypatch) -> dict:
    monkeypatch.setattr(duckdb_backend, "PRAGMA_TABLES", pragma_tables)
    backend = DuckDBBackend(path)
    try:
        state = backend.introspect(["ANALYTICS", "AI"])
        return {key: obj.columns for key, obj in state.objects.items() if key[0] == "table"}
    finally:
        backend.close()


@pytest.mark.parametrize("tables", [1, 9])
def test_columns_read_per_table_equal_the_catalog_scan(tmp_path: Path, monkeypatch, tables: int):
    """pragma_table_info (a few tables) and duckdb_columns() (many) give the same names and type
    strings; a table with a quote in its name, a view and rulectl's state tables beside them."""
    path = tmp_path / "catalog.duckdb"
    backend = DuckDBBackend(path)
    backend.execute("CREATE SCHEMA AI")
    for index in range(tables):
        columns = ", ".join(f'"Col {n}" {kind}' for n, kind in enumerate(TYPES[index % 3:]))
        backend.execute(f'CREATE TABLE AI."T{index} ""q" ({columns})')
    backend.execute("CREATE VIEW AI.WIDE AS SELECT " + ", ".join(f"{n} AS c{n}" for n in range(300)))
    backend.ensure_state_tables()
    backend.close()
    per_table, scanned = deployed_tables(path, 100, monkeypatch), deployed_tables(path, 0, monkeypatch)
    assert per_table == scanned
    assert len(per_table) == tables
    assert per_table[("table", 'AI.T0 "Q')] == tuple((f"col {n}", kind) for n, kind in enumerate(TYPES))


def allocator_setting(backend: DuckDBBackend) -> str:
    """Read on the connection itself: a query through the backend would switch it first."""
    return backend.connection.execute("SELECT current_setting('allocator_bulk_deallocation_flush_threshold')").fetchone()[0]


def test_freed_memory_is_handed_back_for_view_definitions_only(tmp_path: Path):
    backend = DuckDBBackend(tmp_path / "t.duckdb")
    try:
        kept = allocator_setting(backend)
        backend.execute("CREATE OR REPLACE VIEW v AS SELECT 1 AS x")
        handed_back = allocator_setting(backend)
        assert backend.query("SELECT x FROM v") == [(1,)]
        assert allocator_setting(backend) == kept != handed_back
        assert HAND_BACK_FREED.endswith("'0MB'") and KEEP_FREED.endswith("'1MB'") and handed_back.startswith("0")
    finally:
        backend.close()


def test_a_view_refused_inside_the_rehearsal_reports_its_own_error(tmp_path: Path):
    """The refused statement leaves the transaction aborted, where DuckDB refuses even SET: the
    switch back waits for the ROLLBACK, and the binder's message is the one reported."""
    backend = DuckDBBackend(tmp_path / "t.duckdb")
    try:
        kept = allocator_setting(backend)
        refused = backend.rehearse(["CREATE OR REPLACE VIEW v AS SELECT 1 AS x", "CREATE OR REPLACE VIEW w AS SELECT nope FROM missing_table"])
        assert refused is not None and refused[0] == 1
        assert "missing_table" in refused[1] and "aborted" not in refused[1]
        assert backend.query("SELECT 42") == [(42,)]
        assert allocator_setting(backend) == kept
        assert backend.query("SELECT count(*) FROM duckdb_views() WHERE view_name IN ('v', 'w')") == [(0,)]  # rolled back
    finally:
        backend.close()
