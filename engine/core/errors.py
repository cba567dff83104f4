"""Errors a user can act on. Anything else reaching the CLI is a bug."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the project, located at file:line."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RulectlError(Exception):
    """An error with a message written for the person running rulectl."""


class ConfigErrors(RulectlError):
    """The project's YAML is invalid; carries every problem found, each with file and line."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`; did you mean `x`?` for the closest candidate (compared ignoring case, shown as spelled:
    segment labels are case-sensitive), or nothing."""
    spelled = {c.lower(): c for c in reversed(list(candidates))}  # the first spelling of each wins
    matches = difflib.get_close_matches(name.lower(), list(spelled), n=1, cutoff=0.6)
    return f"; did you mean `{spelled[matches[0]]}`?" if matches else ""


LISTED_AT_MOST = 12  # more names than this are noise: a project may have 1,000 metrics


def listed(names: Iterable[str], kind: str = "") -> str:
    """` (metrics: a, b, c)` when there are few enough to read, else nothing (the did-you-mean says
    the likely one)."""
    names = list(names)
    if not names or len(names) > LISTED_AT_MOST:
        return ""
    return f" ({kind + ': ' if kind else ''}{', '.join(names)})"


class Interrupted(RulectlError):
    """Ctrl-C stopped a command part way; what it finished is kept. The CLI prints the message
    as is and exits 130 (128 + SIGINT, what a shell reports for Ctrl-C)."""
