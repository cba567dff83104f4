"""A strict stand-in for Snowflake Cortex's AI functions, shared by the recording double and the fake
Cortex of the fakesnow tests. It refuses what Snowflake documents as refused, each rule beside the
page that states it, and answers in the documented shape for the arguments sent.

Written from the pages, not from rulectl's own tables (engine/config/cortex.py): a test that passes
only because both copy the same mistake is what this file is here to prevent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


class CortexRefused(RuntimeError):
    """Snowflake's error for a call it refuses (the message is what the connector would raise)."""


# --- functions ----------------------------------------------------------------------------------
# "When the 2026_08 bundle is enabled, calls to the legacy functions below fail only in accounts
# marked inactive" — SNOWFLAKE.CORTEX.COMPLETE, TRY_COMPLETE, SENTIMENT, EMBED_TEXT_768, … The double
# is such an account: a statement naming one fails.
# https://docs.snowflake.com/en/release-notes/bcr-bundles/2026_08/bcr-2432
LEGACY_FUNCTION = re.compile(
    r"\bSNOWFLAKE\.CORTEX\.(COMPLETE|TRY_COMPLETE|CLASSIFY_TEXT|TRANSLATE|SENTIMENT|ENTITY_SENTIMENT|PARSE_DOCUMENT|"
    r"COUNT_TOKENS|SUMMARIZE|EXTRACT_ANSWER|EMBED_TEXT_768|EMBED_TEXT_1024)\s*\(",
    re.I,
)


def refuse_legacy_functions(sql: str) -> None:
    match = LEGACY_FUNCTION.search(sql)
    if match:
        name = match.group(0).rstrip("( ").upper()
        raise CortexRefused(f"002140 (42601): SQL compilation error: Unknown function {name} (legacy Cortex function removed for this account; use the AI_ function)")


# --- models -------------------------------------------------------------------------------------
# Models AI_COMPLETE answers in the double's region (cross-region inference on): the current
# AI_COMPLETE model list less the models the deprecation notices retired.
# https://docs.snowflake.com/en/user-guide/snowflake-cortex/model-availability
AI_COMPLETE_MODELS = frozenset({
    "llama3.1-8b", "llama3.1-70b", "llama3.3-70b", "mistral-7b", "mixtral-8x7b",
    "claude-4-sonnet", "claude-3-7-sonnet", "claude-3-5-sonnet", "claude-sonnet-4-6", "claude-opus-4-7",
    "openai-gpt-4.1", "openai-o4-mini", "gemini-3.1-pro",
})
# "If the named model parameter is not updated, queries or API calls that reference the deprecated
# model will fail after the deprecation date."
# https://docs.snowflake.com/en/release-notes/bcr-bundles/2025_05/bcr-1984
# https://docs.snowflake.com/en/release-notes/bcr-bundles/un-bundled/bcr-may-model-deprecations
# https://docs.snowflake.com/en/release-notes/2026/other/bcr-june-model-deprecations
RETIRED_MODELS = frozenset({
    "gemma-7b", "jamba-1.5-large", "jamba-1.5-mini", "jamba-instruct", "llama2-70b-chat", "llama3.2-1b", "llama3.2-3b", "reka-core", "reka-flash",
    "claude-4-opus", "openai-gpt-oss-120b", "openai-gpt-oss-20b",
    "deepseek-r1", "snowflake-llama-3.1-405b", "snowflake-llama-3.3-70b", "llama4-scout", "llama4-maverick", "llama3.1-405b",
    "mistral-large", "mistral-large2", "pixtral",
})
# "Legacy: only accounts that already used the model can keep calling it." (model-availability page)
LEGACY_MODELS = frozenset({"snowflake-arctic"})
# AI_EMBED's 768-dimension text models: https://docs.snowflake.com/en/sql-reference/functions/ai_embed
EMBED_MODELS = frozenset({"snowflake-arctic-embed-m-v1.5", "snowflake-arctic-embed-m", "e5-base-v2"})

# --- structured outputs -------------------------------------------------------------------------
# "The use of an unsupported constraint keyword results in an error"; property names are letters,
# digits, hyphens and underscores, at most 64 characters.
# https://docs.snowflake.com/en/user-guide/snowflake-cortex/complete-structured-outputs
SUPPORTED_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "description"})
PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# --- input limits -------------------------------------------------------------------------------
# "Inputs that exceed the limit result in an error": 512 tokens for the sentiment and 768-dimension
# embedding models (~4 characters per token of English).
# https://docs.snowflake.com/en/user-guide/snowflake-cortex/aisql-regional-availability (model restrictions)
# https://docs.snowflake.com/en/sql-reference/functions/sentiment-snowflake-cortex
INPUT_TOKEN_LIMIT = 512
CHARS_PER_TOKEN = 4


def tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def schema_problems(schema: object, path: str = "schema") -> list[str]:
    """Every keyword Cortex refuses and every property name it does not accept, with its path."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return problems
    for keyword, value in schema.items():
        if keyword not in SUPPORTED_KEYWORDS:
            problems.append(f"unsupported constraint keyword '{keyword}' at {path}")
        elif keyword == "properties" and isinstance(value, dict):
            for name, field_schema in value.items():
                if not PROPERTY_NAME.match(name):
                    problems.append(f"invalid property name '{name}' at {path}.properties")
                problems += schema_problems(field_schema, f"{path}.properties.{name}")
        elif keyword == "items":
            problems += schema_problems(value, f"{path}.items")
    return problems


@dataclass
class StrictCortex:
    """The account's Cortex: which legacy models it already used, which calls fail and why."""

    legacy_models_used: set[str] = field(default_factory=set)  # legacy models this account may still call
    denied: str | None = None  # a role without SNOWFLAKE.CORTEX_USER: every call fails with this
    failing_models: dict[str, str] = field(default_factory=dict)  # model → error (e.g. not in region)
    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def model_error(self, model: str, models: frozenset[str] = AI_COMPLETE_MODELS) -> str | None:
        if self.denied:
            return self.denied
        if model in self.failing_models:
            return self.failing_models[model]
        if model in RETIRED_MODELS:
            return f"Model '{model}' has been deprecated and is no longer available. Use a supported model."
        if model in LEGACY_MODELS and model not in self.legacy_models_used:
            return f"Model '{model}' is a legacy model and is not available for this account."
        if model not in models and model not in LEGACY_MODELS:
            return f"Unknown model '{model}'."
        return None

    def complete(self, model: str, prompt: str, model_parameters: dict | None, response_format: dict | None, show_details: bool, answer: object) -> tuple[object, str | None]:
        """One AI_COMPLETE row → (reply, error): the reply in the documented shape for the options
        sent, or (None, Snowflake's error). "By default, if AI_COMPLETE can't process the input, the
        function returns NULL" (https://docs.snowflake.com/en/sql-reference/functions/ai_complete,
        Error behavior) — a schema Cortex refuses included. `answer`: the text (or, with a
        response_format, the object) the model produces; None for a model that fails on this row.
        https://docs.snowflake.com/en/sql-reference/functions/ai_complete-single-string (Returns)"""
        self.calls.append(("AI_COMPLETE", model))
        if response_format is not None:
            problems = schema_problems(response_format.get("schema"))
            if problems:
                return None, "Invalid response_format: " + "; ".join(problems)
        error = self.model_error(model)
        if error or answer is None:
            return None, error or "the model did not answer"
        usage = {"prompt_tokens": tokens(prompt), "completion_tokens": tokens(json.dumps(answer) if response_format else str(answer))}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not show_details:
            return answer, None  # a string, or with a response_format the object itself
        if response_format is not None:
            return {"created": 1764950000, "model": model, "structured_output": [{"raw_message": answer, "type": "json"}], "usage": usage}, None
        return {"choices": [{"messages": answer}], "created": 1764950000, "model": model, "usage": usage}, None

    def complete_with_error_details(self, *arguments) -> dict:
        """AI_COMPLETE(…, return_error_details => TRUE): an OBJECT with value and error, one of which
        is NULL. https://docs.snowflake.com/en/sql-reference/functions/ai_complete (Error behavior)"""
        value, error = self.complete(*arguments)
        return {"value": value, "error": error}

    def embed(self, model: str, text: str) -> list[float]:
        self.calls.append(("AI_EMBED", model))
        error = self.model_error(model, EMBED_MODELS)
        if error:
            raise CortexRefused(f"100351 (P0000): {error}")
        if tokens(text) > INPUT_TOKEN_LIMIT:
            raise CortexRefused(f"100351 (P0000): input of about {tokens(text)} tokens exceeds the model's {INPUT_TOKEN_LIMIT}-token limit")
        return [0.1] * 768

    def sentiment(self, text: str) -> dict:
        """AI_SENTIMENT(text): {"categories": [{"name": "overall", "sentiment": …}]}
        https://docs.snowflake.com/en/sql-reference/functions/ai_sentiment (Returns)"""
        self.calls.append(("AI_SENTIMENT", None))
        if self.denied:
            raise CortexRefused(f"100351 (P0000): {self.denied}")
        if tokens(text) > INPUT_TOKEN_LIMIT:
            raise CortexRefused(f"100351 (P0000): input of about {tokens(text)} tokens exceeds the {INPUT_TOKEN_LIMIT}-token limit")
        lowered = text.lower()
        good, bad = any(w in lowered for w in ("great", "good", "thanks", "love")), any(w in lowered for w in ("bad", "broken", "angry", "slow"))
        label = "mixed" if good and bad else "positive" if good else "negative" if bad else "neutral"
        return {"categories": [{"name": "overall", "sentiment": label}]}
