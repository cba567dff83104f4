"""Pydantic's validation errors in an analyst's words: where (`segmentation `health_tier`, rule 3`,
not `segmentations.0.rules.2`) and what the value must be (one message for `default: zero`, not
one per member of the `float | int` union pydantic tried)."""

from __future__ import annotations

from typing import Any

# A list under this key holds items of this kind; an item is named by its `name:` when it has one.
LIST_ITEMS = {
    "metrics": "metric", "segmentations": "segmentation", "rules": "rule", "tests": "rule test",
    "variants": "variant", "expect": "expected row",
}
# A mapping under this key holds named items of this kind (`sources: {customer: …}`).
NAMED_ITEMS = {"sources": "source", "targets": "target", "outputs": "output field", "given": "given rows of", "pricing": "price of"}

# What a value must be, by pydantic error type; members of a union collapse into one phrase.
MUST_BE = {
    "float_parsing": "a number", "float_type": "a number", "int_parsing": "a whole number", "int_type": "a whole number",
    "int_from_float": "a whole number", "bool_parsing": "true or false", "bool_type": "true or false", "string_type": "text",
    "date_parsing": "a date written YYYY-MM-DD", "date_type": "a date written YYYY-MM-DD", "date_from_datetime_parsing": "a date written YYYY-MM-DD",
    "dict_type": "a mapping of `key: value` lines", "model_type": "a mapping of `key: value` lines", "model_attributes_type": "a mapping of `key: value` lines",
    "list_type": "a list", "decimal_parsing": "a number", "decimal_type": "a number",
}
WRITTEN_AS = {dict: "a mapping", list: "a list", bool: "true/false", type(None): "empty"}


def yaml_part(data: Any, location: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Split pydantic's location into the part that exists in the YAML and what pydantic appended
    (the union member it tried, `default.float`), stopping at a value that is not a container."""
    node = data
    for index, part in enumerate(location):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, (dict, list)):
            return location, ()  # a missing key or an unknown field: the location is the YAML's
        else:
            return location[:index], location[index:]
    return location, ()


def value_at(data: Any, location: tuple[Any, ...]) -> Any:
    node = data
    for part in location:
        node = node[part]
    return node


def describe(data: Any, location: tuple[Any, ...]) -> tuple[str, str]:
    """(where, field): ('segmentation `activity`, rule 3', 'when') for ('segmentations', 0, 'rules', 2, 'when')."""
    context: list[str] = []
    fields: list[str] = []
    node = data
    for part in location:
        container = fields[-1] if fields else None
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
            if container in LIST_ITEMS:
                fields.pop()
                context.append(_item_name(LIST_ITEMS[container], part, node))
            else:
                fields.append(f"item {part + 1}")
            continue
        if container in NAMED_ITEMS and isinstance(node, dict) and part in node:
            fields.pop()
            context.append(f"{NAMED_ITEMS[container]} `{part}`")
        else:
            fields.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    return ", ".join(context), ".".join(fields)


def _item_name(kind: str, index: int, item: Any) -> str:
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return f"{kind} `{item['name']}`"
    if kind == "rule" and isinstance(item, dict) and isinstance(item.get("segment"), str):
        return f"rule {index + 1} (`{item['segment']}`)"
    return f"{kind} {index + 1}"


def located_text(data: Any, location: tuple[Any, ...]) -> str:
    """'segmentation `activity`, rule 3: `when`' — where a message about `location` starts."""
    where, field = describe(data, location)
    if not field:
        return where or "the top level"
    return f"{where}: `{field}`" if where else f"`{field}`"


def must_be(error_types: list[str]) -> str | None:
    """'a number' for a `float | int | None` union's errors; None when a type is not one we word."""
    words = [MUST_BE.get(kind) for kind in error_types if kind != "none_required"]
    if not words or None in words:
        return None
    if "a number" in words:
        words = [w for w in words if w != "a whole number"]
    unique = list(dict.fromkeys(words))
    return " or ".join(unique)


def shown_value(value: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return f"`{value}`"
    return WRITTEN_AS.get(type(value), type(value).__name__)
