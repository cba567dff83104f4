"""`plan --moves FILE`: every customer whose segment would change, one row per customer and
segmentation (key, display name, from, to). The plan itself keeps counts and a few examples; names
repeat ("Auburn County" five times), so people acting on a change need the keys.

One query: the deployed segments view FULL OUTER JOINed with the segments as the YAML defines them
now (the planned-views CTEs), keeping rows where any label differs. Nothing is created."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlglot import exp

from engine.backends.base import Backend
from engine.compile.objects import table
from engine.compile.segments import PLANNED_SEGMENTS, SEGMENTS_VIEW, with_planned_views
from engine.config.project import LoadedProject, display_name_column, entity_key
from engine.core.expressions import sf_func

LABEL_SEPARATOR = "; "  # match: all labels in one CSV cell
OLD, NEW = "o", "n"


@dataclass(frozen=True)
class CustomerMove:
    key: str
    name: str | None
    segmentation: str
    from_label: str | None  # match: all → the labels joined with "; "
    to_label: str | None


def _labels_text(column: exp.Expression, match: str) -> exp.Expression:
    if match == "all":
        return sf_func("ARRAY_TO_STRING", column, exp.Literal.string(LABEL_SEPARATOR))
    return column


def moves_query(loaded: LoadedProject, deployed_columns: set[str]) -> exp.Select:
    """`deployed_columns`: the deployed segments view's columns (a new segmentation has none there)."""
    key, name = entity_key(loaded), display_name_column(loaded)
    items: list[exp.Expression] = [
        sf_func("COALESCE", exp.column(key, table=NEW), exp.column(key, table=OLD)).as_("key"),
        (sf_func("COALESCE", exp.column(name, table=NEW), exp.column(name, table=OLD)) if name in deployed_columns else exp.column(name, table=NEW)).as_("name"),
    ]
    differs: list[exp.Expression] = []
    for index, located in enumerate(loaded.segmentations):
        seg = located.item
        deployed = seg.name.lower() in deployed_columns
        old = _labels_text(exp.column(seg.name.lower(), table=OLD), seg.match) if deployed else exp.null()
        new = _labels_text(exp.column(seg.name.lower(), table=NEW), seg.match)
        items += [old.as_(f"from_{index}"), new.copy().as_(f"to_{index}")]
        differs.append(exp.NullSafeNEQ(this=old.copy(), expression=new.copy()))
    joined = exp.select(*items).from_(exp.alias_(exp.to_table(PLANNED_SEGMENTS), NEW, table=True)).join(
        exp.alias_(table(f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}"), OLD, table=True),
        on=exp.column(key, table=OLD).eq(exp.column(key, table=NEW)),
        join_type="full outer",
    )
    joined = joined.where(exp.or_(*differs) if differs else exp.false()).order_by(exp.column("key"))
    return with_planned_views(joined, loaded)


def customer_moves(loaded: LoadedProject, backend: Backend) -> list[CustomerMove] | None:
    """Every (customer, segmentation) whose label would change if the plan were applied; None when
    no segments view is deployed yet (every customer is new, nobody moves)."""
    deployed_columns = {column for column, _ in backend.table_columns(f"{loaded.config.schemas.analytics}.{SEGMENTS_VIEW}")}
    if not deployed_columns:
        return None
    moves: list[CustomerMove] = []
    if not loaded.segmentations:
        return moves
    for row in backend.query(moves_query(loaded, deployed_columns)):
        key, name = row[0], row[1]
        for index, located in enumerate(loaded.segmentations):
            old, new = row[2 + 2 * index], row[3 + 2 * index]
            if old != new:
                moves.append(CustomerMove(str(key), None if name is None else str(name), located.item.name, old, new))
    return moves


def write_moves_csv(moves: list[CustomerMove], handle: IO[str]) -> None:
    writer = csv.writer(handle)
    writer.writerow(["key", "name", "segmentation", "from", "to"])
    for move in moves:
        writer.writerow([move.key, move.name or "", move.segmentation, move.from_label or "", move.to_label or ""])


def save_moves(moves: list[CustomerMove], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        write_moves_csv(moves, handle)
