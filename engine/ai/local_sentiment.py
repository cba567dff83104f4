"""SENTIMENT on DuckDB: VADER, a lexicon- and rule-based analyser that runs offline, behind a DuckDB
function, the way local_complete.py serves COMPLETE.

It is not Cortex: Snowflake's SNOWFLAKE.CORTEX.SENTIMENT is a model; VADER is a word list with rules
(Hutto & Gilbert, 2014). Both answer −1 … 1 with negative meaning negative, so metrics and rules
read the same way on both targets, but the numbers differ; `rulectl run` says which one scored.
VADER's `compound` score is its normalized overall polarity in −1 … 1.
"""

from __future__ import annotations

from functools import lru_cache

import duckdb
import pyarrow as pa

from engine.ai.local_complete import CallStats, replace_function

FUNCTION_NAME = "rulectl_sentiment"
ANALYSER = "VADER (local, lexicon-based; not Cortex)"


@lru_cache(maxsize=1)
def _analyser():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_score(text: str) -> float:
    """VADER's compound polarity of `text`: −1 (most negative) … 1 (most positive)."""
    return float(_analyser().polarity_scores(text)["compound"])


class LocalSentiment:
    """Registers `rulectl_sentiment(text) → DOUBLE` on a DuckDB connection; counts its calls."""

    def __init__(self) -> None:
        self.stats = CallStats()

    def register(self, connection: duckdb.DuckDBPyConnection) -> None:
        replace_function(connection, FUNCTION_NAME, self._batch, ["VARCHAR"], "DOUBLE")

    def _batch(self, texts: pa.Array) -> pa.Array:
        scores = []
        for text in texts.to_pylist():
            if text is None or not text.strip():
                self.stats.add(False, "empty text")
                scores.append(None)
                continue
            scores.append(sentiment_score(text))
            self.stats.add(True)
        return pa.array(scores, type=pa.float64())
