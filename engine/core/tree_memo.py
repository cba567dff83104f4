"""Text computed from a sqlglot tree, remembered under the tree's serialisation.

Generating SQL from a large tree (the metrics view of 1,000 metrics: ~10,000 nodes) costs
~0.1 s per dialect, and one command asks for the same tree's SQL more than once (plan checks a
view, apply runs it; every apply writes the same state statements), as does the next command for
every object that did not change. The key is sqlglot's own serialisation of the whole tree (node
classes, exact-case values, types, comments), hashed: ~3× cheaper than generating. Not the SQL
text nor sqlglot's `==`/hash, which fold case and would mistake `'EUR'` for `'eur'`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable

import sqlglot
from sqlglot import exp
from sqlglot.serde import dump


def tree_key(tree: exp.Expression) -> str:
    """A digest of the tree's exact content, stable across processes for one sqlglot version."""
    text = json.dumps(dump(tree), default=repr, separators=(",", ":"), check_circular=False)
    return hashlib.sha256(f"{sqlglot.__version__}\x00{text}".encode()).hexdigest()


class TreeMemo:
    """A bounded map (oldest dropped first) from (tree digest, settings) to the text made from it.

    `seed` and `take_used` let a caller keep entries across processes (compile/objects.py keeps the
    canonical SQL of the objects a plan fingerprints under .rulectl/)."""

    def __init__(self, size: int = 4096, track_use: bool = False, name: str | None = None):
        """`name`: this memo's entries are kept across commands under that name (with
        `remembered_texts`); only entries whose settings are a string are, each under them."""
        self.size = size
        self.track_use = track_use or name is not None
        self._values: dict[tuple[str, Hashable], str] = {}
        self._used: set[tuple[str, Hashable]] = set()
        if name is not None:
            KEPT_MEMOS[name] = self

    def get(self, tree: exp.Expression, settings: Hashable, make: Callable[[], str], digest: str | None = None) -> str:
        """`digest`: the tree's `tree_key`, when the caller keeps it (a compiled object, whose tree
        never changes, is keyed once for its canonical SQL and its rendering: ~40 ms for a view of
        100 segmentations)."""
        key = (digest or tree_key(tree), settings)
        value = self._values.get(key)
        if value is None:
            value = make()
            if len(self._values) >= self.size:
                oldest = next(iter(self._values))  # oldest first: bounded memory in a long session
                self._values.pop(oldest, None)
                self._used.discard(oldest)
            self._values[key] = value
        if self.track_use:
            self._used.add(key)
        return value

    def seed(self, entries: dict[str, str], settings: Hashable) -> None:
        """Entries (tree digest → text) made by an earlier process with these settings."""
        for digest, value in entries.items():
            if isinstance(digest, str) and isinstance(value, str):  # a hand-edited file holds anything
                self._values.setdefault((digest, settings), value)

    def seed_all(self, entries: dict[str, dict[str, str]]) -> None:
        """`take_used_all`'s result from an earlier process."""
        for settings, values in entries.items():
            if isinstance(settings, str) and isinstance(values, dict):
                self.seed(values, settings)

    def take_used_all(self) -> dict[str, dict[str, str]]:
        """The entries asked for since the last call, by their settings (string settings only)."""
        asked, self._used = list(self._used), set()
        taken: dict[str, dict[str, str]] = {}
        for digest, settings in asked:
            value = self._values.get((digest, settings))
            if isinstance(settings, str) and value is not None:
                taken.setdefault(settings, {})[digest] = value
        return taken

    def take_used(self, settings: Hashable) -> dict[str, str]:
        """The entries asked for since the last call, with these settings (tree digest → text)."""
        asked = list(self._used)  # one C-level copy: safe while another thread adds keys
        self._used = {key for key in asked if key[1] != settings}
        return {digest: value for digest, kept in asked if kept == settings and (value := self._values.get((digest, kept))) is not None}


KEPT_MEMOS: dict[str, TreeMemo] = {}  # the memos kept across commands, by name (TreeMemo's `name`)
