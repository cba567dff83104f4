"""Apply: a visitor over the plan's steps. Each step's DDL comes from the backend; each applied step
is recorded at once, so a failure leaves a state from which the next plan shows what remains."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlglot import exp

from engine.backends.base import Backend, owner_tag
from engine.compile.objects import DesiredObject
from engine.core.errors import Interrupted, RulectlError
from engine.plan.model import Action, Plan, Step
from engine.core.stop_request import StopRequest

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


def changing_steps(plan: Plan) -> list[Step]:
    """The steps apply runs, in order (what `history` counts as planned)."""
    return [s for s in plan.steps if s.action in APPLYING]


def apply_steps(
    plan: Plan,
    desired: list[DesiredObject],
    backend: Backend,
    on_step: Callable[[Step], None] = lambda step: None,
    result: ApplyResult | None = None,
) -> ApplyResult:
    """Run every changing step in order (the backend's lock must be held by the caller).

    `result` fills as steps succeed, so a caller still sees the progress when a step fails. Ctrl-C
    lets the step in flight finish, then stops; a second Ctrl-C stops inside the step, which the
    step's intent record makes as safe as a kill (see _apply_step). Either way the stop is recorded
    in the history and raised as Interrupted.
    """
    by_name = {obj.qualified_name.upper(): obj for obj in desired}
    result = result if result is not None else ApplyResult()
    changes = changing_steps(plan)
    with StopRequest() as stop:
        try:
            backend.ensure_state_tables()
        except KeyboardInterrupt:
            raise _interrupted(plan, changes[0] if changes else None, backend, result, len(changes), "not started: apply was interrupted (Ctrl-C) before it") from None
        for index, step in enumerate(changes, start=1):
            if stop.requested:
                raise _interrupted(plan, step, backend, result, len(changes), "not started: apply was interrupted (Ctrl-C) before it")
            try:
                _apply_and_record(index, len(changes), step, by_name.get(step.qualified_name.upper()), backend, plan, result)
            except KeyboardInterrupt:
                raise _interrupted(plan, step, backend, result, len(changes), "interrupted (Ctrl-C) while it ran; the next apply finishes it") from None
            on_step(step)
    return result


def _apply_and_record(index: int, planned: int, step: Step, obj: DesiredObject | None, backend: Backend, plan: Plan, result: ApplyResult) -> None:
    try:
        _apply_step(step, obj, backend, plan, result)
    except Exception as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        backend.write_history(plan.plan_id, step.action.value, step.kind, step.qualified_name, step.fingerprint, "failed", message)
        raise RulectlError(
            f"step {index} of {planned} failed: {step.action.value} {step.kind} {step.qualified_name}: {message}\n"
            f"{len(result.applied)} earlier step(s) were applied and recorded; run `rulectl plan` to see what remains."
        ) from None
    backend.write_history(plan.plan_id, step.action.value, step.kind, step.qualified_name, step.fingerprint, "applied")
    result.applied.append(step)


def _interrupted(plan: Plan, step: Step | None, backend: Backend, result: ApplyResult, planned: int, message: str) -> Interrupted:
    """Record where Ctrl-C stopped the apply (history shows it as interrupted), and say so."""
    try:
        if step is not None:
            backend.write_history(plan.plan_id, step.action.value, step.kind, step.qualified_name, step.fingerprint, "interrupted", message)
    except Exception:  # the connection went with the interrupt: history then shows the apply as incomplete
        pass
    return Interrupted(
        f"interrupted after {len(result.applied)} of {planned} steps; the steps above are applied and recorded — "
        "run `rulectl plan` to see what remains, `rulectl apply` to finish"
    )


def _apply_step(step: Step, obj: DesiredObject | None, backend: Backend, plan: Plan, result: ApplyResult) -> None:
    """Record the intent, change the object, then record how the target spells it.

    Every prefix of this sequence is recognisable on the next plan: an intent record (no definition
    hash) marks the object as rulectl's and unfinished, whatever state the DDL reached, and the next
    apply completes it; each record write is one statement (see Backend.write_record).
    """
    name = step.qualified_name.upper()
    statements = _statements_for(step, obj, backend, plan.project)
    if step.action is Action.DROP:
        _run(statements, backend, result)
        backend.forget_record(step.kind, name)
        return
    assert obj is not None and step.fingerprint is not None
    if step.kind != "schema":  # schemas carry no tag and are never dropped: nothing to recognise
        backend.write_record(step.kind, name, step.fingerprint, None, plan.plan_id, obj.canonical_sql)
    _run(statements, backend, result)
    landed = backend.describe(step.kind, name)
    if landed is None:
        raise RulectlError(f"{step.kind} {name} is not on the target after its statements ran")
    declared = dict(obj.options).get("state") if step.kind == "task" else None
    if declared and landed.state != declared:  # Snowflake can refuse to resume a task
        result.warnings.append(f"task {name} is {landed.state or 'in an unknown state'} but declared {declared}; check it with SHOW TASKS and `rulectl plan`")
    backend.write_record(step.kind, name, step.fingerprint, landed.definition_hash, plan.plan_id, obj.canonical_sql)


def _run(statements: list, backend: Backend, result: ApplyResult) -> None:
    for statement in statements:
        backend.execute(statement)
        result.statements += 1


REHEARSED_KINDS = ("schema", "table", "view")  # what a view can read; tasks and semantic views read views


def rehearse_steps(steps: Iterable[Step], desired: list[DesiredObject], backend: Backend, project: str) -> tuple[Step, str] | None:
    """None when the target accepts apply's own statements for the schema, table and view steps,
    tried in order in one transaction and rolled back (only where `backend.rehearses_ddl`), else
    the step whose statement it refused and the engine's message. Not the ownership comments,
    which nothing reads and which cannot fail on an object just made.

    The planned-view check of an apply on such a target: the engine binds each view as it creates
    it, exactly what apply then sends, and apply renders the statements once (DuckDB keeps each
    view's statement text per compiled object). The zero-row query the check sends otherwise renders
    every changing view a second time, in another tree."""
    by_name = {obj.qualified_name.upper(): obj for obj in desired}
    rehearsed = [
        (step, statement)
        for step in steps
        if step.action in APPLYING and step.kind in REHEARSED_KINDS
        for statement in _statements_for(step, by_name.get(step.qualified_name.upper()), backend, project)
        if not isinstance(statement, exp.Comment)
    ]
    refused = backend.rehearse([statement for _, statement in rehearsed])
    if refused is None:
        return None
    index, message = refused
    return rehearsed[index][0], message


def explain_steps(plan: Plan, desired: list[DesiredObject], backend: Backend) -> list[tuple[Step, list[str]]]:
    """The dry run: the same visit as apply_steps, returning each step's SQL instead of running it."""
    by_name = {obj.qualified_name.upper(): obj for obj in desired}
    explained = []
    for step in changing_steps(plan):
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
            return backend.table_replace_statements(obj, comment)
        return backend.drop_column_statements(obj, step.drop_columns) + backend.add_column_statements(obj, step.add_columns, comment)
    if obj.kind == "task":
        return backend.task_statements(obj, comment, exists=step.action is not Action.CREATE)
    if obj.kind == "semantic_view":
        return backend.semantic_view_statements(obj, comment)
    raise RulectlError(f"rulectl cannot apply objects of kind {obj.kind}")
