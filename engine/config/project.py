"""A loaded project and the facts derived from it that every later stage reads (which source
lists the customers, which columns the views rulectl builds will have)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from engine.config.models import Metric, Project, Prompt, RuleTest, Segmentation
from engine.config.yaml_lines import LocatedDocument
from engine.core.errors import Problem

ModelT = TypeVar("ModelT", bound=BaseModel)
INPUT_VIEWS = ("customer_metrics", "customer_segments")
INSIGHTS_VIEW = "CUSTOMER_INSIGHTS"  # the wide, BI-ready view in the ai schema: one row per customer
LATEST_VIEW_PREFIX = "LATEST_"  # LATEST_<PROMPT>: one prompt's latest output and stale flag, joined by the wide view


@dataclass(frozen=True)
class Located(Generic[ModelT]):
    """A model and where it was written, so later checks can point at the right line."""

    item: ModelT
    doc: LocatedDocument
    path: tuple[Any, ...]

    def at(self, *subpath: Any) -> tuple[str, int]:
        return self.doc.file, self.doc.line_of(self.path + subpath)

    def problem(self, message: str, *subpath: Any) -> Problem:
        file, line = self.at(*subpath)
        return Problem(file, line, message)


@dataclass(frozen=True)
class LoadedProject:
    """Everything rulectl read from a project directory, validated for shape."""

    root: Path
    project: Located[Project]
    metrics: list[Located[Metric]] = field(default_factory=list)
    segmentations: list[Located[Segmentation]] = field(default_factory=list)
    prompts: list[Located[Prompt]] = field(default_factory=list)
    rule_tests: list[Located[RuleTest]] = field(default_factory=list)  # tests/*.yml
    warnings: tuple[Problem, ...] = ()  # valid, but worth a look (e.g. a division that can meet a zero)
    inputs_digest: str | None = field(default=None, compare=False)  # key of core/project_cache.py: every byte load read

    @property
    def config(self) -> Project:
        return self.project.item


def spine_name(loaded: LoadedProject) -> str:
    """The source that lists every customer exactly once: `entity:`, else the first key-grain source."""
    entity = loaded.config.entity
    if entity and entity in loaded.config.sources and loaded.config.sources[entity].key:
        return entity
    return next(name for name, source in loaded.config.sources.items() if source.key)


def spine_columns(loaded: LoadedProject) -> list[str]:
    return [c.lower() for c in loaded.config.sources[spine_name(loaded)].columns]


def input_view_columns(loaded: LoadedProject, view: str) -> list[str]:
    """Columns of a view rulectl builds, in order (metrics view, then segments view)."""
    columns = spine_columns(loaded) + [m.item.name.lower() for m in loaded.metrics]
    if view == "customer_segments":
        for seg in loaded.segmentations:
            columns.append(seg.item.name.lower())
            if any(rule.action for rule in seg.item.rules) and seg.item.match == "first":
                columns.append(f"{seg.item.name.lower()}_action")
    return columns


def display_name_column(loaded: LoadedProject) -> str:
    """The column that names a customer in output: `display.name`, else the entity key."""
    return (loaded.config.display.name or loaded.config.sources[spine_name(loaded)].key or "").lower()


def entity_key(loaded: LoadedProject) -> str:
    return (loaded.config.sources[spine_name(loaded)].key or "").lower()


def segment_labels(loaded: LoadedProject) -> list[str]:
    """Every label a customer can get, in declaration order (rules, then defaults)."""
    labels: dict[str, None] = {}
    for located in loaded.segmentations:
        labels.update({rule.segment: None for rule in located.item.rules})
        if located.item.default is not None:
            labels[located.item.default] = None
    return list(labels)
