"""The SQL diff plan shows for a changed view or task, at the cost of what changed.

Both sides are compact canonical SQL (what rulectl applied, and the planned object's fingerprinted
text). They are cut at top-level commas (select items, CTEs) with sqlglot's tokenizer — no parse,
no pretty-printing of the whole statement — and only the parts that differ are pretty-printed and
diffed line by line. For a 40,000-character segments view with one changed rule that is the one
CASE instead of two full parses and pretty-prints.
"""

from __future__ import annotations

import difflib
import functools
import re

import sqlglot
from sqlglot.tokens import TokenType

from engine.core.expressions import DIALECT

OPENING = {TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE}
OUTPUT_NAME = re.compile(r"\sAS\s+([A-Za-z_][A-Za-z0-9_$]*)(?:\s+FROM\s.*)?$", re.DOTALL)  # compact or pretty
CLOSING = {TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE}


def sql_diff(before: str, after: str) -> str | None:
    """Unified diff (`deployed` → `planned`) of the parts of two statements that differ, pretty-printed."""
    if before == after:
        return None
    old_parts, new_parts = top_level_parts(before), top_level_parts(after)
    hunks: list[str] = []
    matcher = difflib.SequenceMatcher(a=old_parts, b=new_parts, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i2 - i1 == j2 - j1:  # parts changed in place: one hunk each, named by its column
            groups = [([old], [new]) for old, new in zip(old_parts[i1:i2], new_parts[j1:j2])]
        else:
            groups = [(old_parts[i1:i2], new_parts[j1:j2])]
        for old_group, new_group in groups:
            hunks += _hunk(old_group, new_group)
    if not hunks:
        return None
    return "\n".join(["--- deployed", "+++ planned", *hunks])


def _hunk(old_parts: list[str], new_parts: list[str]) -> list[str]:
    old_lines = [line for part in old_parts for line in _pretty(part)]
    new_lines = [line for part in new_parts for line in _pretty(part)]
    body = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=2))[2:]  # no file headers
    names = [name for part in (new_parts or old_parts) if (name := output_name(part))]
    header = f"@@ {', '.join(names) or 'statement'} @@"
    return [header if line.startswith("@@") and index == 0 else ("…" if line.startswith("@@") else line) for index, line in enumerate(body)]


def top_level_parts(sql: str) -> list[str]:
    """`sql` cut at commas outside any parentheses, brackets or braces (whole text if it cannot be tokenized)."""
    return list(_cut(sql))


@functools.lru_cache(maxsize=4)
def _cut(sql: str) -> tuple[str, ...]:
    """Kept for the command: plan's diff and its segment impact both cut the deployed segments view
    (tokenizing 40,000 characters costs ~30 ms)."""
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
    except Exception:
        return (sql,)
    parts, depth, start = [], 0, 0
    for token in tokens:
        if token.token_type in OPENING:
            depth += 1
        elif token.token_type in CLOSING:
            depth -= 1
        elif token.token_type == TokenType.COMMA and depth == 0:
            parts.append(sql[start:token.start].strip())
            start = token.end + 1
    parts.append(sql[start:].strip())
    return tuple(parts)


def output_name(part: str) -> str | None:
    """The column a select item defines (`… AS name`), for the hunk header."""
    match = OUTPUT_NAME.search(part)
    return match.group(1) if match else None


def _pretty(part: str) -> list[str]:
    """A part as pretty SQL lines: as a select item (indented as in the whole statement), else as a
    statement, else as written."""
    try:
        lines = sqlglot.parse_one(f"SELECT {part}", read=DIALECT).sql(dialect=DIALECT, pretty=True).splitlines()
        return lines[1:] if lines and lines[0] == "SELECT" else lines
    except Exception:
        pass
    try:
        return sqlglot.parse_one(part, read=DIALECT).sql(dialect=DIALECT, pretty=True).splitlines()
    except Exception:
        return [part]
