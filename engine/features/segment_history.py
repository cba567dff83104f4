"""How segments moved with each apply: the plan's segment impact (sizes before → after, customers
moving, with a few names) recorded when the apply lands, and read back by `rulectl report`.

The segments view is live, so sizes also drift with the source data between applies; what is kept
here is what each apply itself did, computed by the plan before it ran (no query at apply time).
A plan that changes no segmentation records nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from engine.backends.base import STATE_SCHEMA, Backend
from engine.compile.objects import table
from engine.plan.model import Plan, SegmentMove, SegmentSizeChange

SEGMENT_SIZES = f"{STATE_SCHEMA}.SEGMENT_SIZES"
SEGMENT_MOVES = f"{STATE_SCHEMA}.SEGMENT_MOVES"
SEGMENT_HISTORY_DDL = (
    f"CREATE TABLE IF NOT EXISTS {SEGMENT_SIZES} (plan_id VARCHAR, applied_at TIMESTAMP_NTZ, segmentation VARCHAR, "
    "segment VARCHAR, before NUMBER, after NUMBER)",
    f"CREATE TABLE IF NOT EXISTS {SEGMENT_MOVES} (plan_id VARCHAR, applied_at TIMESTAMP_NTZ, segmentation VARCHAR, "
    "kind VARCHAR, from_label VARCHAR, to_label VARCHAR, customers NUMBER, examples VARCHAR)",
)


@dataclass(frozen=True)
class SegmentChange:
    """What one apply did to the segments: sizes before → after and who moved."""

    plan_id: str
    applied_at: Any
    sizes: tuple[SegmentSizeChange, ...]
    moves: tuple[SegmentMove, ...]


def record_segment_changes(backend: Backend, plan: Plan) -> None:
    """After a successful apply: the plan's sizes and moves, one INSERT each (none when empty)."""
    if not plan.segment_sizes and not plan.segment_moves:
        return
    for ddl in SEGMENT_HISTORY_DDL:
        backend.execute(sqlglot.parse_one(ddl, read="snowflake"))
    at = backend.timestamp_literal()
    text = lambda value: exp.Literal.string(value) if value is not None else exp.null()  # noqa: E731
    if plan.segment_sizes:
        rows = [
            exp.Tuple(expressions=[text(plan.plan_id), at.copy(), text(s.segmentation), text(s.segment), exp.Literal.number(s.before), exp.Literal.number(s.after)])
            for s in plan.segment_sizes
        ]
        backend.execute(exp.insert(exp.values(rows), table(SEGMENT_SIZES)))
    if plan.segment_moves:
        rows = [
            exp.Tuple(expressions=[
                text(plan.plan_id), at.copy(), text(m.segmentation), text(m.kind), text(m.from_label), text(m.to_label),
                exp.Literal.number(m.customers), text(json.dumps(list(m.examples))),
            ])
            for m in plan.segment_moves
        ]
        backend.execute(exp.insert(exp.values(rows), table(SEGMENT_MOVES)))


def read_segment_changes(backend: Backend) -> list[SegmentChange]:
    """Every recorded apply that changed segments, oldest first (empty before the first one)."""
    sizes_query = exp.select("plan_id", "applied_at", "segmentation", "segment", "before", "after").from_(table(SEGMENT_SIZES))
    moves_query = exp.select("plan_id", "applied_at", "segmentation", "kind", "from_label", "to_label", "customers", "examples").from_(table(SEGMENT_MOVES))
    if backend.describe("table", SEGMENT_SIZES) is None:
        return []  # no apply has changed a segmentation on this target yet
    size_rows = backend.query(sizes_query)
    move_rows = backend.query(moves_query)
    changes: dict[str, dict] = {}
    for plan_id, at, segmentation, segment, before, after in size_rows:
        entry = changes.setdefault(plan_id, {"at": at, "sizes": [], "moves": []})
        entry["sizes"].append(SegmentSizeChange(segmentation, segment, int(before), int(after)))
    for plan_id, at, segmentation, kind, from_label, to_label, customers, examples in move_rows:
        entry = changes.setdefault(plan_id, {"at": at, "sizes": [], "moves": []})
        entry["moves"].append(SegmentMove(segmentation, from_label, to_label, int(customers), tuple(json.loads(examples or "[]")), kind))
    ordered = sorted(changes.items(), key=lambda item: item[1]["at"])
    return [SegmentChange(plan_id, entry["at"], tuple(entry["sizes"]), tuple(entry["moves"])) for plan_id, entry in ordered]
