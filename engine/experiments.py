"""Variant assignment: a salted MD5 bucket of the key that Python, DuckDB and Snowflake compute the
same way, bit for bit: the first 8 hex digits of MD5(salt || ':' || key) as a number, modulo 100."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlglot import exp

from engine.expressions import sf_func

BUCKETS = 100


def variant_bucket(salt: str, key: object) -> int:
    """Python's bucket (0..99) for a key."""
    digest = hashlib.md5(f"{salt}:{key}".encode()).hexdigest()
    return int(digest[:8], 16) % BUCKETS


def assign_variant(salt: str, key: object, variants: Sequence[tuple[str, int]]) -> str:
    """The variant whose cumulative weight range holds the key's bucket."""
    bucket = variant_bucket(salt, key)
    upper = 0
    for name, weight in variants:
        upper += weight
        if bucket < upper:
            return name
    raise ValueError("variant weights must add up to 100")


def variant_bucket_sql(salt: str, key: exp.Expression) -> exp.Expression:
    """Snowflake SQL for the same bucket.

    TO_NUMBER(…, 'XXXXXXXX') reads hexadecimal (https://docs.snowflake.com/en/sql-reference/sql-format-models);
    the DuckDB backend rewrites it (duckdb_fixes.hex_to_number).
    """
    salted = exp.DPipe(this=exp.Literal.string(f"{salt}:"), expression=sf_func("TO_VARCHAR", key), safe=True)
    hex_prefix = sf_func("SUBSTR", sf_func("MD5", salted), exp.Literal.number(1), exp.Literal.number(8))
    number = exp.ToNumber(this=hex_prefix, format=exp.Literal.string("XXXXXXXX"))
    return sf_func("MOD", number, exp.Literal.number(BUCKETS))
