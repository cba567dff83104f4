"""Compile, introspect, diff: the plan for one target. The only module that both reads the project
and asks the target; apply and render take the Plan it returns."""

from __future__ import annotations

import dataclasses

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from engine.ai.cost import CostUnavailable, estimate_costs
from engine.ai.run_log import run_warnings
from engine.backends.base import Backend, DeployedState
from engine.compile.objects import DesiredObject, remembered_canonical_sql
from engine.compile.project import remembered_objects
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.project import INSIGHTS_VIEW, LoadedProject, spine_name
from engine.plan.diff import diff, make_plan
from engine.plan.impact import ImpactUnavailable, SegmentImpact, segment_impact
from engine.plan.model import Action, Plan
from engine.plan.orphan_rows import orphan_rows, unmatched_lookups
from engine.plan.source_check import source_steps
from engine.plan.view_checks import check_planned_views, failed_steps, planned_segments_fail, query_failure


def managed_schemas(loaded: LoadedProject) -> list[str]:
    schemas = loaded.config.schemas
    return list(dict.fromkeys([schemas.analytics.upper(), schemas.ai.upper()]))


def build_plan(
    loaded: LoadedProject,
    backend: Backend,
    target: str,
    adopt: Iterable[str] = (),
    desired: list[DesiredObject] | None = None,
    sources_checked: bool = False,
) -> tuple[Plan, list[DesiredObject], DeployedState]:
    """`sources_checked`: the caller has just refused missing or misdeclared sources on this
    connection (apply, before taking the lock), so the plan does not query them again."""
    with gc_paused(), remembered_canonical_sql(loaded.root):
        return _build_plan(loaded, backend, target, adopt, desired, sources_checked)


def _build_plan(loaded, backend, target, adopt, desired, sources_checked=False):
    # fingerprinted as the backend deploys them (e.g. Snowflake's task wrapper is part of a task's)
    desired = backend.as_deployed(desired if desired is not None else remembered_objects(loaded, target))
    deployed = backend.introspect(managed_schemas(loaded))
    missing_sources = [] if sources_checked else source_steps(loaded, backend)
    steps = missing_sources + diff(loaded.config.name, target, desired, deployed, frozenset(name.upper() for name in adopt))
    if missing_sources:  # nothing can be compared or estimated against tables that are not there
        plan = make_plan(loaded.config.name, target, steps, deployed, notes=tuple(_orphan_notes(deployed, managed_schemas(loaded))))
        return plan, desired, deployed
    notes: list[str] = _orphan_notes(deployed, managed_schemas(loaded)) + backend.task_compute_notes(desired) + run_warnings(loaded, backend) + _unmatched_rows(loaded, backend)
    size_notes, oversized = view_sizes(desired, steps)
    notes += size_notes
    steps = failed_steps(steps, oversized)
    view_failures = check_planned_views(loaded, backend, desired, steps)
    if view_failures:  # impact and cost read the same SQL: one error per broken view says it all
        steps = failed_steps(steps, {f.qualified_name: f.reason for f in view_failures})
        plan = make_plan(loaded.config.name, target, steps, deployed, notes=tuple(notes))
        return plan, desired, deployed
    failures: dict[str, str] = {}
    try:
        impact = segment_impact(loaded, backend, deployed, steps, desired)
    except ImpactUnavailable as reason:
        impact = SegmentImpact()
        broken = planned_segments_fail(loaded, backend)
        if broken is None:  # the deployed view is what fails; apply replaces it
            notes.append(f"segment impact not computed: the deployed views could not be compared ({reason}); apply replaces them")
        else:
            segments = f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}".upper()
            failures[segments] = query_failure(loaded, backend, "the planned segments view", broken)
    notes += list(impact.notes)
    try:
        # a table apply replaces (or one it may not touch) is not what the next refresh reads: estimate as if empty
        rebuilt = {s.qualified_name.upper() for s in steps if s.kind == "table" and s.action in (Action.REPLACE, Action.ERROR)}
        as_refreshed = dataclasses.replace(deployed, objects={key: obj for key, obj in deployed.objects.items() if not (key[0] == "table" and key[1] in rebuilt)})
        costs, cost_failures = estimate_costs(loaded, backend, desired, as_refreshed, changing={s.qualified_name for s in steps if s.changes})
        failures.update({task: query_failure(loaded, backend, "the AI refresh estimate", reason) for task, reason in cost_failures.items()})
    except CostUnavailable as reason:
        costs = []
        failure = query_failure(loaded, backend, "the AI refresh estimate", str(reason))
        failures.update({obj.qualified_name.upper(): failure for obj in desired if obj.kind == "task"})
    steps = failed_steps(steps, failures)
    plan = make_plan(loaded.config.name, target, steps, deployed, segment_moves=impact.moves, segment_sizes=impact.sizes, segment_warnings=impact.warnings, ai_costs=tuple(costs), notes=tuple(notes))
    return plan, desired, deployed


