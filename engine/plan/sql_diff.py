"""The SQL diff plan shows for a changed view or task, at the cost of what changed.

Both sides are compact canonical SQL (what rulectl applied, and the planned object's fingerprinted
text). They are cut at top-level commas (select items, CTEs) by a scan for quotes and brackets — no parse,
no pretty-printing of the whole statement — and only the parts that differ are pretty-printed and
diffed line by line. For a 40,000-character segments view with one changed rule that is the one
CASE instead of two full parses and pretty-prints.
"""

from __future__ import annotations

import difflib
import functools
import re

import sqlglot

from engine.core.expressions import DIALECT

OUTPUT_NAME = re.compile(r"\sAS\s+([A-Za-z_][A-Za-z0-9_$]*)(?:\s+FROM\s.*)?$", re.DOTALL)  # compact or pretty


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


# what can hold a comma that does not separate parts: string literals ('' and \' escapes), quoted
# identifiers, $$ strings, comments; and the brackets whose depth decides
_TOKENS = re.compile(r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*"|\$\$.*?\$\$|--[^\n]*|/\*.*?\*/|[()\[\]{},]""", re.DOTALL)
_OPENING, _CLOSING = "([{", ")]}"


@functools.lru_cache(maxsize=4)
def _cut(sql: str) -> tuple[str, ...]:
    """Kept for the command: plan's diff and its segment impact both cut the deployed segments view.
    A scan for quotes, comments and brackets (~2 ms for 40,000 characters; sqlglot's tokenizer,
    which gives the same parts, took ~40 ms)."""
    parts, depth, start = [], 0, 0
    for token in _TOKENS.finditer(sql):
        text = token.group()
        if len(text) != 1:  # a literal, identifier or comment: nothing inside it counts
            continue
        if text in _OPENING:
            depth += 1
        elif text in _CLOSING:
            depth -= 1
        elif depth == 0:
            parts.append(sql[start:token.start()].strip())
            start = token.end()
    parts.append(sql[start:].strip())
    return tuple(parts)


_LITERAL = re.compile(r"""'(?:[^'\\]|\\.|'')*'""")


def output_name(part: str) -> str | None:
    """The column a select item defines (`… AS name`), for the hunk header: read with the string
    literals emptied (`'moved AS tier FROM x'` names nothing)."""
    match = OUTPUT_NAME.search(_LITERAL.sub("''", part))
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
