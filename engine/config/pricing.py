"""What Cortex calls cost, in Snowflake credits per million tokens: the defaults from Snowflake's
Service Consumption Table, overridden per model by `pricing:` in rulectl.yml.

Config-level so that compile can price a row for `refresh.max_credits` (the budget is enforced in
the MERGE itself) and plan's estimate (ai/cost.py) reads the same numbers."""

from __future__ import annotations

from engine.config.models import Project

# Credits per million tokens (input and output alike) for Cortex COMPLETE. Defaults from Snowflake's
# Service Consumption Table (https://www.snowflake.com/legal-files/CreditConsumptionTable.pdf);
# override per model with `pricing:` in rulectl.yml, since contracts and the table change.
SENTIMENT_MODEL = "cortex-sentiment"  # the `pricing:` key of AI_SENTIMENT
DEFAULT_CREDITS_PER_MILLION_TOKENS = {
    "snowflake-arctic": 0.84,
    "mistral-large2": 1.95,
    "mistral-7b": 0.12,
    "llama3.1-8b": 0.19,
    "llama3.1-70b": 1.21,
    "llama3.1-405b": 3.0,
    "llama3.3-70b": 1.21,
    "snowflake-llama-3.3-70b": 0.29,
    # AI_SENTIMENT bills input tokens only (a label comes back, no text)
    SENTIMENT_MODEL: 0.08,
    # AI_EMBED bills input tokens only; the 768-dimension models (search:)
    # https://docs.snowflake.com/en/user-guide/snowflake-cortex/aisql-cost
    "snowflake-arctic-embed-m-v1.5": 0.03,
    "snowflake-arctic-embed-m": 0.03,
    "e5-base-v2": 0.03,
}
FALLBACK_CREDITS_PER_MILLION_TOKENS = 2.0
DEFAULT_OUTPUT_TOKENS = 300  # when the prompt sets no max_tokens: a cautious per-row ceiling
CHARS_PER_TOKEN = 4


def model_price(config: Project, model: str) -> float:
    """Credits per million tokens of `model`: the project's `pricing:` entry, else the table."""
    override = config.pricing.get(model)
    if override is not None:
        return override.credits_per_million_tokens
    return DEFAULT_CREDITS_PER_MILLION_TOKENS.get(model, FALLBACK_CREDITS_PER_MILLION_TOKENS)
