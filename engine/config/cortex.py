"""What Snowflake Cortex accepts today (December 2026): the default model, models Snowflake retired
or keeps only for accounts that already used them, the JSON-schema keywords AI_COMPLETE's structured
outputs accept, and the input limits of the sentiment and embedding functions.

One home for these facts: validate warns from them, compile shapes `response_format` and the input
caps from them, cost and doctor read them. Each table names the page that states it; when the page
changes, this file (and the strict double in tests/doubles/cortex.py, written from the same pages
independently) changes first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The default and example model. llama3.1-8b is listed for AI_COMPLETE
# (https://docs.snowflake.com/en/sql-reference/functions/ai_complete-single-string), is in none of
# the 2025–2026 deprecation notices below, and is the cheapest general model of the cost table —
# see docs/decisions.md ("A default Cortex model that exists").
DEFAULT_MODEL = "llama3.1-8b"
LARGE_REPLACEMENT = "llama3.3-70b"


@dataclass(frozen=True)
class RetiredModel:
    replacement: str
    notice: str  # the page that retired it


_BCR_1984 = "https://docs.snowflake.com/en/release-notes/bcr-bundles/2025_05/bcr-1984"
_MAY_2026 = "https://docs.snowflake.com/en/release-notes/bcr-bundles/un-bundled/bcr-may-model-deprecations"
_JUNE_2026 = "https://docs.snowflake.com/en/release-notes/2026/other/bcr-june-model-deprecations"

# "If the named model parameter is not updated, queries or API calls that reference the deprecated
# model will fail after the deprecation date." (the May and June 2026 notices)
RETIRED_MODELS: dict[str, RetiredModel] = {
    **{name: RetiredModel(DEFAULT_MODEL, _BCR_1984) for name in ("gemma-7b", "jamba-1.5-mini", "jamba-instruct", "llama3.2-1b", "llama3.2-3b", "reka-flash")},
    **{name: RetiredModel(LARGE_REPLACEMENT, _BCR_1984) for name in ("jamba-1.5-large", "llama2-70b-chat", "reka-core")},
    **{name: RetiredModel(LARGE_REPLACEMENT, _MAY_2026) for name in ("claude-4-opus", "openai-gpt-oss-120b", "openai-gpt-oss-20b")},
    **{
        name: RetiredModel(LARGE_REPLACEMENT, _JUNE_2026)
        for name in (
            "deepseek-r1", "snowflake-llama-3.1-405b", "snowflake-llama-3.3-70b", "llama4-scout", "llama4-maverick",
            "llama3.1-405b", "mistral-large", "mistral-large2", "pixtral",
        )
    },
}

# "Legacy: only accounts that already used the model can keep calling it."
# (https://docs.snowflake.com/en/user-guide/snowflake-cortex/model-availability) — the seed's model.
LEGACY_MODELS: dict[str, str] = {"snowflake-arctic": DEFAULT_MODEL}

MODEL_AVAILABILITY_PAGE = "https://docs.snowflake.com/en/user-guide/snowflake-cortex/model-availability"


def model_warning(model: str) -> str | None:
    """A sentence for validate when `model` is retired or legacy, naming the replacement; else None."""
    retired = RETIRED_MODELS.get(model.lower())
    if retired is not None:
        return (
            f"`model: {model}` is retired by Snowflake ({retired.notice}): calls to it fail, so every refresh would enrich nothing; "
            f"use `{retired.replacement}` (or another model of {MODEL_AVAILABILITY_PAGE})"
        )
    replacement = LEGACY_MODELS.get(model.lower())
    if replacement is not None:
        return (
            f"`model: {model}` is a legacy Cortex model: only accounts that already used it can call it "
            f"({MODEL_AVAILABILITY_PAGE}); `rulectl doctor` tells whether yours can, else use `{replacement}`"
        )
    return None


# AI_COMPLETE structured outputs: the keywords `response_format` may carry. "The use of an
# unsupported constraint keyword results in an error" — maxLength, minLength, maximum, minimum,
# exclusiveMaximum/Minimum, maxItems, minItems, format among them — so rulectl sends only these and
# enforces its own bounds (lengths, ranges, item counts) with its SQL gate and the local jsonschema
# check before a reply is stored.
# https://docs.snowflake.com/en/user-guide/snowflake-cortex/complete-structured-outputs
SUPPORTED_SCHEMA_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "description"})

# Property names of a structured output: letters, digits, `-` and `_`, at most 64 characters
# (same page).
PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PROPERTY_NAME_RULE = "letters, digits, `-` and `_`, at most 64 characters"


def supported_schema(schema: dict) -> dict:
    """`schema` with only the keywords AI_COMPLETE accepts, at every level (the constraints it would
    refuse stay in rulectl's own gate)."""
    kept: dict = {}
    for keyword, value in schema.items():
        if keyword not in SUPPORTED_SCHEMA_KEYWORDS:
            continue
        if keyword == "properties":
            value = {name: supported_schema(field) for name, field in value.items()}
        elif keyword == "items" and isinstance(value, dict):
            value = supported_schema(value)
        kept[keyword] = value
    return kept


# Input caps, in characters (~4 characters per token of English, as the cost estimate counts):
# AI_SENTIMENT and the 768-dimension AI_EMBED models read at most 512 tokens, and "Inputs that exceed
# the limit result in an error" (https://docs.snowflake.com/en/user-guide/snowflake-cortex/aisql-regional-availability,
# model restrictions). 1,500 characters ≈ 375 tokens leaves room for text that tokenizes densely.
SENTIMENT_MAX_CHARS = 1500
EMBED_MAX_CHARS = 1500


CORTEX_USER_GRANT = "GRANT DATABASE ROLE SNOWFLAKE.CORTEX_USER TO ROLE {role}"
CROSS_REGION = "ALTER ACCOUNT SET CORTEX_ENABLED_CROSS_REGION = 'ANY_REGION'"


def cortex_fix(error: str, model: str | None, role: str | None, function: str = "AI_COMPLETE") -> str:
    """What to do about a failed Cortex call, from Snowflake's error: the GRANT for a role without
    Cortex access (https://docs.snowflake.com/en/sql-reference/functions/ai_complete: "Users must use
    a role that has been granted the SNOWFLAKE.CORTEX_USER database role"), a model to pick for a
    retired, legacy or unavailable one, the schema keyword to drop."""
    lowered = error.lower()
    grant = CORTEX_USER_GRANT.format(role=role or "<your role>")
    if "cortex_user" in lowered or "insufficient privileges" in lowered or "not authorized" in lowered or "access denied" in lowered:
        return f"run `{grant}` (as ACCOUNTADMIN), or use a role that has it"
    if "response_format" in lowered or "keyword" in lowered or "property name" in lowered:
        return "the outputs schema has something Cortex refuses: report it (rulectl sends only the keywords Cortex accepts)"
    if function == "AI_EMBED" and model:
        return (
            f"set `search: {{model: …}}` in rulectl.yml to another 768-dimension AI_EMBED model your region lists "
            f"(SHOW CORTEX BASE MODELS IN SCHEMA SNOWFLAKE.MODELS), or enable cross-region inference: `{CROSS_REGION}`"
        )
    if model:
        warning = model_warning(model)
        if warning is not None or "model" in lowered:
            replacement = (RETIRED_MODELS.get(model.lower()) or RetiredModel(LEGACY_MODELS.get(model.lower(), DEFAULT_MODEL), "")).replacement
            return (
                f"set `model: {replacement}` in the prompt (or another model your region lists: "
                f"SHOW CORTEX BASE MODELS IN SCHEMA SNOWFLAKE.MODELS), or enable cross-region inference: `{CROSS_REGION}`"
            )
    return f"check that the role has SNOWFLAKE.CORTEX_USER (`{grant}`) and that the model is available in the account's region (`{CROSS_REGION}`)"
