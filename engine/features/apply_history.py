"""`rulectl history`: what was applied to a target, when, by whom, from which git commit, by which
plan — read from rulectl's own state tables (_RULECTL.HISTORY, one row per step; _RULECTL.APPLIES,
one row per apply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from engine.backends.base import APPLIES, STATE_SCHEMA, Backend
from engine.backends.registry import engine_errors
from engine.compile.objects import table
from engine.core.expressions import sf_func

HISTORY = f"{STATE_SCHEMA}.HISTORY"


@dataclass(frozen=True)
class AppliedStep:
    applied_at: Any
    action: str
    kind: str
    qualified_name: str
    status: str
    message: str | None


@dataclass(frozen=True)
class AppliedPlan:
    plan_id: str
    applied_at: Any  # when its first step ran
    applied_by: str | None = None  # None: applied before rulectl recorded who
    git_commit: str | None = None
    target: str | None = None
    steps: list[AppliedStep] = field(default_factory=list)
    steps_planned: int | None = None  # None: applied before rulectl recorded it

    @property
    def steps_applied(self) -> int:
        return sum(step.status == "applied" for step in self.steps)

    @property
    def outcome(self) -> str:
        """applied, failed (a step failed), interrupted (Ctrl-C), or incomplete: fewer steps recorded
        than planned and no reason recorded (the apply was killed, or is still running)."""
        if any(step.status == "failed" for step in self.steps):
            return "failed"
        if any(step.status == "interrupted" for step in self.steps):
            return "interrupted"
        if self.steps_planned is not None and self.steps_applied < self.steps_planned:
            return "incomplete"
        return "applied"

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


def read_history(backend: Backend, limit: int) -> list[AppliedPlan]:
    """The `limit` latest applies, newest first (empty when nothing was ever applied)."""
    latest = (
        exp.select("plan_id", sf_func("MIN", exp.column("applied_at")).as_("first_at"))
        .from_(table(HISTORY))
        .group_by("plan_id")
        .order_by(exp.Ordered(this=exp.column("first_at"), desc=True))
        .limit(limit)
    )
    try:
        plans = backend.query(latest)
    except engine_errors():
        return []  # no state tables: nothing was ever applied here
    if not plans:
        return []
    ids = exp.Tuple(expressions=[exp.Literal.string(plan_id) for plan_id, _ in plans])
    steps_query = (
        exp.select("plan_id", "applied_at", "action", "kind", "qualified_name", "status", "message")
        .from_(table(HISTORY))
        .where(exp.In(this=exp.column("plan_id"), expressions=ids.expressions))
        .order_by("applied_at")
    )
    steps: dict[str, list[AppliedStep]] = {}
    for plan_id, *values in backend.query(steps_query):
        steps.setdefault(plan_id, []).append(AppliedStep(*values))
    who = _applies(backend, ids)
    return [
        AppliedPlan(plan_id, first_at, *who.get(plan_id, (None, None, None))[:3], steps=steps.get(plan_id, []), steps_planned=_count(who.get(plan_id)))
        for plan_id, first_at in plans
    ]


def _count(row: tuple | None) -> int | None:
    return int(row[3]) if row is not None and len(row) > 3 and row[3] is not None else None


def _applies(backend: Backend, ids: exp.Tuple) -> dict[str, tuple]:
    """plan_id → (applied_by, git_commit, target[, steps_planned]); older state tables lack the last
    column (until the next apply adds it), the oldest lack the table."""
    where = exp.In(this=exp.column("plan_id"), expressions=[e.copy() for e in ids.expressions])
    for columns in (("applied_by", "git_commit", "target", "steps_planned"), ("applied_by", "git_commit", "target")):
        try:
            return {plan_id: tuple(values) for plan_id, *values in backend.query(exp.select("plan_id", *columns).from_(table(APPLIES)).where(where.copy()))}
        except engine_errors():
            continue
    return {}
