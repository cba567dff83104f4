"""Rules already proven satisfiable, remembered under .rulectl/ so a command proves only new rules.

Every command loads the project through the solver's check that each rule can match (a rule TRUE
for no customer is a validation error). At 500 rules that proof costs about a second on every
`plan`; most of those rules did not change since the last command. A rule's proof depends only on
its condition and on what the solver knows of the names it reads (column kinds, derived metric
definitions, never-NULL and non-negative inputs): `rule_key` hashes exactly that, plus the
solver code itself, so any change to one of them proves the rule again. Only "satisfiable" is
remembered (an unsatisfiable rule is an error the analyst fixes; it is proven again each time).

The file is a cache: unreadable, unwritable or damaged, it is ignored and the rules are proven.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

import sqlglot

CACHE_FILE = Path(".rulectl") / "cache" / "satisfiable-rules.json"


@functools.lru_cache(maxsize=1)
def _solver_code_stamp() -> str:
    """The solver's own code and the libraries it reasons with: a new rulectl, sqlglot (which parses
    the conditions and derived metrics the key holds as text) or z3 proves every rule again."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"{sqlglot.__version__}\x00{_z3_version()}".encode())
    # the parser too: a derived metric stands in the signature as its text (domains.py Definitions)
    for path in [here / name for name in ("rule_proofs.py", "simple_rules.py", "domains.py", "rule_checks.py", "three_valued.py")] + [here.parent / "core" / "expressions.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _z3_version() -> str:
    try:
        return importlib.metadata.version("z3-solver")  # without importing z3 (~20 ms)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def signature_digest(domains) -> str:
    """What the solver knows of the inputs (Domains.signature), hashed."""
    return hashlib.sha256(domains.signature().encode()).hexdigest()


def rule_key(signature: str, condition: str) -> str:
    return hashlib.sha256(f"{_solver_code_stamp()}\x00{signature}\x00{condition}".encode()).hexdigest()[:32]


class ProofCache:
    """The keys of rules proven satisfiable; `save` keeps only the keys used by this load."""

    def __init__(self, root: Path | None):
        self.path = root / CACHE_FILE if root is not None else None
        self.known = self._read()
        self.used: set[str] = set()

    def _read(self) -> set[str]:
        if self.path is None:
            return set()
        try:
            return set(json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return set()

    def __contains__(self, key: str) -> bool:
        if key in self.known:
            self.used.add(key)
            return True
        return False

    def add(self, key: str) -> None:
        self.used.add(key)

    def save(self) -> None:
        """Write the proven keys — only into a project that already has its .rulectl/ folder, so a
        command that only reads (validate, a plan before any load) creates nothing in the project."""
        if self.path is None or self.used == self.known or not self.path.parent.parent.is_dir():
            return
        try:
            self.path.parent.mkdir(exist_ok=True)
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(sorted(self.used)))
            os.replace(temporary, self.path)  # atomic: a concurrent reader sees the old or the new file
        except OSError:
            pass  # a read-only project still works; it proves its rules each time
