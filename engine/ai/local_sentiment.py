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
        # every scored text, with whether it scored neutral; checked for its language once the run ends.
        # Not only the neutral ones: VADER also scores words it knows in other languages' text, so a
        # German five-star review that starts with `Die` scores negative (`die` is in its lexicon).
        self.scored_texts: list[tuple[str, bool]] = []

    def language_note(self) -> str | None:
        """How many texts this run scored look non-English (VADER cannot read them), by language, and
        how many of those it scored neutral; None when none does."""
        from collections import Counter

        from engine.ai.text_language import ENGLISH, guess_language

        found: Counter[str] = Counter()
        neutral = 0
        for text, scored_neutral in self.scored_texts:
            language = guess_language(text)
            if language is not None and language != ENGLISH:
                found[language] += 1
                neutral += scored_neutral
        if not found:
            return None
        languages = ", ".join(f"{language} {count}" for language, count in sorted(found.items(), key=lambda item: (-item[1], item[0])))
        return (f"{sum(found.values())} of {self.scored} text(s) look non-English ({languages}; {neutral} scored neutral): the local "
                f"analyser reads {LANGUAGES}, so their scores say nothing; Snowflake's AI_SENTIMENT reads {CORTEX_LANGUAGES}")

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
            self.scored_texts.append((text, label == "neutral"))
            self.scored += 1
            replies.append(json.dumps({"categories": [{"name": "overall", "sentiment": label}]}))
            self.stats.add(True)
        return pa.array(replies, type=pa.string())
