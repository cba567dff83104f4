"""Local GGUF models for `provider: local`: the catalog, where files live, download and verification.

A catalog entry pins the publisher's file by size and SHA-256. rulectl never loads a file whose
hash it has not checked against that pin (a half-downloaded or altered file is refused), and a
download lands under a `.part` name that is renamed only once its hash matches.

Files live in the user's cache directory (`$RULECTL_MODEL_DIR`, else `$XDG_CACHE_HOME/rulectl/models`,
else `~/.cache/rulectl/models`). A `<file>.verified` stamp records the hash with the size and
modification time it was computed for, so a 0.5 GB file is hashed once, not at every run.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.config.model_catalog import CATALOG, CatalogModel
from engine.core.errors import RulectlError

CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_SECONDS = 30.0




@dataclass(frozen=True)
class ModelFile:
    """A model file checked and ready to load: what rows record as the model that answered."""

    name: str  # catalog name, or the file name of a GGUF path
    path: Path
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.name}@sha256:{self.sha256}"


def model_dir() -> Path:
    explicit = os.environ.get("RULECTL_MODEL_DIR")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rulectl" / "models"


def catalog_path(model: CatalogModel) -> Path:
    return model_dir() / model.file


def is_catalog_name(spec: str) -> bool:
    return spec in CATALOG


def resolve_model(spec: str, base: Path | None = None) -> ModelFile:
    """The checked file behind a `model:` setting: a catalog name (pulled, hash = the pin) or a path
    to a GGUF file (relative to `base`, the project directory). Raises RulectlError otherwise."""
    if spec in CATALOG:
        entry = CATALOG[spec]
        path = catalog_path(entry)
        if not path.is_file():
            raise RulectlError(f"model `{spec}` is not downloaded yet: run `rulectl model pull {spec}` ({entry.size / 1e6:,.0f} MB), or {place_by_hand(entry)}")
        digest = file_sha256(path)
        if digest != entry.sha256:
            raise RulectlError(f"{path} is not the pinned `{spec}` file (SHA-256 {digest}, expected {entry.sha256}); it was not loaded. Delete it and run `rulectl model pull {spec}`")
        return ModelFile(spec, path, digest)
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not path.is_file():
        names = ", ".join(CATALOG)
        raise RulectlError(f"model `{spec}` is neither a catalog model ({names}; see `rulectl model list`) nor an existing GGUF file ({path} not found)")
    return ModelFile(path.name, path, file_sha256(path))


def place_by_hand(entry: CatalogModel) -> str:
    return f"download {entry.url} on a machine that can reach it and place it at {catalog_path(entry)} (SHA-256 {entry.sha256}), then run `rulectl model verify`"


def file_sha256(path: Path) -> str:
    """The file's SHA-256, from its `.verified` stamp when size and modification time still match."""
    stat = path.stat()
    stamp = path.with_name(path.name + ".verified")
    try:
        saved = json.loads(stamp.read_text())
        if saved["size"] == stat.st_size and saved["mtime_ns"] == stat.st_mtime_ns:
            return str(saved["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    try:
        stamp.write_text(json.dumps({"sha256": value, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
    except OSError:
        pass  # a read-only directory: hash again next time
    return value


def pull(name: str, on_progress: Callable[[int, int], None] = lambda done, total: None) -> Path:
    """Download a catalog model into the cache, resuming a `.part` file left by an earlier attempt;
    the file gets its final name only when its SHA-256 matches the pin."""
    entry = catalog_entry(name)
    target = catalog_path(entry)
    if target.is_file() and file_sha256(target) == entry.sha256:
        on_progress(entry.size, entry.size)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    done = partial.stat().st_size if partial.is_file() else 0
    if done > entry.size:  # not a prefix of this file
        partial.unlink()
        done = 0
    if done < entry.size:
        _download(entry, partial, done, on_progress)
    digest = hashlib.sha256()
    with partial.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    if digest.hexdigest() != entry.sha256:
        partial.unlink()
        raise RulectlError(f"the download of `{name}` does not match its pinned SHA-256 (got {digest.hexdigest()}); it was deleted, not used. Run `rulectl model pull {name}` again")
    partial.replace(target)
    file_sha256(target)  # writes the stamp
    return target


def _download(entry: CatalogModel, partial: Path, done: int, on_progress: Callable[[int, int], None]) -> None:
    request = urllib.request.Request(entry.url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            if done and response.status != 206:  # the server ignored the range: start over
                done = 0
            with partial.open("ab" if done else "wb") as out:
                on_progress(done, entry.size)
                for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                    out.write(chunk)
                    done += len(chunk)
                    on_progress(done, entry.size)
        if done < entry.size:
            raise ConnectionError(f"the connection closed after {done:,} of {entry.size:,} bytes")
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        kept = f"; the {done / 1e6:,.0f} MB received are kept and the next pull resumes" if done else ""
        raise RulectlError(f"could not download `{entry.name}` from {entry.url} ({reason}){kept}. Without a route to the publisher, {place_by_hand(entry)}") from None


def catalog_entry(name: str) -> CatalogModel:
    if name not in CATALOG:
        raise RulectlError(f"`{name}` is not in the model catalog ({', '.join(CATALOG)}); any other GGUF file can be named by its path in `llm: model:`")
    return CATALOG[name]


@dataclass(frozen=True)
class ModelState:
    model: CatalogModel
    path: Path
    state: str  # "verified", "missing", "partial (N MB)", "hash mismatch"


def model_states(verify: bool = True) -> list[ModelState]:
    """Each catalog model and what the cache holds of it (`verify`: hash present files)."""
    states = []
    for entry in CATALOG.values():
        path = catalog_path(entry)
        partial = path.with_name(path.name + ".part")
        if path.is_file():
            state = ("verified" if file_sha256(path) == entry.sha256 else "hash mismatch: delete it and pull again") if verify else "present"
        elif partial.is_file():
            state = f"partial ({partial.stat().st_size / 1e6:,.0f} of {entry.size / 1e6:,.0f} MB): `rulectl model pull {entry.name}` resumes"
        else:
            state = "not downloaded"
        states.append(ModelState(entry, path, state))
    return states