# Snowflake limits a view's definition to 1 MB (https://docs.snowflake.com/en/sql-reference/sql/create-view);
# plan says how close a changing view comes once it passes a quarter of that, and refuses one over it.
VIEW_DEFINITION_LIMIT = 1024 * 1024
VIEW_SIZE_SHOWN = VIEW_DEFINITION_LIMIT // 4


def view_sizes(desired: list[DesiredObject], steps: list) -> tuple[list[str], dict[str, str]]:
    """(notes on large changing views, errors for views over the limit). Views built lazily per
    prompt (bounded by one prompt's SQL) are not built for this; the wide view is, when it changes."""
    changing = {s.qualified_name.upper() for s in steps if s.changes and s.kind == "view"}
    notes, oversized = [], {}
    for obj in desired:
        if obj.kind != "view" or obj.qualified_name.upper() not in changing:
            continue
        if obj.fingerprint_source is not None and not obj.name.upper() == INSIGHTS_VIEW:
            continue
        size = len(obj.canonical_sql.encode())
        if size > VIEW_DEFINITION_LIMIT:
            oversized[obj.qualified_name.upper()] = (
                f"its CREATE VIEW is {size / 1024 / 1024:.2f} MB, over Snowflake's 1 MB limit for a view definition; "
                "split the rules or prompts it holds across fewer objects")
        elif size > VIEW_SIZE_SHOWN:
            notes.append(f"view {obj.qualified_name}: its definition is {size / 1024:,.0f} KB of Snowflake's 1 MB limit")
    return notes, oversized


def _unmatched_rows(loaded: LoadedProject, backend: Backend) -> list[str]:
    """Per source, the rows whose customer key matches no customer (plan/orphan_rows.py): one query;
    then the rows whose `join:` column matches no lookup row."""
    spine = spine_name(loaded)
    notes = [found.message(spine, loaded.config.sources[spine].key or "") for found in orphan_rows(loaded, backend)]
    return notes + [message for _, message in unmatched_lookups(loaded, backend)]  # a second query only when a source joins


def _orphan_notes(deployed: DeployedState, schemas: list[str]) -> list[str]:
    """Objects rulectl applied in schemas the project no longer manages (e.g. after renaming a
    schema): rulectl does not look there any more, so it says so instead of silently forgetting them."""
    notes = []
    for record in deployed.records.values():
        schema = record.qualified_name.split(".")[0] if record.kind != "schema" else record.qualified_name
        if schema.upper() not in schemas:
            notes.append(f"{record.kind} {record.qualified_name} was applied by rulectl but its schema is no longer in `schemas:`; drop it by hand if it is not needed")
    return notes


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while building large sqlglot trees.

    sqlglot ASTs are cyclic (every node points to its parent), so each collection pass walks every
    live node; while a big plan is being compiled that work grows with the heap and frees nothing.
    Measured on a 1,000-object project: compile 5.5 s → 2.4 s with collection paused.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
