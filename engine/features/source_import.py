"""`rulectl init --from-target T --table SCHEMA.TABLE …`: `sources:` entries read from a target's
existing tables (columns and types from INFORMATION_SCHEMA, the grain from the data), added to
rulectl.yml without touching anything else in the file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from sqlglot import exp

from engine.backends.base import Backend
from engine.config.models import QUALIFIED_TABLE
from engine.config.project import LoadedProject, spine_name
from engine.core.errors import RulectlError, did_you_mean
from engine.core.expressions import sf_func

TOP_LEVEL_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")


@dataclass(frozen=True)
class ImportedSource:
    """A source as read from the target, ready to be written into rulectl.yml."""

    name: str
    table: str
    columns: tuple[tuple[str, str], ...]
    key: str | None
    grain: tuple[str, ...] | None
    grain_checked: bool = True  # False: no column pair was unique; the analyst must say
    customer_key: str | None = None  # a grain source's customer column named unlike the entity's key

    @property
    def grain_text(self) -> str:
        return f"key {self.key}" if self.key else f"grain [{', '.join(self.grain or ())}]"

    def yaml_lines(self) -> list[str]:
        columns = ", ".join(f"{name}: {_yaml_type(kind)}" for name, kind in self.columns)
        lines = [f"  {self.name}:", f"    table: {self.table}"]
        if self.key:
            lines.append(f"    key: {self.key}")
        else:
            note = "" if self.grain_checked else "   # rows repeat: check the grain"
            lines.append(f"    grain: [{', '.join(self.grain or ())}]{note}")
            if self.customer_key:
                lines.append(f"    customer_key: {self.customer_key}")
        lines.append(f"    columns: {{{columns}}}")
        return lines


def _yaml_type(kind: str) -> str:
    return f'"{kind}"' if "," in kind else kind


def read_sources(loaded: LoadedProject, backend: Backend, tables: list[str], key: str | None) -> list[ImportedSource]:
    """Each table's columns and grain, read from the target, for a project that exists. `key`: the
    tables' customer column when it is not named like the project's key — a table with one row per
    value becomes a `key:` source keyed by it, any other a `grain:` source naming it `customer_key:`."""
    project_key = (loaded.config.sources[spine_name(loaded)].key or "").lower()
    imported = read_tables(backend, tables, (key or project_key).lower(), taken=loaded.config.sources)
    if not key or key.lower() == project_key:
        return imported
    return [replace(source, customer_key=key.lower()) if source.grain else source for source in imported]


def read_tables(backend: Backend, tables: list[str], customer_key: str | None, taken: Iterable[str] = ()) -> list[ImportedSource]:
    """Each table's columns (types as the target declares them) and grain. `customer_key`: the column
    every table joins on; None takes the first table's first column."""
    if not tables:
        raise RulectlError("name the tables to read: --table SCHEMA.TABLE (repeat for several)")
    taken = set(taken)
    imported: list[ImportedSource] = []
    for qualified in tables:
        if not QUALIFIED_TABLE.match(qualified):
            raise RulectlError(f"--table {qualified}: write SCHEMA.TABLE or DATABASE.SCHEMA.TABLE")
        name = qualified.split(".")[-1].lower()
        if name in taken or any(s.name == name for s in imported):
            raise RulectlError(f"a source named `{name}` already exists in rulectl.yml; remove it first or import another table")
        columns = backend.table_columns(qualified)
        if not columns:
            raise RulectlError(f"table {qualified} was not found on the target (or the role cannot see it)")
        customer_key = (customer_key or columns[0][0]).lower()
        if customer_key not in dict(columns):
            raise RulectlError(f"table {qualified} has no column `{customer_key}` (the customer key); pass --key COLUMN{did_you_mean(customer_key, dict(columns))}")
        imported.append(_with_grain(backend, name, qualified.upper(), tuple(columns), customer_key))
    return imported


def _with_grain(backend: Backend, name: str, table: str, columns: tuple[tuple[str, str], ...], key: str) -> ImportedSource:
    """Key grain when the key is unique; else the key plus the first column that makes rows unique."""
    relation = exp.to_table(table, dialect="snowflake")
    candidates = [column for column, _ in columns if column != key]
    counts = [sf_func("COUNT", exp.Star()), sf_func("COUNT", exp.Distinct(expressions=[exp.column(key)]))]
    total, distinct_keys = backend.query(exp.select(*counts).from_(relation))[0]
    if total == distinct_keys:
        return ImportedSource(name, table, columns, key, None)
    for column in candidates:
        pairs = exp.select(exp.column(key), exp.column(column)).distinct().from_(relation.copy())
        distinct_pairs = backend.query(exp.select(sf_func("COUNT", exp.Star())).from_(pairs.subquery("p")))[0][0]
        if distinct_pairs == total:
            return ImportedSource(name, table, columns, None, (key, column))
    return ImportedSource(name, table, columns, None, (key,), grain_checked=False)


def add_to_project_file(path: Path, sources: list[ImportedSource]) -> str:
    """rulectl.yml's text with the sources appended to its `sources:` block (comments kept)."""
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^sources\s*:\s*(#.*)?$", line)), None)
    if start is None:
        raise RulectlError(f"{path.name} has no block-style `sources:` section to add to; add the sources by hand:\n" + "\n".join(l for s in sources for l in s.yaml_lines()))
    end = start + 1
    while end < len(lines) and not TOP_LEVEL_KEY.match(lines[end]):
        end += 1
    while end - 1 > start and not lines[end - 1].strip():
        end -= 1  # keep blank lines before the next section where they were
    new_lines = [line for source in sources for line in source.yaml_lines()]
    return "\n".join(lines[:end] + new_lines + lines[end:]) + "\n"


def duckdb_target(path: str) -> tuple[str, list[str]]:
    """The `targets:` entry of a project whose tables are in a DuckDB file."""
    return "local", ["  local:", "    engine: duckdb", f"    path: {_yaml_text(path)}", "    llm: {provider: offline}"]


def snowflake_target(connection: str, database: str) -> tuple[str, list[str]]:
    """The `targets:` entry of a project whose tables are in a Snowflake database."""
    return "prod", ["  prod:", "    engine: snowflake", f"    connection: {_yaml_text(connection)}", f"    database: {_yaml_text(database)}"]


def new_project_text(name: str, origin: str, target: tuple[str, list[str]], sources: list[ImportedSource]) -> str:
    """rulectl.yml of a project started from a database's tables: that database as its target, the
    first table with one row per customer as the entity (the customer list)."""
    entity = next((source for source in sources if source.key), None)
    if entity is None:
        key = sources[0].grain[0] if sources[0].grain else "?"
        raise RulectlError(
            f"none of the tables has one row per `{key}`; name a table that lists each customer once "
            f"(--table SCHEMA.CUSTOMERS), or pass --key with the column that does"
        )
    target_name, target_lines = target
    lines = [
        f"# Started by `rulectl init --from-target` from {origin}: check each source's types and grain,",
        "# then add metrics and segmentations under rules/. Docs: rulectl --help",
        f"name: {name}",
        f"default_target: {target_name}",
        f"entity: {entity.name}                # the source that lists every customer once",
        "targets:",
        *target_lines,
        "schemas: {analytics: ANALYTICS, ai: AI}",
        "sources:",
    ]
    return "\n".join(lines + [line for source in sources for line in source.yaml_lines()]) + "\n"


def _yaml_text(text: str) -> str:
    return text if re.fullmatch(r"[\w./-]+", text) else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
