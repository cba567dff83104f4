"""PyYAML's syntax errors in an analyst's words: what YAML understood, on the line where the
mistake is, and the edit that fixes it (usually: quote the value, or line up the indentation).

PyYAML reports where its parser gave up, in its own vocabulary ("mapping values are not allowed
here", "expected <block end>, but found '?'"). Each translator below recognises one of those
reports, looks at the line the analyst wrote, and says what to change; anything unrecognised
keeps PyYAML's words with the general hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

# `key: value` on one line, with an optional list dash: the key and the value as written
KEY_VALUE = re.compile(r"^(?P<indent>\s*)(?:-\s+)?(?P<key>[A-Za-z_][\w-]*):\s+(?P<value>.*?)\s*$")
KEY_WITHOUT_SPACE = re.compile(r"^\s*(?:-\s+)?(?P<key>[A-Za-z_][\w-]*):(?P<value>[^\s:/].*?)\s*$")
LINE_START = re.compile(r"^(?P<indent> *)(?P<dash>-\s+)?(?P<key>[^\s:#][^:#]*?:(?=\s|$))?")
# characters YAML reserves at the start of a plain value, and what each one means to YAML
RESERVED_START = {
    "@": "is reserved by YAML",
    "`": "is reserved by YAML",
    "%": "starts a YAML directive",
    "?": "marks a YAML key",
    "*": "refers to a YAML anchor (an alias)",
    "!": "starts a YAML tag",
    "{": "starts a YAML mapping",
    "[": "starts a YAML list",
    "|": "starts a YAML block of text",
    ">": "starts a YAML block of text",
}


@dataclass(frozen=True)
class YamlMistake:
    line: int  # 1-based
    message: str


def explain_yaml_error(error: yaml.MarkedYAMLError, text: str) -> YamlMistake:
    """The line and the analyst-facing message for one PyYAML syntax error in `text`."""
    lines = text.splitlines()
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else 1
    reason = error.problem or "invalid YAML"
    for translate in (_colon_in_value, _missing_space, _quoted_then_more, _reserved_start, _unclosed_quote, _unclosed_bracket, _indentation):
        found = translate(error, reason, lines, line)
        if found is not None:
            return found
    return YamlMistake(line, f"YAML syntax error: {reason}{_general_hint(reason, lines, line)}")


def quoted(value: str) -> str:
    """`value` as a YAML quoted scalar: double quotes unless it holds one (SQL text values use
    single quotes, so double quotes rarely clash), else single quotes with `'` doubled."""
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def _line_text(lines: list[str], line: int) -> str:
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _colon_in_value(error: yaml.MarkedYAMLError, reason: str, lines: list[str], line: int) -> YamlMistake | None:
    """`when: a >= 1 AND note: x` — YAML reads the second `: ` as another key."""
    if reason != "mapping values are not allowed here":
        return None
    swallowed = _swallowed_by_line_above(lines, line)
    if swallowed is not None:
        return swallowed
    written = KEY_VALUE.match(_line_text(lines, line))
    if not written:
        return YamlMistake(line, "YAML syntax error: a colon followed by a space inside a value starts a new key in YAML; put the whole value in quotes")
    key, value = written["key"], written["value"]
    return YamlMistake(
        line,
        f"YAML syntax error: the value of `{key}` contains `: ` (a colon and a space), which YAML reads as the start of "
        f"another key; put the whole value in quotes: {key}: {quoted(value)}",
    )


def _swallowed_by_line_above(lines: list[str], line: int) -> YamlMistake | None:
    """`- segment:New` over `  when: x >= 1`: without the space, the item above is one plain text
    that the deeper-indented `when:` line continues, so PyYAML stops at this line's colon. The
    line to fix is the one above, not this line's value."""
    above = next((number for number in range(line - 1, 0, -1) if _line_text(lines, number).strip()
                  and not _line_text(lines, number).lstrip().startswith("#")), None)
    if above is None:
        return None
    text, current = _line_text(lines, above), _line_text(lines, line)
    written = KEY_WITHOUT_SPACE.match(text)
    if not written or KEY_VALUE.match(text) or _indent(current) <= _indent(text):
        return None
    key, value = written["key"], written["value"]
    return YamlMistake(above, f"YAML syntax error: `{key}:{value}` needs a space after the colon: {key}: {value}")


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _missing_space(error: yaml.MarkedYAMLError, reason: str, lines: list[str], line: int) -> YamlMistake | None:
    """`expr:visits / 52` — no space after the colon, so YAML sees no key; PyYAML notices on the
    next line, but the scan started (context mark) on the line the analyst must fix."""
    if reason != "could not find expected ':'" or error.context_mark is None:
        return None
    at = error.context_mark.line + 1
    written = KEY_WITHOUT_SPACE.match(_line_text(lines, at))
    if written:
        key, value = written["key"], written["value"]
        return YamlMistake(at, f"YAML syntax error: `{key}:{value}` needs a space after the colon: {key}: {value}")
    return YamlMistake(
        at,
        "YAML syntax error: this line is neither `key: value` nor a continuation of the value above; add the key "
        "with a space after its colon, or indent a continued value further than its key",
    )


