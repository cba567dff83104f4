"""Variant assignment: a salted MD5 bucket of the key that Python, DuckDB and Snowflake compute the
same way, bit for bit: the first 8 hex digits of MD5(salt || ':' || key) as a number, modulo 100."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlglot import exp

from engine.core.expressions import sf_func

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


HEX_DIGITS = "0123456789abcdef"


def salted_digest_sql(salt: str, key: exp.Expression) -> exp.Expression:
    """MD5(salt || ':' || key) as 32 lower-case hex digits, as Snowflake, DuckDB and Python write it."""
    salted = exp.DPipe(this=exp.Literal.string(f"{salt}:"), expression=exp.cast(key, "VARCHAR"), safe=True)
    return sf_func("MD5", salted)


def bucket_of_digest_sql(digest: exp.Expression) -> exp.Expression:
    """The bucket (0..99) of a hex digest, using only SUBSTR, CHARINDEX and arithmetic.

    The first 8 hex digits are folded Horner-style ((d1*16 + d2)*16 + …) rather than read with
    TO_NUMBER(…, 'XXXXXXXX'): every engine (Snowflake, DuckDB, fakesnow) computes these functions
    the same way, so no engine-specific rewrite is needed and the result is exact (< 2^32).
    """
    value: exp.Expression | None = None
    for position in range(1, 9):
        char = sf_func("SUBSTR", digest.copy(), exp.Literal.number(position), exp.Literal.number(1))
        digit = exp.Sub(this=sf_func("CHARINDEX", char, exp.Literal.string(HEX_DIGITS)), expression=exp.Literal.number(1))
        value = digit if value is None else exp.Add(this=exp.Mul(this=exp.paren(value), expression=exp.Literal.number(16)), expression=digit)
    return sf_func("MOD", value, exp.Literal.number(BUCKETS))


def variant_bucket_sql(salt: str, key: exp.Expression) -> exp.Expression:
    """Snowflake SQL for `variant_bucket(salt, key)` in one expression."""
    return bucket_of_digest_sql(salted_digest_sql(salt, key))
