"""What validation and compile read of a rule's text without its tree, kept across commands.

A rule edit changes its file's bytes, so the next command checks every rule of the project again:
at 1,000 metrics x 100 segmentations it parsed all 500 conditions (~90 ms) to learn, of each, the
names it reads, whether it aggregates or scores a window (core/expressions.py ParsedExpression),
and typed each (config/type_checks.py); compile parsed them again in a new process to learn which
segmentations each reads. All of that is a function of the text alone (the types: of the text and
of the types of the names it reads), so it is kept in .rulectl/cache/rule-facts.json, under
rulectl's code stamp (core/project_cache.py `code_stamp`: rulectl's code, sqlglot's version, ...),
for the rules of the project that last passed its checks. A text found there is parsed only when a
step needs its tree (compile builds the segmentations whose rules changed, the impact compares
them); an edit parses the edited rule.

Only texts that parsed and passed the expression checks are kept (a text that fails is parsed
again, and fails again, every time). The file is a cache: unreadable, damaged or of another rulectl
it is ignored; written only where .rulectl/ exists, atomically, when what it holds changed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.project_cache import code_stamp

FACTS_FILE = Path(".rulectl") / "cache" / "rule-facts.json"


@dataclass(frozen=True)
class TextFacts:
    """What ParsedExpression answers without walking its tree."""

    column_names: tuple[str, ...]
    has_aggregate: bool
    has_window: bool


# Process-wide, by text: a text's facts are the same in every project (with the same rulectl).
_facts: dict[str, TextFacts] = {}
# Type verdicts by (text, the types of the names it reads, is it a condition): (its type, errors, warnings).
_verdicts: dict[tuple[str, tuple[tuple[str, str | None], ...], bool], tuple[str, tuple[str, ...], tuple[str, ...]]] = {}


# The verdicts asked for since the last `seed` (a load): only those are saved, so the verdicts of
# types a metric no longer has do not pile up beside a rule's text.
_asked: set[tuple] = set()


def known(text: str) -> TextFacts | None:
    return _facts.get(text)


def verdict(key: tuple) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    found = _verdicts.get(key)
    if found is not None:
        _asked.add(key)
    return found


def remember_verdict(key: tuple, kind: str, errors: tuple[str, ...], warnings: tuple[str, ...]) -> None:
    _verdicts[key] = (kind, tuple(errors), tuple(warnings))
    _asked.add(key)


def seed(root: Path | None) -> None:
    """The facts and verdicts the project's last checked command kept, for this rulectl."""
    _asked.clear()
    stored = _read(root)
    if stored is None:
        return
    for text, (names, aggregate, window) in stored["facts"].items():
        _facts.setdefault(text, TextFacts(tuple(names), aggregate, window))
    for text, env, condition, kind, errors, warnings in stored["verdicts"]:
        _verdicts.setdefault((text, tuple((name, type_) for name, type_ in env), condition), (kind, tuple(errors), tuple(warnings)))


def save(root: Path | None, facts: dict[str, TextFacts]) -> None:
    """Keep `facts` (the project's rules, by text) and the verdicts on those texts this process
    holds, in place of what the file held."""
    if root is None or not (root / ".rulectl").is_dir():
        return
    data = {
        "stamp": code_stamp(),
        "facts": {text: [list(f.column_names), f.has_aggregate, f.has_window] for text, f in facts.items()},
        "verdicts": [
            [text, [list(pair) for pair in env], condition, *_as_lists(_verdicts[(text, env, condition)])]
            for text, env, condition in sorted(_asked, key=repr)  # sorted: the same verdicts, the same file
            if text in facts
        ],
    }
    path = root / FACTS_FILE
    if _read(root) == data:
        return
    try:
        path.parent.mkdir(exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(temporary, path)  # atomic: a concurrent reader sees the old or the new file
    except OSError:
        pass  # a read-only project still works; it parses its rules each time


def _as_lists(value: tuple[str, tuple[str, ...], tuple[str, ...]]) -> list[Any]:
    kind, errors, warnings = value
    return [kind, list(errors), list(warnings)]


def _read(root: Path | None) -> dict[str, Any] | None:
    """The file's content when it is this rulectl's and well formed, else None."""
    if root is None:
        return None
    try:
        data = json.loads((root / FACTS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("stamp") != code_stamp():
        return None
    facts, verdicts = data.get("facts"), data.get("verdicts")
    if not isinstance(facts, dict) or not all(_is_facts(value) for value in facts.values()):
        return None
    if not isinstance(verdicts, list) or not all(_is_verdict(value) for value in verdicts):
        return None
    return data


def _is_facts(value: object) -> bool:
    return (
        isinstance(value, list) and len(value) == 3 and _strings(value[0])
        and isinstance(value[1], bool) and isinstance(value[2], bool)
    )


def _is_verdict(value: object) -> bool:
    if not (isinstance(value, list) and len(value) == 6):
        return False
    text, env, condition, kind, errors, warnings = value
    return (
        isinstance(text, str) and isinstance(condition, bool) and isinstance(kind, str) and _strings(errors) and _strings(warnings)
        and isinstance(env, list) and all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and (pair[1] is None or isinstance(pair[1], str)) for pair in env)
    )


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
