"""Apply: a visitor over the plan's steps. Each step's DDL comes from the backend; each applied step
is recorded at once, so a failure leaves a state from which the next plan shows what remains."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.backends.base import Backend, owner_tag
from engine.compile.objects import DesiredObject
from engine.errors import RulectlError
from engine.plan.model import Action, Plan, Step

APPLYING = (Action.CREATE, Action.REPLACE, Action.ALTER, Action.DRIFT, Action.DROP)


@dataclass
class ApplyResult:
    applied: list[Step] = field(default_factory=list)
    statements: int = 0
    warnings: list[str] = field(default_factory=list)


def check_applicable(plan: Plan, allow_destructive: bool) -> None:
    """Refuse plans with errors, and destructive steps unless explicitly allowed."""
    if plan.errors:
        raise RulectlError("the plan has errors; nothing was changed:\n" + "\n".join(f"  {s.qualified_name}: {s.reason}" for s in plan.errors))
    destructive = [s for s in plan.changes if s.destructive]
    if destructive and not allow_destructive:
        listed = "\n".join(f"  {s.action.value} {s.kind} {s.qualified_name}: {s.reason}" for s in destructive)
        raise RulectlError(
            "the plan would destroy data (AI output is paid for); nothing was changed:\n"
            f"{listed}\nRe-run with --allow-destructive if that is really what you want."
        )


def check_current(plan: Plan, desired: list[DesiredObject], state_fingerprint: str) -> None:
    """A saved plan applies only to the state and the YAML it was made from."""
    if plan.state_fingerprint != state_fingerprint:
        raise RulectlError("the deployed state changed since this plan was made; nothing was changed. Run `rulectl plan` again.")
    fingerprints = {obj.qualified_name.upper(): obj.fingerprint for obj in desired}
    for step in plan.changes:
        if step.fingerprint is not None and fingerprints.get(step.qualified_name.upper()) != step.fingerprint:
            raise RulectlError(f"the project changed since this plan was made ({step.qualified_name}); nothing was changed. Run `rulectl plan` again.")


def lock_holder() -> str:
    return f"{os.environ.get('USER', 'someone')}@{socket.gethostname()} pid {os.getpid()}"


def apply_steps(
    plan: Plan,
    desired: list[DesiredObject],
    backend: Backend,
    on_step: Callable[[Step], None] = lambda step: None,
    result: ApplyResult | None = None,
) -> ApplyResult:
    """Run every changing step in order (the backend's lock must be held by the caller).

    `result` fills as steps succeed, so a caller still sees the progress when a step fails.
    """
    by_name = {obj.qualified_name.upper(): obj for obj in desired}
    result = result if result is not None else ApplyResult()
    backend.ensure_state_tables()
    changes = [s for s in plan.steps if s.action in APPLYING]
    for index, step in enumerate(changes, start=1):
        obj = by_name.get(step.qualified_name.upper())
        statements = _statements_for(step, obj, backend, plan.project)
        try:
            for statement in statements:
                backend.execute(statement)
                result.statements += 1
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            backend.write_history(plan.plan_id, step.action.value, step.kind, step.qualified_name, step.fingerprint, "failed", message)
            raise RulectlError(
                f"step {index} of {len(changes)} failed: {step.action.value} {step.kind} {step.qualified_name}: {message}\n"
                f"{len(result.applied)} earlier step(s) were applied and recorded; run `rulectl plan` to see what remains."
            ) from None
        applied_sql = obj.canonical_sql if obj is not None else None
        backend.write_record(step.kind, step.qualified_name.upper(), step.fingerprint, None, plan.plan_id, applied_sql)
        backend.write_history(plan.plan_id, step.action.value, step.kind, step.qualified_name, step.fingerprint, "applied")
        result.applied.append(step)
        on_step(step)
    return result


def explain_steps(plan: Plan, desired: list[DesiredObject], backend: Backend) -> list[tuple[Step, list[str]]]:
    """The dry run: the same visit as apply_steps, returning each step's SQL instead of running it."""
    by_name = {obj.qualified_name.upper(): obj for obj in desired}
    explained = []
    for step in (s for s in plan.steps if s.action in APPLYING):
        statements = _statements_for(step, by_name.get(step.qualified_name.upper()), backend, plan.project)
        explained.append((step, [s if isinstance(s, str) else backend.to_sql(s) for s in statements]))
    return explained


def _statements_for(step: Step, obj: DesiredObject | None, backend: Backend, project: str) -> list:
    if step.action is Action.DROP:
        return backend.drop_statements(step.kind, step.qualified_name)
    assert obj is not None, f"no desired object for {step.qualified_name}"
    comment = owner_tag(project, obj.fingerprint)
    if obj.kind == "schema":
        return backend.schema_statements(obj)
    if obj.kind == "view":
        return backend.view_statements(obj, comment, exists=step.action is not Action.CREATE)
    if obj.kind == "table":
        if step.action is Action.CREATE:
            return backend.table_statements(obj, comment)
        if step.action is Action.REPLACE:  # destructive, allowed explicitly
            return backend.drop_statements("table", obj.qualified_name) + backend.table_statements(obj, comment)
        return backend.add_column_statements(obj, step.add_columns, comment)
    if obj.kind == "task":
        return backend.task_statements(obj, comment, exists=step.action is not Action.CREATE)
    raise RulectlError(f"rulectl cannot apply objects of kind {obj.kind}")


def record_definitions(backend: Backend, schemas: list[str], desired: list[DesiredObject], result: ApplyResult) -> None:
    """One introspection after apply: how the target now spells each applied object, and whether
    every applied task is in its declared state (Snowflake can refuse to resume a task)."""
    applied = result.applied
    if not applied:
        return
    deployed = backend.introspect(schemas)
    declared = {obj.qualified_name.upper(): dict(obj.options).get("state") for obj in desired if obj.kind == "task"}
    for step in applied:
        if step.kind != "task" or step.action is Action.DROP:
            continue
        task = deployed.get("task", step.qualified_name)
        want = declared.get(step.qualified_name.upper())
        if task is None or (want and task.state != want):
            result.warnings.append(f"task {step.qualified_name} is {task.state if task else 'missing'} but declared {want}; check it with SHOW TASKS and `rulectl plan`")
    hashes = {}
    for step in applied:
        if step.action is Action.DROP:
            continue
        current = deployed.get(step.kind, step.qualified_name)
        if current is not None:
            hashes[(step.kind, step.qualified_name.upper())] = current.definition_hash
    backend.set_definition_hashes(hashes)
