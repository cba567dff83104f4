"""Ctrl-C as a request to stop at the next safe point (shared by `rulectl run` and `rulectl apply`)."""

from __future__ import annotations

import signal
import threading


class StopRequest:
    """The first Ctrl-C sets `requested`: the caller finishes the unit of work in flight (a batch,
    an apply step) and stops. A second Ctrl-C raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
