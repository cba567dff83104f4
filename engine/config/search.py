"""Semantic customer search (`search:` in rulectl.yml): what is embedded per customer, by which model.

rulectl keeps one embedding per customer in `<ai>.CUSTOMER_EMBEDDINGS`, refreshed by the task
`<ai>.REFRESH_CUSTOMER_EMBEDDINGS` (`rulectl run customer_embeddings`) only for customers whose text
or embedding model changed; `rulectl search` ranks customers by cosine similarity to a query.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.config.models import Project, Search, Target

EMBEDDINGS_TABLE = "CUSTOMER_EMBEDDINGS"
SEARCH_TASK = "customer_embeddings"  # `rulectl run customer_embeddings` runs REFRESH_CUSTOMER_EMBEDDINGS
EMBEDDING_DIMENSIONS = 768

# The 768-dimension text models of AI_EMBED (the same as EMBED_TEXT_768's); the 1024 ones would need
# a VECTOR(FLOAT, 1024) column. https://docs.snowflake.com/en/sql-reference/functions/ai_embed
# https://docs.snowflake.com/en/sql-reference/functions/embed_text-snowflake-cortex
CORTEX_768_MODELS = ("snowflake-arctic-embed-m-v1.5", "snowflake-arctic-embed-m", "e5-base-v2")

# The local target's embedder when no embedding endpoint is configured (ai/local_embed.py): WordLlama,
# a static embedding model (16 MB, in the wordllama wheel) that finds shared meaning, not only shared
# words. Its name carries the package version and the model: a different one re-embeds everyone.
LOCAL_EMBEDDER = "wordllama-0.4.0-l2_supercat-256"
# The labelled fallback when the wordllama package is missing: hashed words and word pairs, so it
# finds shared wording, not shared meaning — and says so in its name.
OFFLINE_EMBEDDER = "rulectl-offline-word-hashing-768"


@dataclass(frozen=True)
class SearchText:
    """One `text:` entry: a prompt's reply or one of its output fields, or a customer column/metric."""

    label: str  # how the part is labelled in the embedded text (the entry as written, lower case)
    prompt: str | None  # the prompt whose stored output holds it; None for a customer column or metric
    column: str  # the column to read: an output field, `response`, or a customer column/metric


def search_texts(search: Search) -> list[SearchText]:
    """`account_summary.summary` → that prompt's field; `account_summary` → a prompt's reply when a
    prompt has that name (else a customer column or metric); anything else → a customer column."""
    return [_entry(text.strip().lower()) for text in search.text]


def _entry(text: str) -> SearchText:
    prompt, dot, field = text.partition(".")
    if dot:
        return SearchText(text, prompt, field)
    return SearchText(text, None, text)


def with_prompt_replies(texts: list[SearchText], prompt_names: set[str]) -> list[SearchText]:
    """A bare name that is a prompt reads that prompt's reply (its `response` column)."""
    return [SearchText(t.label, t.column, "response") if t.prompt is None and t.column in prompt_names else t for t in texts]


def embedding_model(target: Target | None, search: Search) -> str:
    """The model that embeds on `target`: Cortex's on Snowflake; on a local target the endpoint's
    `embedding_model` when one is configured, else WordLlama (the hashing stand-in without it). It is part of every stored
    embedding's version, so switching it re-embeds (vectors of two models are not comparable)."""
    if target is None or target.engine == "snowflake":
        return search.model
    if target.llm.provider == "openai" and target.llm.embedding_model:
        return target.llm.embedding_model
    return LOCAL_EMBEDDER if local_embedder_installed() else OFFLINE_EMBEDDER


def local_embedder_installed() -> bool:
    """Whether the wordllama package is importable (a dependency, but an install may lack it)."""
    import importlib.util

    return importlib.util.find_spec("wordllama") is not None


def served_in_process(model: str) -> bool:
    """Models rulectl embeds with by itself, without any endpoint."""
    return model in (LOCAL_EMBEDDER, OFFLINE_EMBEDDER)


def embeddings_table(project: Project) -> str:
    return f"{project.schemas.ai}.{EMBEDDINGS_TABLE}".upper()


def search_task(project: Project) -> str:
    return f"{project.schemas.ai}.REFRESH_{SEARCH_TASK}".upper()
