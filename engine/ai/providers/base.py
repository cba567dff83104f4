"""The LLM provider interface used by the local target in place of Snowflake Cortex.

A provider turns one (model, system, prompt, options) request into a Completion or raises
CompletionFailed. It must be thread-safe: the local COMPLETE function calls it from a thread pool.
Failures are never stored as summaries: the row stays pending and is retried on the next run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class CompletionRequest:
    model: str  # the model named in the prompt file (e.g. llama3.1-8b)
    system: str
    prompt: str
    options: dict


@dataclass(frozen=True)
class Completion:
    text: str
    model: str  # the model that actually answered
    prompt_tokens: int
    completion_tokens: int


class CompletionFailed(Exception):
    """The call failed (timeout, HTTP error, malformed or empty reply) after any retries.
    `unreachable`: the endpoint itself could not be reached (refused, reset, timed out), so other
    calls to it now would fail the same way."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


class Provider(ABC):
    """One way of answering COMPLETE calls. `name` is stored in the output table's provider column."""

    name: str = "provider"
    # Whether the endpoint decodes under the whole JSON schema, bounds included (maxLength,
    # maxItems, minimum, maximum). Only where known: OpenAI's strict mode, for one, refuses keywords
    # it does not support, so other endpoints get the schema as the SQL carries it.
    takes_schema_bounds: bool = False

    @abstractmethod
    def complete(self, request: CompletionRequest) -> Completion:
        """Answer one request or raise CompletionFailed."""


def estimate_tokens(text: str) -> int:
    """Rough token count (about four characters per token for English), used for cost estimates."""
    return max(1, (len(text) + 3) // 4)


def structured_schema(options: dict) -> dict | None:
    """The JSON schema a structured reply must satisfy (Cortex's `response_format` option), if any."""
    response_format = options.get("response_format")
    return response_format.get("schema") if isinstance(response_format, dict) else None


def schema_problem(text: str, schema: dict) -> str | None:
    """Why `text` is not a JSON document satisfying `schema`, or None when it is."""
    import json

    import jsonschema

    try:
        document = json.loads(text)
    except ValueError:
        return "the reply is not JSON"
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(document))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the reply"
    return f"{where}: {error.message}"[:300]
