"""Pause Python's cyclic garbage collector while building large sqlglot trees.

sqlglot ASTs are cyclic (every node points to its parent), so each collection pass walks every live
node; while a big plan is being compiled that work grows with the heap and frees nothing. Measured
on a 1,000-object project: compile 5.5 s → 2.4 s with collection paused.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
