"""Segment sizes: customers per segment and, when `display.size` names a metric, its total per
segment — read from the deployed CUSTOMER_SEGMENTS view."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from engine.core.expressions import sf_func

from engine.backends.base import Backend
from engine.compile.objects import table
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.project import LoadedProject


@dataclass(frozen=True)
class SegmentSize:
    segmentation: str
    segment: str
    customers: int
    size: float | None  # total of display.size's metric over the segment's customers


def segment_sizes(loaded: LoadedProject, backend: Backend) -> list[SegmentSize]:
    """One query per segmentation; match-all labels are counted once per customer holding them."""
    view = table(f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}")
    sizes: list[SegmentSize] = []
    for located in loaded.segmentations:
        seg = located.item
        column = exp.column(seg.name.lower(), table="s")
        size = loaded.config.display.size
        total = sf_func("SUM", exp.column(size.metric.lower(), table="s")) if size else exp.null()
        if seg.match == "first":
            query = exp.select(column, sf_func("COUNT", exp.Star()), total).from_(exp.alias_(view.copy(), "s", table=True)).group_by(column.copy())
        else:
            label = exp.column("value", table="f")
            flatten = exp.Lateral(
                this=exp.Explode(this=exp.Kwarg(this=exp.var("input"), expression=column.copy())),
                alias=exp.TableAlias(this=exp.to_identifier("f")),
            )
            query = exp.select(exp.cast(label, "VARCHAR"), sf_func("COUNT", exp.Star()), total).from_(exp.alias_(view.copy(), "s", table=True))
            query = query.join(flatten).group_by(exp.cast(label.copy(), "VARCHAR"))
        order = {rule.segment: i for i, rule in enumerate(seg.rules)}
        rows = backend.query(query)
        rows.sort(key=lambda r: order.get(r[0], len(order)))
        sizes += [SegmentSize(seg.name, r[0] if r[0] is not None else "(none)", r[1], float(r[2]) if r[2] is not None else None) for r in rows]
    return sizes

