"""What a command derived from a project's YAML, kept under .rulectl/cache/ for the next command that
reads the same bytes with the same rulectl: the semantic checks' verdict (and warnings), the solver's
verdict that every rule can match, and what compile made (compile/project.py `remembered_objects`).
Two parts are also kept under a key of less than the whole project, so an edit elsewhere keeps
them: the metrics' checks and types (config/semantics.py, rulectl.yml and the metric files' bytes)
and the metrics view (compile/project.py PART_INPUTS, the settings' and metrics' values).

At 1,000 metrics x 100 segmentations those cost ~0.6 s of a ~1.2 s no-change `plan`, and most
commands read inputs an earlier command already read. The key (`inputs_digest`) is a SHA-256 of:
- the exact bytes of every YAML file load parsed, and its name (LocatedDocument.digest: hashed
  from the bytes the parser read, so a file edited meanwhile cannot be cached under the old key);
- `code_stamp()`: every source file of rulectl's engine/, this cache's FORMAT, and the versions of
  Python, sqlglot, pydantic and PyYAML (the libraries whose output is cached).
Any change to one of them is another key, so an entry is never stale; nothing else is read by load,
its checks or compile (they read no clock, environment or other file: tests/core/test_project_cache.py).

The file is a cache: unreadable or damaged it is ignored; written only where .rulectl/ exists (a
command that only reads creates nothing in the project), atomically; it keeps the entries of the
last KEPT input digests (an edit and its undoing both stay cached).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT = 1  # bump when the shape of an entry changes
CACHE_FILE = Path(".rulectl") / "cache" / "project.json"
KEPT = 5  # the whole-project entries of an edit and its undoing, their parts' (compile/project.py PART_INPUTS) and the metric checks' (config/semantics.py)


ENGINE = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=2)
def code_stamp(engine: Path = ENGINE) -> str:
    """rulectl's own code and the versions of the libraries whose output the cache holds."""
    import pydantic
    import sqlglot
    import yaml

    digest = hashlib.sha256(f"{FORMAT}\x00{sys.version}\x00{sqlglot.__version__}\x00{pydantic.VERSION}\x00{yaml.__version__}".encode())
    for path in sorted(engine.rglob("*.py")):  # ~120 files, ~5 ms
        digest.update(f"\x00{path.relative_to(engine).as_posix()}\x00".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def inputs_digest(documents: Iterable[tuple[str, str]]) -> str:
    """The key of everything load, its checks and compile read: (file name relative to the project,
    SHA-256 of its bytes) for every YAML file parsed, in the order parsed, plus rulectl. Not the
    project's directory: nothing they make depends on it (a copied project reuses its cache)."""
    digest = hashlib.sha256(code_stamp().encode())
    for name, content in documents:
        digest.update(f"\x00{name}\x00{content}".encode())
    return digest.hexdigest()


def cached(root: Path | None, digest: str | None, section: str) -> Any | None:
    """The value remembered for `section` under `digest`, or None."""
    if root is None or digest is None:
        return None
    entry = _entries(root / CACHE_FILE).get(digest)
    return entry.get(section) if isinstance(entry, dict) else None


def remember(root: Path | None, digest: str | None, section: str, value: Any) -> None:
    """Keep `value` for `section` under `digest` (JSON-serialisable), beside the other sections of
    that digest and the entries of the previous KEPT - 1 digests."""
    if root is None or digest is None or not (root / ".rulectl").is_dir():
        return
    path = root / CACHE_FILE
    entries = dict(_entries(path))
    if list(entries)[-1:] == [digest] and isinstance(entries[digest], dict) and entries[digest].get(section) == value:
        return  # already the newest entry, with this value: nothing to write
    entry = dict(entries.pop(digest, None) or {})
    try:
        entry[section] = json.loads(json.dumps(value))  # as the next command reads it (tuples are lists)
        entries[digest] = entry  # last: the newest
        kept = dict(list(entries.items())[-KEPT:])
        path.parent.mkdir(exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"format": FORMAT, "entries": kept}, separators=(",", ":")))
        os.replace(temporary, path)  # atomic: a concurrent reader sees the old or the new file
        _keep(path, _version(path), kept)
    except (OSError, TypeError, ValueError):
        return


# The file's entries as this process last read or wrote them, by path, with the (mtime, size) they
# were at. A command remembers several sections (an edit at 1,000 x 100: five, into ~600 KB): read
# back after each write, the file cost ~10 ms a time, ~50 ms of the edit. Another process's write is
# another version, read again (os.replace gives the file a new inode, so even a write of the same
# size within the same clock tick is seen); a digest's entry means the same whoever wrote it.
_known: dict[Path, tuple[tuple[int, ...] | None, dict[str, Any]]] = {}
KNOWN_FILES = 4  # projects a process keeps in memory (the test suite opens thousands)


def _version(path: Path) -> tuple[int, ...] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size


def _entries(path: Path) -> dict[str, Any]:
    version = _version(path)
    if version is None:
        return {}
    known = _known.get(path)
    if known is None or known[0] != version:
        return _keep(path, version, _read(path))[1]
    return _keep(path, version, known[1])[1]  # to the back: the most recently read


def _keep(path: Path, version: tuple[int, ...] | None, entries: dict[str, Any]) -> tuple[tuple[int, ...] | None, dict[str, Any]]:
    _known.pop(path, None)
    _known[path] = (version, entries)
    while len(_known) > KNOWN_FILES:  # the least recently read or written project goes
        del _known[next(iter(_known))]
    return _known[path]


def _read(path: Path) -> dict[str, Any]:
    """The file's entries."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), dict):
        return {}
    return data["entries"]
