"""Every paid reply kept on the local target: a journal of replies that arrived but are not yet
committed to the output table.

A refresh commits its replies one batch at a time (one MERGE per batch). A process killed in the
middle of a batch (kill -9, a crash, a closed laptop) would throw away every reply of that batch;
the next run would pay for them again. So each good reply is appended to a journal file the moment
it arrives, keyed by a hash of the request (model, system text, prompt text, options: everything
that decides the reply), and the next run answers a request the journal holds from it instead of
calling the model. A reply for a row whose inputs changed since has another key and is not reused.

One file per task under `.rulectl/journal/`, beside the DuckDB file, whose lock makes one process
its only writer. Each reply is one line, written with a single `write` to a file opened for
appending: the kernel holds it the moment `write` returns, so a killed process loses at most the
calls in flight; it is not fsynced (a power cut can lose the last lines, as it can lose what the
OS had not flushed of the DuckDB file: measured in docs/decisions.md). A line cut short by a kill
is skipped when read. When a run has committed every batch, the journal is rewritten with only the
replies it did not use that may still serve a later run (see `finish`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

JOURNAL_DIR = "journal"


def request_key(*parts: str | None) -> str:
    """The journal key of one request: a hash of every argument the model call receives."""
    return hashlib.sha256(json.dumps([p or "" for p in parts]).encode()).hexdigest()


def journal_path(database: Path, task: str) -> Path:
    """`<folder of the DuckDB file>/journal/<task>.jsonl`."""
    return database.parent / JOURNAL_DIR / f"{task.upper()}.jsonl"


class ReplyJournal:
    """Replies by request key: read from the file once, appended to as replies arrive."""

    def __init__(self, path: Path | None):
        self.path = path  # None: nowhere to keep replies (an in-memory database)
        self.replies: dict[str, str] = _read(path) if path is not None else {}
        self.used: set[str] = set()
        self.recovered = 0  # requests answered from the journal: model calls not paid twice
        self._lock = threading.Lock()
        self._handle: int | None = None

    def __len__(self) -> int:
        return len(self.replies)

    def get(self, key: str) -> str | None:
        """A reply kept for this request (counted as recovered), or None."""
        with self._lock:
            reply = self.replies.get(key)
            if reply is not None:
                self.used.add(key)
                self.recovered += 1
            return reply

    def keep(self, key: str, reply: str) -> None:
        """Append a reply that just arrived; it is on disk when this returns."""
        line = (json.dumps({"key": key, "reply": reply}) + "\n").encode()
        with self._lock:
            self.replies[key] = reply
            self.used.add(key)
            if self.path is None:
                return
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.write(self._handle, line)  # one write per line: a kill leaves whole lines or a cut last one

    def finish(self, capped: bool) -> None:
        """Every batch of the run committed: the replies it used are stored in the output table.
        The others are for rows that were not pending (their inputs changed: never reused) unless
        the run was capped by max_rows, when they may belong to rows a later run reaches."""
        with self._lock:
            self._close()
            if self.path is None:
                return
            left = {k: v for k, v in self.replies.items() if k not in self.used} if capped else {}
            if not left:
                self.path.unlink(missing_ok=True)
                return
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text("".join(json.dumps({"key": k, "reply": v}) + "\n" for k, v in left.items()))
            os.replace(temporary, self.path)

    def close(self) -> None:
        """The run stopped before every batch committed: the file stays for the next run."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None


def _read(path: Path) -> dict[str, str]:
    try:
        lines: Iterable[str] = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return {}
    replies: dict[str, str] = {}
    for line in lines:
        try:
            entry = json.loads(line)
            replies[entry["key"]] = entry["reply"]
        except (ValueError, KeyError, TypeError):
            continue  # the last line of a killed run, cut short
    return replies
