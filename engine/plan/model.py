"""The plan as data: frozen, serializable, made once and then explained or applied."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from engine.ai.cost import AiCost


class Action(str, Enum):
    CREATE = "create"
    REPLACE = "replace"
    ALTER = "alter"
    DROP = "drop"
    DRIFT = "drift"  # changed by hand; apply restores the declared definition
    NOOP = "no-op"
    ERROR = "error"  # cannot be applied (e.g. a name collision with an object rulectl does not own)


SYMBOLS = {
    Action.CREATE: ("+", "green"),
    Action.REPLACE: ("~", "yellow"),
    Action.ALTER: ("~", "yellow"),
    Action.DROP: ("-", "red"),
    Action.DRIFT: ("!", "magenta"),
    Action.NOOP: (" ", "dim"),
    Action.ERROR: ("x", "bold red"),
}


@dataclass(frozen=True)
class Step:
    """One object's change. `fingerprint` is the desired one (None for drops)."""

    action: Action
    kind: str
    qualified_name: str
    fingerprint: str | None
    reason: str
    destructive: bool = False
    add_columns: tuple[tuple[str, str], ...] = ()
    drop_columns: tuple[str, ...] = ()  # tables: columns no longer declared (destructive: their values go)
    sql_diff: str | None = None
    prompt_diff: str | None = None  # tasks: the prompt's model, options, system text and template, deployed vs planned
    adopt: bool = False

    @property
    def changes(self) -> bool:
        return self.action not in (Action.NOOP,)


@dataclass(frozen=True)
class SegmentMove:
    """Customers whose label changes. `kind` is "move" (match: first, from one label to another),
    "gain" or "loss" (match: all, one label added to or removed from the customers' labels)."""

    segmentation: str
    from_label: str | None
    to_label: str | None
    customers: int
    examples: tuple[str, ...] = ()  # a few of the customers who move, for people reading the plan
    kind: str = "move"


@dataclass(frozen=True)
class SegmentSizeChange:
    """How many customers hold a label before and after the plan (match: all counts each label)."""

    segmentation: str
    segment: str | None  # None: customers with no label (match: first without a default)
    before: int
    after: int


@dataclass(frozen=True)
class Plan:
    plan_id: str
    project: str
    target: str
    created_at: str
    state_fingerprint: str
    introspection_queries: int
    steps: tuple[Step, ...]
    segment_moves: tuple[SegmentMove, ...] = ()
    segment_sizes: tuple[SegmentSizeChange, ...] = ()
    segment_warnings: tuple[str, ...] = ()
    ai_costs: tuple[AiCost, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def changes(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.changes)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def errors(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.action is Action.ERROR)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.action.value] = counts.get(step.action.value, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = "rulectl-plan/1"
        data["summary"] = self.summary()
        data["has_changes"] = self.has_changes
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        data = json.loads(text)
        if data.get("format") != "rulectl-plan/1":
            raise ValueError("not a rulectl plan file (format rulectl-plan/1)")
        steps = tuple(
            Step(**{**s, "action": Action(s["action"]), "add_columns": tuple(tuple(c) for c in s["add_columns"]), "drop_columns": tuple(s.get("drop_columns", ()))})
            for s in data["steps"]
        )
        moves = tuple(SegmentMove(**{**m, "examples": tuple(m.get("examples", ()))}) for m in data.get("segment_moves", []))
        sizes = tuple(SegmentSizeChange(**s) for s in data.get("segment_sizes", []))
        costs = tuple(AiCost(**c) for c in data.get("ai_costs", []))
        fields = {k: data[k] for k in ("plan_id", "project", "target", "created_at", "state_fingerprint", "introspection_queries")}
        return cls(
            **fields, steps=steps, segment_moves=moves, segment_sizes=sizes, segment_warnings=tuple(data.get("segment_warnings", ())),
            ai_costs=costs, notes=tuple(data.get("notes", ())),
        )
