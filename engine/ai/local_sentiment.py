"""AI_SENTIMENT on DuckDB: VADER, a lexicon- and rule-based analyser that runs offline, behind a DuckDB
function, the way local_complete.py serves AI_COMPLETE.

It is not Cortex: Snowflake's AI_SENTIMENT is a model; VADER is a word list with rules (Hutto &
Gilbert, 2014). Both answer an overall label in AI_SENTIMENT's shape, which rulectl scores 1 / 0 / −1
on both targets, so metrics and rules read the same way; `rulectl run` says which one scored.
VADER's labels come from its `compound` polarity with the thresholds its authors recommend:
positive ≥ 0.05, negative ≤ −0.05, neutral between (https://github.com/cjhutto/vaderSentiment,
"About the Scoring").
"""

from __future__ import annotations

import json
from functools import lru_cache

import duckdb
import pyarrow as pa

from engine.ai.local_complete import CallStats, replace_function

FUNCTION_NAME = "rulectl_sentiment"
ANALYSER = "VADER (local, lexicon-based; not Cortex)"
# VADER's lexicon and rules are English (its README: "… sentiment expressed in social media" in
# English; text in other languages is to be translated first). Cortex's, for comparison:
# https://docs.snowflake.com/en/sql-reference/functions/ai_sentiment
LANGUAGES = "English only"  # also DuckDBBackend.local_sentiment_languages (plan's note; backends never import ai/)
CORTEX_LANGUAGES = "English, French, German, Hindi, Italian, Spanish and Portuguese"


@lru_cache(maxsize=1)
def _analyser():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_score(text: str) -> float:
    """VADER's compound polarity of `text`: −1 (most negative) … 1 (most positive)."""
    return float(_analyser().polarity_scores(text)["compound"])


POSITIVE, NEGATIVE = 0.05, -0.05


def sentiment_label(text: str) -> str:
    """positive, negative or neutral, from VADER's compound score."""
    score = sentiment_score(text)
    return "positive" if score >= POSITIVE else "negative" if score <= NEGATIVE else "neutral"


class LocalSentiment:
    """Registers `rulectl_sentiment(text) → VARCHAR` (AI_SENTIMENT's OBJECT as JSON) on a DuckDB
    connection; counts its calls."""

    def __init__(self) -> None:
        self.stats = CallStats()
        self.scored = 0
        self.neutral_texts: list[str] = []  # checked for their language once the run ends

    def language_note(self) -> str | None:
        """How many texts this run scored neutral look non-English (VADER cannot read them), or None."""
        from engine.ai.text_language import other_languages

        if not self.neutral_texts:
            return None
        found = other_languages(self.neutral_texts)
        if not found:
            return None
        languages = ", ".join(f"{language} {count}" for language, count in sorted(found.items(), key=lambda item: (-item[1], item[0])))
        return (f"{sum(found.values())} of {self.scored} text(s) scored neutral look non-English ({languages}): the local analyser "
                f"reads {LANGUAGES}, so their score says nothing; Snowflake's AI_SENTIMENT reads {CORTEX_LANGUAGES}")

    def register(self, connection: duckdb.DuckDBPyConnection) -> None:
        replace_function(connection, FUNCTION_NAME, self._batch, ["VARCHAR"], "VARCHAR")

    def _batch(self, texts: pa.Array) -> pa.Array:
        replies = []
        for text in texts.to_pylist():
            if text is None or not text.strip():
                self.stats.add(False, "empty text")
                replies.append(None)
                continue
            label = sentiment_label(text)
            if label == "neutral":
                self.neutral_texts.append(text)
            self.scored += 1
            replies.append(json.dumps({"categories": [{"name": "overall", "sentiment": label}]}))
            self.stats.add(True)
        return pa.array(replies, type=pa.string())
