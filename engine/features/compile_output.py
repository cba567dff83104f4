"""SQL text of compiled objects for a target's dialect, as `rulectl compile` shows it."""

from __future__ import annotations

from collections.abc import Iterator

from engine.backends.base import owner_tag
from engine.backends.registry import target_backend_class, target_name
from engine.compile.objects import DesiredObject
from engine.compile.project import compile_project
from engine.config.project import LoadedProject


def compiled_sql(loaded: LoadedProject, requested_target: str | None) -> Iterator[tuple[DesiredObject, str]]:
    """Each object with the SQL its target runs, as its backend renders it (see Backend.compiled_text)."""
    name = target_name(loaded, requested_target)
    renderer = target_backend_class(loaded, name).for_rendering(loaded, name)
    try:
        for obj in renderer.as_deployed(compile_project(loaded, name)):  # the fingerprint apply would tag it with
            yield obj, renderer.compiled_text(obj, owner_tag(loaded.config.name, obj.fingerprint))
    finally:
        renderer.close()
