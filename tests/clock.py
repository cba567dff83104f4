"""A clock for the local target: every DuckDB session rulectl opens reads `today` (06:00 UTC) as
CURRENT_DATE and CURRENT_TIMESTAMP, so a test or bench can move time forward and watch what a
scheduled refresh would do the next morning. DuckDB resolves a temporary macro before its built-in
of the same name (views included); DuckDB's CURRENT_TIMESTAMP is get_current_timestamp()."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from unittest import mock

import engine.backends.duckdb as duckdb_backend


def clock_settings(today: date) -> tuple[str, ...]:
    return (
        f"CREATE OR REPLACE TEMP MACRO current_date() AS DATE '{today.isoformat()}'",
        f"CREATE OR REPLACE TEMP MACRO get_current_timestamp() AS TIMESTAMPTZ '{today.isoformat()} 06:00:00+00'",
    )


@contextmanager
def local_clock(today: date):
    """Inside: every new local session's clock reads `today`."""
    with mock.patch.object(duckdb_backend, "SESSION_SETTINGS", duckdb_backend.SESSION_SETTINGS + clock_settings(today)):
        yield
