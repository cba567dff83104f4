"""The `offline` provider: a deterministic stand-in used when no model is configured.

Its text is built from the row's data block and says plainly that it is not AI output; its provider
column is `offline`, so nothing downstream can mistake it for a model's summary.
"""

from __future__ import annotations

import json
import re

from engine.ai.providers.base import Completion, CompletionRequest, Provider, estimate_tokens, structured_schema
from engine.compile.prompts import neutralize

LABEL = "[offline stand-in, not AI output]"
FIELD_LINE = re.compile(r"^([a-z_][a-z0-9_]*): (.*)$")


class OfflineProvider(Provider):
    name = "offline"

    def complete(self, request: CompletionRequest) -> Completion:
        matches = (FIELD_LINE.match(line) for line in _data_lines(request.prompt))
        # a value is neutralised again here: a prompt built outside rulectl's SQL stays one line per field
        fields = {m.group(1): neutralize(m.group(2)) for m in matches if m}
        # every field the prompt declared, in its order: the stand-in knows no project's names
        facts = "; ".join(f"{key.replace('_', ' ')}: {value}" for key, value in fields.items()) or "no fields"
        text = f"{LABEL} Based on {facts}. Configure an LLM provider in rulectl.yml (llm: provider: openai) for real summaries."
        schema = structured_schema(request.options)
        if schema is not None:
            text = json.dumps(stand_in_for(schema, f"{LABEL} Based on {facts}."))
        return Completion(text, "offline", estimate_tokens(request.system + request.prompt), estimate_tokens(text))


def _data_lines(prompt: str) -> list[str]:
    start, end = prompt.find("<data>"), prompt.find("</data>")
    if start < 0 or end < 0:
        return []
    # Only "\n" separates fields (rulectl writes it between them); splitlines() would also split on
    # VT, FF, NEL, U+2028 … inside a value and let it forge a field.
    return prompt[start + len("<data>"):end].strip("\n").split("\n")


def stand_in_for(schema: dict, text: str) -> dict:
    """A reply that satisfies `schema`, every text saying it is a stand-in: labels take the first
    allowed value, numbers their minimum (or 0), booleans false, lists one labelled item."""
    reply = {}
    for name, field in schema.get("properties", {}).items():
        kind = field.get("type")
        if "enum" in field:
            reply[name] = field["enum"][0]
        elif kind == "string":
            reply[name] = text[: field.get("maxLength", len(text))]
        elif kind in ("number", "integer"):
            value = min(field.get("minimum", 0), field.get("maximum", float("inf")))
            reply[name] = int(value) if kind == "integer" else value
        elif kind == "boolean":
            reply[name] = False
        else:
            reply[name] = [LABEL][: field.get("maxItems", 1)]
    return reply
