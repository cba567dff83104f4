"""The one boundary between rulectl and a database: render, execute, query, introspect.

Everything above this line works on Snowflake-dialect sqlglot ASTs; a backend turns them into its
engine's SQL in one place (`to_sql`) and reports what is deployed in one shape (DeployedObject).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

OWNER_TAG = "rulectl"


@dataclass(frozen=True)
class DeployedObject:
    """One object as the target reports it."""

    kind: str  # schema | view | table | task
    schema: str
    name: str
    comment: str | None = None
    definition: str | None = None  # the engine's text of the view / task body
    columns: tuple[tuple[str, str], ...] = ()
    state: str | None = None  # tasks: started | suspended

    @property
    def qualified_name(self) -> str:
        return self.name if self.kind == "schema" else f"{self.schema}.{self.name}"

    @property
    def owner_fingerprint(self) -> str | None:
        """The fingerprint from a rulectl ownership tag in the comment, if there is one."""
        return parse_owner_tag(self.comment)


def owner_tag(project: str, fingerprint: str) -> str:
    return f"{OWNER_TAG}:{project}:{fingerprint}"


def parse_owner_tag(comment: str | None) -> str | None:
    if not comment or not comment.startswith(f"{OWNER_TAG}:"):
        return None
    parts = comment.split(":")
    return parts[2] if len(parts) >= 3 else None


@dataclass(frozen=True)
class ManagedRecord:
    """What rulectl recorded when it last applied an object (its state table)."""

    kind: str
    qualified_name: str
    fingerprint: str
    definition_hash: str
    plan_id: str


@dataclass(frozen=True)
class DeployedState:
    """What the target holds in rulectl's schemas, plus rulectl's own records of what it applied."""

    objects: dict[tuple[str, str], DeployedObject] = field(default_factory=dict)  # (kind, QUALIFIED) → object
    records: dict[tuple[str, str], ManagedRecord] = field(default_factory=dict)
    queries: int = 0  # introspection round trips it took

    def get(self, kind: str, qualified_name: str) -> DeployedObject | None:
        return self.objects.get((kind, qualified_name.upper()))


class Backend(ABC):
    """A target engine. Subclasses set `dialect` and override the hooks below.

    Contract:
    - `to_sql(tree)` renders a Snowflake-dialect AST in the engine's dialect (the only place where
      engine-specific SQL fixes live);
    - `execute(tree_or_sql)` runs one statement; `query(...)` returns rows as tuples;
    - `introspect(schemas)` reads the deployed state with a fixed number of queries per schema and
      kind, however many objects there are;
    - every call that reaches the engine is appended to `statements` (tests assert on it).
    """

    dialect: str = "snowflake"

    def __init__(self) -> None:
        self.statements: list[str] = []

    def to_sql(self, tree: exp.Expression) -> str:
        return tree.sql(dialect=self.dialect)

    def execute(self, statement: exp.Expression | str) -> None:
        self.query(statement)

    def query(self, statement: exp.Expression | str) -> list[tuple[Any, ...]]:
        sql = statement if isinstance(statement, str) else self.to_sql(statement)
        self.statements.append(sql)
        return self._run(sql)

    @abstractmethod
    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        """Send one SQL statement to the engine and return its rows."""

    @abstractmethod
    def introspect(self, schemas: Sequence[str]) -> DeployedState:
        """Deployed views, tables, tasks (and rulectl's records) in `schemas`."""

    def close(self) -> None:
        """Release the connection."""
