"""Desired objects: what compilation yields and what plan diffs against the deployed state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from engine.expressions import DIALECT

ObjectKind = Literal["schema", "view", "table", "task"]


@dataclass(frozen=True)
class DesiredObject:
    """One object rulectl manages, as Snowflake-dialect SQL plus what plan needs to know about it.

    `statement` is a plain CREATE (no OR REPLACE, no COMMENT): each backend adds those its own way.
    """

    kind: ObjectKind
    schema: str
    name: str
    statement: exp.Expression
    depends_on: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()  # tables: (name, Snowflake type) in order
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def qualified_name(self) -> str:
        return self.name if self.kind == "schema" else f"{self.schema}.{self.name}"

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.statement)

    def sql(self, pretty: bool = True) -> str:
        return self.statement.sql(dialect=DIALECT, pretty=pretty)


def canonical_sql(statement: exp.Expression) -> str:
    """The form two statements share when they differ only in formatting and identifier case."""
    normalized = normalize_identifiers(statement.copy(), dialect=DIALECT)
    return normalized.sql(dialect=DIALECT, comments=False, normalize=True)


def fingerprint_of(statement: exp.Expression) -> str:
    return hashlib.sha256(canonical_sql(statement).encode()).hexdigest()[:16]


def table(qualified: str) -> exp.Table:
    return exp.to_table(qualified, dialect=DIALECT)


def referenced_tables(statement: exp.Expression) -> tuple[str, ...]:
    """Fully qualified names of the tables and views a statement reads, CTE names excluded."""
    cte_names = {cte.alias_or_name.upper() for cte in statement.find_all(exp.CTE)}
    created = statement.this if isinstance(statement, exp.Create) else None
    names: dict[str, None] = {}
    for ref in statement.find_all(exp.Table):
        if ref is created or (isinstance(created, exp.Schema) and ref is created.this):
            continue
        if not ref.db and ref.name.upper() in cte_names:
            continue
        names[".".join(part.upper() for part in (ref.db, ref.name) if part)] = None
    return tuple(names)
