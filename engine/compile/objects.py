"""Desired objects: what compilation yields and what plan diffs against the deployed state."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from sqlglot import exp

from engine.core.expressions import DIALECT
from engine.core import wide_select
from engine.core.tree_memo import KEPT_MEMOS, TreeMemo, tree_key

ObjectKind = Literal["schema", "view", "table", "task", "semantic_view"]


@dataclass(frozen=True)
class DesiredObject:
    """One object rulectl manages, as Snowflake-dialect SQL plus what plan needs to know about it.

    `statement` is a plain CREATE (no OR REPLACE, no COMMENT): each backend adds those its own way.
    `build` is that statement, or a function that builds it when first needed. With a function,
    `fingerprint_source` must be given: text that determines the statement completely (the
    settings it is built from, plus a stamp of the compiler's output), so plan fingerprints the
    object without building it.

    `removal` (tasks): the DELETE the task runs before its MERGE, removing what it stored for rows
    that no longer exist (compile/cleanup.py); built lazily like `build`, part of the fingerprint
    (through `fingerprint_source` when one is given, which must then cover it).

    `backend_stamp` is set by the target's backend (`Backend.as_deployed`), never by compile: a
    stamp of what that backend wraps around the statement when it deploys it (Snowflake runs a
    task's MERGE inside its own script). It is part of the fingerprint, so a rulectl upgrade that
    changes the wrapper redeploys the objects; empty (and then absent from the hash) where the
    backend deploys the statement as it is.

    `known_sql`: (canonical SQL of the statement, of the removal or None) when they are known without
    building (an object restored from the project cache: compile/project.py `remembered_objects`);
    a lazily built statement needs it, `fingerprint_source` or `wide`.

    `wide`: the statement as a skeleton and select items keyed by what each is built from
    (core/wide_select.py): its SQL in any dialect is the items' texts, each kept across commands, so
    an edit builds and generates only the items it changed (the segments view: compile/segments.py).
    Or a function giving it when first asked for (`wide_statement`): an object restored from the
    project cache takes its part's, so its renderings are kept under the same item keys (under the
    whole tree's items' keys instead, an apply after `plan` of the same edit missed every one).
    """

    kind: ObjectKind
    schema: str
    name: str
    build: exp.Expression | Callable[[], exp.Expression]
    depends_on: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()  # tables: (name, Snowflake type) in order
    options: tuple[tuple[str, str], ...] = ()  # tasks: schedule, warehouse, … (part of the fingerprint)
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    fingerprint_source: str | None = None
    backend_stamp: str = ""
    removal: exp.Expression | Callable[[], exp.Expression] | None = None
    known_sql: tuple[str, str | None] | None = field(default=None, compare=False, repr=False)
    wide: wide_select.WideSelect | Callable[[], wide_select.WideSelect | None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.build, exp.Expression) and self.fingerprint_source is None and self.known_sql is None and self.wide is None:
            raise ValueError(f"{self.qualified_name}: a lazily built statement needs a fingerprint_source")

    @property
    def qualified_name(self) -> str:
        return self.name if self.kind == "schema" else f"{self.schema}.{self.name}"

    @cached_property
    def statement(self) -> exp.Expression:
        return self.build if isinstance(self.build, exp.Expression) else self.build()

    @cached_property
    def wide_statement(self) -> wide_select.WideSelect | None:
        return self.wide if self.wide is None or isinstance(self.wide, wide_select.WideSelect) else self.wide()

    @cached_property
    def statement_digest(self) -> str:
        """The statement's tree_key, once: compiled statements are never changed after compile."""
        return self.wide_statement.digest if self.wide_statement is not None else statement_key(self.statement)

    @cached_property
    def canonical_sql(self) -> str:
        if self.known_sql is not None:
            return self.known_sql[0]
        if self.wide_statement is not None and (text := wide_select.assemble(self.wide_statement, _canonical, DIALECT, _compact)) is not None:
            return text
        return canonical_sql(self.statement, self.statement_digest)

    @cached_property
    def removal_statement(self) -> exp.Expression | None:
        return self.removal if self.removal is None or isinstance(self.removal, exp.Expression) else self.removal()

    @cached_property
    def removal_sql(self) -> str | None:
        if self.known_sql is not None:
            return self.known_sql[1]
        return canonical_sql(self.removal_statement) if self.removal_statement is not None else None

    @cached_property
    def fingerprint(self) -> str:
        extra = "".join(f"\n{key}={value}" for key, value in self.options + self.columns)
        if self.backend_stamp:  # empty: the fingerprint objects had before backends stamped them
            extra += f"\nbackend={self.backend_stamp}"
        if self.fingerprint_source is not None:
            return hashlib.sha256(f"{self.kind}\n{self.fingerprint_source}{extra}".encode()).hexdigest()[:16]
        removal = f"\nremoval={self.removal_sql}" if self.removal_sql is not None else ""
        return hashlib.sha256((self.canonical_sql + removal + extra).encode()).hexdigest()[:16]

    def stamped(self, backend_stamp: str) -> "DesiredObject":
        """This object with the backend's stamp (itself when the stamp is already that)."""
        if backend_stamp == self.backend_stamp:
            return self
        return dataclasses.replace(self, backend_stamp=backend_stamp)

    def sql(self, pretty: bool = True) -> str:
        return self.statement.sql(dialect=DIALECT, pretty=True) if pretty else self.canonical_sql


def canonical_sql(statement: exp.Expression, digest: str | None = None) -> str:
    """The compact form two statements share when they differ only in formatting.

    Compilation builds every identifier from names already case-folded (expressions.py, table()),
    and generates no comments, so the compact SQL itself is canonical. Memoised by the tree (a wide
    SELECT by each of its items: core/wide_select.py), and kept across commands by
    `remembered_canonical_sql`.
    """
    wide = wide_select.split(statement)
    if wide is not None:
        text = wide_select.assemble(wide, _canonical, DIALECT, _compact)
        if text is not None:
            return text
    return _canonical.get(statement, DIALECT, lambda: _compact(statement), digest)


def statement_key(statement: exp.Expression) -> str:
    """The statement's tree key (a wide SELECT's made of its items' keys, which it keeps)."""
    wide = wide_select.split(statement)
    return wide.digest if wide is not None else tree_key(statement)


def _compact(tree: exp.Expression) -> str:
    return tree.sql(dialect=DIALECT, comments=False)


_canonical = TreeMemo(size=8192, name="canonical")
GENERATED_CACHE_FILE = Path(".rulectl") / "cache" / "generated-sql.json"


@contextmanager
def remembered_canonical_sql(root: Path | None) -> Iterator[None]:
    """The SQL generated for the objects the previous command fingerprinted and rendered — the
    canonical SQL, and each target's rendering where its backend keeps one (core/tree_memo.py
    KEPT_MEMOS) — read from .rulectl/cache/ before and written back (only what this command used)
    after: a plan then generates the SQL of what changed only (~0.1 s per large view otherwise; a
    wide view's items one by one). The file is a cache: keyed by each tree's digest (sqlglot's
    version included; a rendering's settings carry rulectl's code stamp), unreadable or unwritable
    it is ignored; written only where .rulectl/ exists (a command that only reads creates nothing
    in the project)."""
    path = root / GENERATED_CACHE_FILE if root is not None else None
    stored: dict = {}
    if path is not None:
        try:
            stored = json.loads(path.read_text())
            for name, memo in KEPT_MEMOS.items():
                if isinstance(stored.get(name), dict):
                    memo.seed_all(stored[name])
        except (OSError, ValueError, TypeError, AttributeError):
            stored = {}
    for memo in KEPT_MEMOS.values():
        memo.take_used_all()  # count from here
    try:
        yield
    finally:
        used = {name: taken for name, memo in KEPT_MEMOS.items() if (taken := memo.take_used_all())}
        used = _with_unused_groups(used, stored)
        if path is not None and used and not _same_in_order(used, stored) and path.parent.parent.is_dir():
            try:
                path.parent.mkdir(exist_ok=True)
                temporary = path.with_suffix(f".{os.getpid()}.tmp")
                temporary.write_text(json.dumps(used))  # in order: each memo's groups newest first
                os.replace(temporary, path)  # atomic: a concurrent reader sees the old or the new file
            except OSError:
                pass


# Renderings a command did not ask for at all (one memo's entries under one settings string) are
# carried over, newest first, up to this many groups a memo: `rulectl plan` renders no DuckDB view
# statement, and dropping them made the `apply` that followed it render the whole segments view
# again (1,106 items at 1,000 x 100, ~0.1 s). A group a command used holds only what it used, and a
# group left by an older rulectl (another code stamp) falls off the end.
KEPT_GROUPS = 3


def _with_unused_groups(used: dict[str, dict[str, dict[str, str]]], stored: dict) -> dict[str, dict[str, dict[str, str]]]:
    merged: dict[str, dict[str, dict[str, str]]] = {}
    for name in KEPT_MEMOS:  # a memo this rulectl no longer has is not carried
        groups = dict(used.get(name, {}))
        earlier = stored.get(name) if isinstance(stored, dict) else None
        for settings, entries in (earlier.items() if isinstance(earlier, dict) else ()):
            if len(groups) >= KEPT_GROUPS:
                break
            if settings not in groups and isinstance(entries, dict):
                groups[settings] = entries
        if groups:
            merged[name] = groups
    return merged


def _same_in_order(used: dict, stored: dict) -> bool:
    """The same entries with the groups in the same order (the order says which group goes next)."""
    return used == stored and [(name, list(groups)) for name, groups in used.items()] == [(name, list(groups)) for name, groups in stored.items()]


def table(qualified: str) -> exp.Table:
    """A table reference, upper-cased the way Snowflake resolves unquoted names."""
    return exp.to_table(qualified.upper(), dialect=DIALECT)


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
