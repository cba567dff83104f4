"""The whole project → desired objects, in dependency order."""

from __future__ import annotations

from sqlglot import exp

from engine.compile.enrichments import enrichment_objects
from engine.compile.insights_view import insights_objects
from engine.compile.metrics import metrics_view
from engine.compile.objects import DesiredObject
from engine.compile.prompts import prompt_objects
from engine.compile.search import search_objects
from engine.compile.segments import segments_view
from engine.compile.semantic_view import semantic_view
from engine.config.project import LoadedProject


def schema_object(name: str) -> DesiredObject:
    statement = exp.Create(this=exp.Table(this=exp.to_identifier(name)), kind="SCHEMA", exists=True)
    return DesiredObject("schema", name, name, statement)


def compile_project(loaded: LoadedProject, target: str | None = None) -> list[DesiredObject]:
    """Every object rulectl manages for this project, each after the objects it depends on.

    The target matters only for tasks (its warehouse and declared task state) and for the opt-in
    semantic view.
    """
    schemas = loaded.config.schemas
    settings = loaded.config.targets.get(target or loaded.config.default_target)
    objects = [schema_object(schemas.analytics)]
    if schemas.ai != schemas.analytics:
        objects.append(schema_object(schemas.ai))
    objects += enrichment_objects(
        loaded,
        settings.warehouse if settings else None,
        settings.task_state if settings else "started",
        serverless=settings.serverless_tasks if settings else False,
    )
    objects += [metrics_view(loaded), segments_view(loaded)]
    prompt_objs = prompt_objects(
        loaded,
        settings.warehouse if settings else None,
        settings.task_state if settings else "started",
        serverless=settings.serverless_tasks if settings else False,
    )
    objects += prompt_objs
    compiled_prompts = [obj.details["compiled"] for obj in prompt_objs if "compiled" in obj.details]
    if compiled_prompts:
        objects += insights_objects(loaded, compiled_prompts)
    objects += search_objects(loaded, settings, settings.task_state if settings else "started")
    if settings is not None and settings.semantic_view:
        objects.append(semantic_view(loaded))
    return objects