def _quoted_then_more(error: yaml.MarkedYAMLError, reason: str, lines: list[str], line: int) -> YamlMistake | None:
    """`when: 'Gold' = tier` — a value that starts with a quote ends at the closing quote."""
    if reason != "expected <block end>, but found '<scalar>'":
        return None
    written = KEY_VALUE.match(_line_text(lines, line))
    if not written or written["value"][:1] not in ("'", '"'):
        return None
    key, value = written["key"], written["value"]
    closing = value.find(value[0], 1)
    first = value[: closing + 1] if closing > 0 else value
    return YamlMistake(
        line,
        f"YAML syntax error: the value of `{key}` starts with a quote, so YAML takes only {first} as the value and "
        f"cannot read the rest; put the whole value in quotes: {key}: {quoted(value)}",
    )


def _reserved_start(error: yaml.MarkedYAMLError, reason: str, lines: list[str], line: int) -> YamlMistake | None:
    """`when: @x`, `when: ? x`, `when: *x`, `when: {x} > 1` — a character YAML gives a meaning to."""
    written = KEY_VALUE.match(_line_text(lines, line))
    if not written or not written["value"] or written["value"][0] not in RESERVED_START:
        return None
    syntax_reasons = ("cannot start any token", "mapping keys are not allowed here", "found undefined alias", "expected a comment or a line break", "could not determine a constructor")
    if not any(part in reason for part in syntax_reasons):
        return None
    key, value = written["key"], written["value"]
    return YamlMistake(
        line,
        f"YAML syntax error: the value of `{key}` starts with the character {value[0]}, which {RESERVED_START[value[0]]}; "
        f"put the whole value in quotes: {key}: {quoted(value)}",
    )


def _unclosed_quote(error: yaml.MarkedYAMLError, reason: str, lines: list[str], line: int) -> YamlMistake | None:
    if error.context != "while scanning a quoted scalar" or error.context_mark is None:
        return None
    at = error.context_mark.line + 1
    return YamlMistake(at, "YAML syntax error: the quote opened here is never closed; add the closing quote at the end of the value")


def _unclosed_bracket(error: yaml.MarkedYAMLError, reason: str, lines: list[str], line: int) -> YamlMistake | None:
    """`expr: [SUM(arr)` — a value that starts with `[` or `{` is a YAML list or mapping."""
    closing = {"while parsing a flow sequence": ("[", "]", "list"), "while parsing a flow mapping": ("{", "}", "mapping")}.get(error.context or "")
    if closing is None or error.context_mark is None:
        return None
    opening, close, kind = closing
    at = error.context_mark.line + 1
    return YamlMistake(
        at,
        f"YAML syntax error: the `{opening}` here starts a YAML {kind} that is never closed with `{close}`; close it, "
        f"or, if the value is text that starts with `{opening}`, put the whole value in quotes",
    )


def _indentation(error: yaml.MarkedYAMLError, reason: str, lines: list[str], line: int) -> YamlMistake | None:
    """"expected <block end>, but found …": a line indented to a column no block above uses."""
    if not reason.startswith("expected <block end>") or error.problem_mark is None:
        return None
    written = LINE_START.match(_line_text(lines, line))
    column = error.problem_mark.column
    is_item = bool(written and written["dash"])
    shown = (written["key"].rstrip(":") if written and written["key"] else _line_text(lines, line).strip()[:30]) or "this line"
    if is_item:
        item = _line_text(lines, line).strip()
        shown = "the list item `" + (item if len(item) <= 40 else item[:39] + "…") + "`"
    else:
        shown = f"`{shown}`"
    choices = _indent_choices(lines, line, column, is_item)
    advice = " or ".join(f"{indent} spaces ({where})" for indent, where in choices)
    return YamlMistake(
        line,
        f"YAML syntax error: {shown} is indented {column} space{'s' if column != 1 else ''}, which lines up with no "
        f"{'list' if is_item else 'block of keys'} above it" + (f"; indent it {advice}" if advice else "; line it up with the lines it belongs with"),
    )


def _indent_choices(lines: list[str], line: int, column: int, is_item: bool) -> list[tuple[int, str]]:
    """The columns a line could belong to, nearest above and below `column`: the keys (or list
    dashes, for an item) of the blocks still open at the line before."""
    levels: dict[int, str] = {}
    deepest = 10**6
    for number in range(line - 1, 0, -1):
        text = lines[number - 1]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        start = LINE_START.match(text)
        indent = len(start["indent"]) if start else 0
        if indent >= deepest:
            continue
        deepest = indent
        if start and start["dash"]:
            inner = indent + len(start["dash"])
            if is_item:
                levels.setdefault(indent, f"beside the item on line {number}")
            elif start["key"]:
                levels.setdefault(inner, f"beside `{start['key']}` on line {number}")
        elif start and start["key"] and not is_item:
            levels.setdefault(indent, f"beside `{start['key']}` on line {number}")
        if indent == 0:
            break
    above = [(indent, where) for indent, where in sorted(levels.items()) if indent > column][:1]
    below = [(indent, where) for indent, where in sorted(levels.items(), reverse=True) if indent < column][:1]
    return above + below


def _general_hint(reason: str, lines: list[str], line: int) -> str:
    if "\t" in reason or "\t" in _line_text(lines, line):
        return " (YAML does not allow tab characters for indentation; use spaces)"
    return " (check the indentation and that every `key: value` has a space after the colon)"
