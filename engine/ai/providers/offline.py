"""The `offline` provider: a deterministic stand-in used when no model is configured.

Its text is built from the row's data block and says plainly that it is not AI output; its provider
column is `offline`, so nothing downstream can mistake it for a model's summary.
"""

from __future__ import annotations

import re

from engine.ai.providers.base import Completion, CompletionRequest, Provider, estimate_tokens
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
        return Completion(text, "offline", estimate_tokens(request.system + request.prompt), estimate_tokens(text))


def _data_lines(prompt: str) -> list[str]:
    start, end = prompt.find("<data>"), prompt.find("</data>")
    if start < 0 or end < 0:
        return []
    # Only "\n" separates fields (rulectl writes it between them); splitlines() would also split on
    # VT, FF, NEL, U+2028 … inside a value and let it forge a field.
    return prompt[start + len("<data>"):end].strip("\n").split("\n")
