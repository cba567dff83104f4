"""Structured replies: a prompt's `outputs:` → the JSON schema sent as `response_format`, one typed
column per field, and the SQL gate that stores a reply only when every field satisfies the schema.

Snowflake's AI_COMPLETE takes the schema as `response_format` and, with `show_details`, answers with
`{"structured_output": [{"raw_message": {…}, "type": "json"}], "usage": …}`
(https://docs.snowflake.com/en/user-guide/snowflake-cortex/complete-structured-outputs); the local
providers answer in the messages form with the JSON object as text. The payload is read from either.

Cortex refuses a schema with constraint keywords ("The use of an unsupported constraint keyword
results in an error"), so the schema sent keeps only the supported ones (config/cortex.py) and the
lengths, ranges and item counts are enforced here, by the SQL gate, before a reply is stored.
"""

from __future__ import annotations

import json
from typing import Any

import sqlglot
from sqlglot import exp

from engine.config.cortex import supported_schema
from engine.config.models import OutputField, Prompt

from engine.core.expressions import DIALECT, sf_func

# field type → the Snowflake type of its column
COLUMN_TYPES = {"text": "VARCHAR", "number": "FLOAT", "integer": "NUMBER", "boolean": "BOOLEAN", "label": "VARCHAR", "list": "ARRAY"}


def output_columns(prompt: Prompt) -> tuple[tuple[str, str], ...]:
    return tuple((name.lower(), COLUMN_TYPES[field.type]) for name, field in (prompt.outputs or {}).items())


def json_schema(outputs: dict[str, OutputField]) -> dict[str, Any]:
    """The JSON schema of a reply: every field required, nothing else allowed (OpenAI-style strict
    mode needs both, and Cortex accepts them)."""
    properties = {name.lower(): _field_schema(field) for name, field in outputs.items()}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _field_schema(field: OutputField) -> dict[str, Any]:
    schema: dict[str, Any]
    if field.type in ("text", "label"):
        schema = {"type": "string"}
        if field.labels:
            schema["enum"] = list(field.labels)
        if field.max_length:
            schema["maxLength"] = field.max_length
    elif field.type in ("number", "integer"):
        schema = {"type": field.type}
        if field.minimum is not None:
            schema["minimum"] = field.minimum
        if field.maximum is not None:
            schema["maximum"] = field.maximum
    elif field.type == "boolean":
        schema = {"type": "boolean"}
    else:
        schema = {"type": "array", "items": {"type": "string"}}
        if field.max_items:
            schema["maxItems"] = field.max_items
    if field.description:
        schema["description"] = field.description
    return schema


def response_format(outputs: dict[str, OutputField]) -> dict[str, Any]:
    """The full `response_format`: the schema rulectl's gate enforces (part of the prompt version)."""
    return {"type": "json", "schema": json_schema(outputs)}


def sent_response_format(outputs: dict[str, OutputField]) -> dict[str, Any]:
    """AI_COMPLETE's `response_format` argument: the schema without the keywords Cortex refuses
    (maxLength, minimum, maximum, maxItems…); the gate below keeps enforcing them.
    https://docs.snowflake.com/en/user-guide/snowflake-cortex/complete-structured-outputs"""
    return {"type": "json", "schema": supported_schema(json_schema(outputs))}


def literal_tree(value: Any) -> exp.Expression:
    """A JSON-like Python value as Snowflake SQL: OBJECT_CONSTRUCT / ARRAY_CONSTRUCT of literals."""
    if isinstance(value, dict):
        return exp.Struct(expressions=[exp.PropertyEQ(this=exp.Literal.string(k), expression=literal_tree(v)) for k, v in value.items()])
    if isinstance(value, list):
        # an ARRAY constant: https://docs.snowflake.com/en/sql-reference/data-types-semistructured#array-constants
        return exp.Array(expressions=[literal_tree(v) for v in value])
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def literal_value(node: exp.Expression) -> Any:
    """The Python value of a tree `literal_tree` built (read back from recorded SQL, or turned into
    the options JSON the local provider reads); None for anything else."""
    if isinstance(node, exp.Struct):
        return {_key(pair.this): literal_value(pair.expression) for pair in node.expressions if isinstance(pair, exp.PropertyEQ)}
    if isinstance(node, exp.Array):
        return [literal_value(item) for item in node.expressions]
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Neg):
        inner = literal_value(node.this)
        return -inner if isinstance(inner, (int, float)) else None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        return int(node.this) if node.this.lstrip("-").isdigit() else float(node.this)
    return None


def _key(node: exp.Expression) -> str:
    return node.this if isinstance(node, exp.Literal) else node.name


BASE_COLUMNS = ("variant", "prompt_version", "input_hash", "model", "provider", "input_tokens", "output_tokens")
STRUCTURED = "rulectl_structured"  # Cortex's structured_output[0].raw_message, when it answered so
PAYLOAD = "rulectl_payload"
VALID = "rulectl_valid"


