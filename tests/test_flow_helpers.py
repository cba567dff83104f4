"""Shared helpers for tests that need the example project deployed on a local target."""

from __future__ import annotations

from pathlib import Path

from engine.backends.registry import open_backend
from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.features.sample_data import load_samples


def deploy_views(project: Path):
    """Load the samples and create every compiled object directly (no plan): a backend to query."""
    loaded = load_project(project)
    backend = open_backend(loaded)
    load_samples(loaded, backend)
    for obj in compile_project(loaded):
        if obj.kind != "task":  # tasks are MERGE bodies that call COMPLETE: not created directly
            backend.execute(obj.statement)
    return backend
