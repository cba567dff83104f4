"""Who is applying, and from which commit of the project: recorded with every apply for `rulectl history`."""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def git_commit(root: Path) -> str | None:
    """HEAD of the git checkout holding `root` (with `+dirty` when files differ from it), or None."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None  # no git on this machine
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    if not head:
        return None
    dirty = git("status", "--porcelain", "--", ".")
    return f"{head}+dirty" if dirty else head


def applied_by(session_user: str | None) -> str:
    """The engine's user when it has one, with the OS user beside it."""
    user = os_user()
    return f"{session_user} (os user {user})" if session_user and session_user != user else user