def structured_output_path(reply_json: exp.Expression) -> exp.Expression:
    path = sqlglot.parse_one("x:structured_output[0]:raw_message", read=DIALECT)
    path.set("this", reply_json)
    return path


def typed_reply_query(replies: exp.Select, key: str, outputs: dict[str, OutputField]) -> exp.Select:
    """Over `replies` (key, bookkeeping columns, `response` = the message text, STRUCTURED): the
    payload as JSON text in `response`, one typed column per field, and VALID when every field
    satisfies the schema.

    Built in layers so each JSON path reads a plain column: DuckDB's parser takes `a -> '$.x'`
    inside a function's arguments for a lambda."""
    # Every layer is built here, so the builders may add to it in place (`copy=False`): copying
    # layer c once per field copied the replies query beneath it each time.
    base = [key, *BASE_COLUMNS]
    layer_a = _layer(replies, "a")
    layer_b = exp.select(*(exp.column(c, table="a") for c in base)).select(
        sf_func("COALESCE", exp.column(STRUCTURED, table="a"), sf_func("TRY_PARSE_JSON", exp.column("response", table="a"))).as_(PAYLOAD), copy=False
    ).from_(layer_a, copy=False)
    layer_c = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("b"))).from_(_layer(layer_b, "b"), copy=False)
    for name in outputs:
        extracted = _path(exp.column(PAYLOAD, table="b"), name.lower())
        layer_c.select(exp.cast(extracted, "VARCHAR").as_(f"{name.lower()}__text"), extracted.copy().as_(f"{name.lower()}__json"), copy=False)
    layer_d = exp.select(*(exp.column(c, table="c") for c in base)).select(sf_func("TO_VARCHAR", exp.column(PAYLOAD, table="c")).as_("response"), copy=False)
    checks: list[exp.Expression] = []
    for name, field in outputs.items():
        text, raw = exp.column(f"{name.lower()}__text", table="c"), exp.column(f"{name.lower()}__json", table="c")
        value = field_value(text, raw, field)
        layer_d.select(value.as_(name.lower()), copy=False)
        checks.append(field_is_valid(value, field))
    layer_d.select(exp.and_(*checks).as_(VALID), copy=False)
    return layer_d.from_(_layer(layer_c, "c"), copy=False)


def _layer(query: exp.Select, alias: str) -> exp.Subquery:
    return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _path(obj: exp.Expression, name: str) -> exp.Expression:
    """`obj:name`, built the way sqlglot parses Snowflake's variant path (a VARIANT extract, no
    PARSE_JSON around it); `name` is a validated identifier."""
    path = sqlglot.parse_one(f"x:{name}", read=DIALECT)
    path.set("this", obj.copy())
    return path


def field_value(text: exp.Expression, raw: exp.Expression, field: OutputField) -> exp.Expression:
    """The typed value of one field from its text and JSON forms (NULL when missing or mistyped)."""
    if field.type in ("text", "label"):
        return text.copy()
    if field.type in ("number", "integer"):
        return sf_func("TRY_TO_DOUBLE", text.copy())
    if field.type == "boolean":
        return exp.Case(ifs=[
            exp.If(this=text.copy().eq(exp.Literal.string("true")), true=exp.true()),
            exp.If(this=text.copy().eq(exp.Literal.string("false")), true=exp.false()),
        ])
    # IS_ARRAY first: casting a VARIANT that is not an array to ARRAY fails the whole statement
    # https://docs.snowflake.com/en/sql-reference/functions/is_array
    return exp.If(this=sf_func("IS_ARRAY", raw.copy()), true=exp.cast(raw.copy(), "ARRAY"), false=exp.null())


def field_is_valid(value: exp.Expression, field: OutputField) -> exp.Expression:
    """True when the field satisfies its schema (present, of its type, within its bounds)."""
    checks: list[exp.Expression] = [value.copy().is_(exp.null()).not_()]
    if field.type == "label":
        checks.append(exp.In(this=value.copy(), expressions=[exp.Literal.string(label) for label in field.labels or []]))
    if field.type == "text" and field.max_length:
        checks.append(sf_func("LENGTH", value.copy()) <= exp.Literal.number(field.max_length))
    if field.type == "integer":
        checks.append(value.copy().eq(sf_func("FLOOR", value.copy())))
    if field.type in ("number", "integer"):
        if field.minimum is not None:
            checks.append(value.copy() >= exp.Literal.number(field.minimum))
        if field.maximum is not None:
            checks.append(value.copy() <= exp.Literal.number(field.maximum))
    if field.type == "list" and field.max_items:
        checks.append(sf_func("ARRAY_SIZE", value.copy()) <= exp.Literal.number(field.max_items))
    return exp.and_(*checks)


def schema_text(outputs: dict[str, OutputField]) -> str:
    """The schema as canonical JSON (part of the prompt version: a schema change re-enriches)."""
    return json.dumps(json_schema(outputs), sort_keys=True)
