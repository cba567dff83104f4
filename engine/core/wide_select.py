"""A wide SELECT's SQL made select item by select item, each item's text remembered on its own.

The segments view of 100 segmentations is one SELECT of ~200 items; a one-rule edit changes one
of them. Generating the whole statement (Snowflake SQL for its fingerprint, DuckDB SQL with the
fixes for its check and apply) costs ~0.1 s a dialect, and the memo keyed by the whole tree misses
on any edit. Generated item by item, with each item's text kept under its own tree key
(core/tree_memo.py, across commands where the caller persists the memo), an edit generates the
one item it changed plus the statement around the items.

The split is only taken where the text is exactly the whole statement's: in compact (not pretty)
SQL a SELECT's items are joined by ", ", and the generators' SELECT-level rewrites (sqlglot's
Snowflake and DuckDB preprocessing: DISTINCT ON, named windows, EXPLODE in a projection, UNNEST,
semi/anti joins, CONNECT BY, variant dot lookups) never fire on what is allowed here: a plain
SELECT of many items FROM one table, whose items hold none of those nodes. tests/core/
test_wide_select.py generates every view of several project shapes both ways and compares them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from engine.core.tree_memo import TreeMemo, tree_key

MIN_ITEMS = 32  # below this the whole statement is as cheap to generate and key
PLACEHOLDER = "rulectl_select_items"
# nodes a generator's SELECT-level rewrite reads or moves: an item holding one is not generated alone
UNSAFE_IN_ITEMS = (exp.Explode, exp.Unnest, exp.GenerateDateArray, exp.Dot, exp.Query, exp.Subquery, exp.Lateral)
SELECT_ARGS = {"expressions", "from_", "kind"}  # a SELECT with any other clause is generated whole


Item = exp.Expression | Callable[[], exp.Expression]  # a tree, or what builds it when its text is not kept


@dataclass(frozen=True)
class WideSelect:
    """`statement` seen as (its text with the items replaced by PLACEHOLDER, the items).

    Split from a built statement, each item is its tree keyed by its tree key. Compile may also
    give one directly (compile/segments.py): each item a function building its tree, keyed by what
    it is built from, so an item whose text is kept is never built."""

    skeleton: exp.Expression
    items: tuple[Item, ...]
    item_keys: tuple[str, ...]
    digest: str  # the statement's key: of the skeleton's and every item's

    @classmethod
    def of(cls, skeleton: exp.Expression, items: tuple[Item, ...], item_keys: tuple[str, ...]) -> WideSelect:
        digest = hashlib.sha256("\x00".join((tree_key(skeleton), *item_keys)).encode()).hexdigest()
        return cls(skeleton, items, item_keys, digest)


def split(statement: exp.Expression) -> WideSelect | None:
    """The statement item by item, or None where its text must be generated whole. Kept per
    statement object (compiled statements never change): an apply asks for it several times."""
    kept = _split.get(id(statement))
    if kept is not None and kept[0] is statement:
        return kept[1]
    wide = _make(statement)
    if len(_split) >= 64:
        _split.pop(next(iter(_split)))
    _split[id(statement)] = (statement, wide)  # holding the statement keeps its id from being reused
    return wide


_split: dict[int, tuple[exp.Expression, WideSelect | None]] = {}


def _make(statement: exp.Expression) -> WideSelect | None:
    select = statement.expression if isinstance(statement, exp.Create) and statement.kind == "VIEW" else None
    if not isinstance(select, exp.Select) or len(select.expressions) < MIN_ITEMS:
        return None
    if any(value for key, value in select.args.items() if key not in SELECT_ARGS) or not isinstance(select.args.get("from_"), exp.From):
        return None
    if not isinstance(select.args["from_"].this, exp.Table):
        return None
    if any(isinstance(value, exp.Expression) for key, value in statement.args.items() if key not in ("this", "expression")):
        return None  # e.g. a column list or properties: generated whole
    items = tuple(select.expressions)
    if any(isinstance(node, UNSAFE_IN_ITEMS) for item in items for node in item.walk()):
        return None
    outline = skeleton(statement, select)
    if select.args.get("kind"):
        outline.expression.set("kind", select.args["kind"])
    for key, value in statement.args.items():  # EXISTS, OR REPLACE and such: flags of the statement
        if key not in ("this", "kind", "expression") and not isinstance(value, exp.Expression):
            outline.set(key, value)
    return WideSelect.of(outline, items, tuple(tree_key(item) for item in items))


def skeleton(create: exp.Create, select: exp.Select) -> exp.Create:
    """`create` of `select` with the select's items replaced by the one PLACEHOLDER column."""
    placeholder = exp.Select(expressions=[exp.column(PLACEHOLDER)], from_=select.args["from_"].copy())
    return exp.Create(this=create.this.copy(), kind=create.kind, expression=placeholder)


def _built(item: Item) -> exp.Expression:
    return item if isinstance(item, exp.Expression) else item()


def assemble(wide: WideSelect, memo: TreeMemo, settings: str, generate: Callable[[exp.Expression], str]) -> str | None:
    """The statement's text: the skeleton's, its placeholder replaced by the items' texts (each from
    `memo` under its key, else generated), or None when the skeleton does not show the placeholder
    exactly once (the caller then generates the statement whole)."""
    head = generate(wide.skeleton)
    if head.count(PLACEHOLDER) != 1:
        return None
    before, after = head.split(PLACEHOLDER)
    texts = [memo.get(None, settings, lambda item=item: generate(_built(item)), key) for item, key in zip(wide.items, wide.item_keys)]
    return before + ", ".join(texts) + after
