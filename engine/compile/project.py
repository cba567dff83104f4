"""The whole project → desired objects, in dependency order."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from engine.compile.enrichments import enrichment_objects
from engine.compile.insights_view import insights_objects
from engine.compile.metrics import metrics_view
from engine.compile.objects import DesiredObject
from engine.compile.prompts import prompt_objects
from engine.compile.search import search_objects
from engine.compile.segments import segments_view
from engine.compile.semantic_view import semantic_view
from engine.config.models import Target
from engine.config.project import LoadedProject
from engine.core import project_cache


def schema_object(name: str) -> DesiredObject:
    statement = exp.Create(this=exp.Table(this=exp.to_identifier(name)), kind="SCHEMA", exists=True)
    return DesiredObject("schema", name, name, statement)


def _schemas(loaded: LoadedProject, settings: Target | None) -> list[DesiredObject]:
    schemas = loaded.config.schemas
    return [schema_object(schemas.analytics)] + ([schema_object(schemas.ai)] if schemas.ai != schemas.analytics else [])


def _enrichments(loaded: LoadedProject, settings: Target | None) -> list[DesiredObject]:
    return enrichment_objects(loaded, settings.warehouse if settings else None, settings.task_state if settings else "started", serverless=settings.serverless_tasks if settings else False)


def _metrics(loaded: LoadedProject, settings: Target | None) -> list[DesiredObject]:
    return [metrics_view(loaded)]


def _segments(loaded: LoadedProject, settings: Target | None) -> list[DesiredObject]:
    return [segments_view(loaded)]


def _prompts(loaded: LoadedProject, settings: Target | None) -> list[DesiredObject]:
    """Each prompt's objects, then the wide insights view over the prompts' outputs."""
    prompt_objs = prompt_objects(loaded, settings.warehouse if settings else None, settings.task_state if settings else "started", serverless=settings.serverless_tasks if settings else False)
    compiled_prompts = [obj.details["compiled"] for obj in prompt_objs if "compiled" in obj.details]
    return prompt_objs + (insights_objects(loaded, compiled_prompts) if compiled_prompts else [])


def _search(loaded: LoadedProject, settings: Target | None) -> list[DesiredObject]:
    return search_objects(loaded, settings, settings.task_state if settings else "started")


def _semantic_view(loaded: LoadedProject, settings: Target | None) -> list[DesiredObject]:
    return [semantic_view(loaded)] if settings is not None and settings.semantic_view else []


# Each part compiles on its own from the loaded project, so one restored from the project cache is
# built only when something asks for one of its statements (an edited rule: the segments view only).
PARTS: dict[str, Callable[[LoadedProject, Target | None], list[DesiredObject]]] = {
    "schemas": _schemas,
    "enrichments": _enrichments,
    "metrics": _metrics,
    "segments": _segments,
    "prompts": _prompts,
    "search": _search,
    "semantic_view": _semantic_view,
}


def compile_project(loaded: LoadedProject, target: str | None = None) -> list[DesiredObject]:
    """Every object rulectl manages for this project, each after the objects it depends on.

    The target matters only for tasks (its warehouse and declared task state) and for the opt-in
    semantic view.
    """
    settings = _settings(loaded, target)
    return [obj for part in PARTS.values() for obj in part(loaded, settings)]


def remembered_objects(loaded: LoadedProject, target: str | None = None) -> list[DesiredObject]:
    """compile_project's objects. Where the project cache (core/project_cache.py) holds what an
    earlier command compiled from the same inputs, a part whose objects it could keep comes back
    from there — names, dependencies, details and canonical SQL, so plan fingerprints and diffs it
    — and its statements are compiled when first asked for; the other parts are compiled now."""
    settings = _settings(loaded, target)
    target_name = target or loaded.config.default_target
    section = f"objects:{target_name}"
    remembered = project_cache.cached(loaded.root, loaded.inputs_digest, section)
    if isinstance(remembered, dict) and set(remembered) == set(PARTS):
        return [obj for name, part in PARTS.items() for obj in _restored(remembered[name], part, loaded, settings)]
    part_keys = {name: part_digest(loaded, name) for name in PART_INPUTS}
    parts = {}
    for name, part in PARTS.items():  # a part whose own inputs did not change comes back from the cache
        kept = project_cache.cached(loaded.root, part_keys.get(name), f"{name}:{target_name}")
        parts[name] = _restored(kept, part, loaded, settings) if isinstance(kept, list) else part(loaded, settings)
    if loaded.inputs_digest is not None:
        kept_parts = {name: _kept(objects) for name, objects in parts.items()}
        project_cache.remember(loaded.root, loaded.inputs_digest, section, kept_parts)
        for name, digest in part_keys.items():
            project_cache.remember(loaded.root, digest, f"{name}:{target_name}", kept_parts[name])
    return [obj for objects in parts.values() for obj in objects]


# Parts compiled from less than the whole project, also cached under a key of only what they read,
# so an edit elsewhere restores them instead of compiling them: a rule edit at 1,000 metrics keeps
# the metrics view (~0.2 s to compile, and its SQL to generate). metrics_view reads the project's
# settings and its metrics, nothing else (compile/metrics.py: `loaded.config`, `loaded.metrics`);
# tests/core/test_project_cache.py edits each other input and checks it is compiled again.
PART_INPUTS: dict[str, Callable[[LoadedProject], list[Any]]] = {
    "metrics": lambda loaded: [located.item for located in loaded.metrics],
}


def part_digest(loaded: LoadedProject, name: str) -> str | None:
    """The key of one part's own inputs: the project's settings and what PART_INPUTS names, as their
    validated values (not file bytes: a rules file holds metrics and rules alike), plus rulectl.
    Also the key of what else is derived from those inputs alone (backends/registry.py's scales)."""
    if loaded.inputs_digest is None:  # a project not read from files is never cached
        return None
    key = (loaded.inputs_digest, name)  # the same YAML bytes and rulectl give the same values
    if key not in _PART_DIGESTS:
        inputs = {"settings": loaded.config.model_dump(mode="json"), name: [item.model_dump(mode="json") for item in PART_INPUTS[name](loaded)]}
        text = json.dumps(inputs, separators=(",", ":"))  # not sorted: the order of sources, columns and joins is compiled
        _PART_DIGESTS[key] = project_cache.inputs_digest([(f"part:{name}", hashlib.sha256(text.encode()).hexdigest())])
    return _PART_DIGESTS[key]


_PART_DIGESTS: dict[tuple[str, str], str] = {}  # part_digest's, per process


def _settings(loaded: LoadedProject, target: str | None) -> Target | None:
    return loaded.config.targets.get(target or loaded.config.default_target)


def _kept(objects: list[DesiredObject]) -> list[dict[str, Any]] | None:
    """What the cache keeps of one part's objects, or None (the part is compiled each time) when
    an object's details are more than JSON gives back exactly (a compiled prompt, a tuple)."""
    kept = []
    for obj in objects:
        try:
            if type(obj.details) is not dict or json.loads(json.dumps(obj.details)) != obj.details:
                return None
        except (TypeError, ValueError):
            return None
        kept.append({
            "kind": obj.kind, "schema": obj.schema, "name": obj.name, "depends_on": list(obj.depends_on),
            "columns": [list(pair) for pair in obj.columns], "options": [list(pair) for pair in obj.options],
            "details": obj.details, "fingerprint_source": obj.fingerprint_source, "removal": obj.removal is not None, "wide": obj.wide is not None,
            # the SQL plan hashes: not needed (nor built) where a fingerprint_source stands for it
            "sql": [obj.canonical_sql, obj.removal_sql] if obj.fingerprint_source is None else None,
        })
    return kept


def _restored(kept: list[dict[str, Any]] | None, part, loaded: LoadedProject, settings: Target | None) -> list[DesiredObject]:
    """One part's objects from the cache, each statement built (with the part) when first asked for."""
    if kept is None:
        return part(loaded, settings)
    built = functools.cache(lambda: {obj.qualified_name: obj for obj in part(loaded, settings)})
    objects = []
    for item in kept:
        qualified = item["name"] if item["kind"] == "schema" else f"{item['schema']}.{item['name']}"
        objects.append(DesiredObject(
            item["kind"], item["schema"], item["name"],
            build=lambda qualified=qualified: built()[qualified].statement,
            depends_on=tuple(item["depends_on"]),
            columns=tuple(tuple(pair) for pair in item["columns"]),
            options=tuple(tuple(pair) for pair in item["options"]),
            details=item["details"],
            fingerprint_source=item["fingerprint_source"],
            removal=(lambda qualified=qualified: built()[qualified].removal_statement) if item["removal"] else None,
            known_sql=tuple(item["sql"]) if item["sql"] is not None else None,
            # compiled item by item: restored so too, its items keyed as when it was compiled
            wide=(lambda qualified=qualified: built()[qualified].wide_statement) if item.get("wide") else None,
        ))
    return objects
