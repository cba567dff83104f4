"""AI_EMBED on DuckDB: a vectorized (Arrow) function `rulectl_embed(model, text) → FLOAT[]`, the way
local_complete.py serves COMPLETE.

With `llm: {provider: openai, embedding_model: …}` it asks the endpoint's /embeddings (a real model).
Otherwise the model is LOCAL_EMBEDDER: WordLlama's static token embeddings (the 256-dimension
l2_supercat model inside the wordllama wheel), pooled and normalised — a real embedding model that
ranks "the council froze spending and may not renew" far above "they love the new AR module" for
"budget cuts, worried about renewal". Without the package the model is OFFLINE_EMBEDDER, and this
module embeds by itself: words and word pairs,
lightly stemmed and hashed into 768 signed dimensions (the "hashing trick"), then scaled to unit
length. Cosine similarity of two such vectors measures shared wording — "renewal" finds "renewal",
not "contract end". That is an honest local stand-in, labelled so wherever search results are shown,
never presented as a model's embedding.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from engine.ai.local_complete import CallStats, replace_function
from engine.ai.providers.base import CompletionFailed
from engine.config.search import EMBEDDING_DIMENSIONS, LOCAL_EMBEDDER, OFFLINE_EMBEDDER

FUNCTION_NAME = "rulectl_embed"
OFFLINE_LABEL = "offline word hashing (shared wording, not meaning; not AI)"
LOCAL_LABEL = f"{LOCAL_EMBEDDER} (WordLlama, a static embedding model run locally)"
REQUEST_TEXTS = 64  # texts per /embeddings request
WORD = re.compile(r"[^\W_]+")  # letters and digits of any script: "Müller" is one word
# Words too common to say anything about a customer; the rest count.
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or our that the their this to was we were will with".split()
)
SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ed", "es", "ly", "s")


def offline_embedding(text: str) -> list[float] | None:
    """A unit vector of `text`'s stemmed words (weight 1) and adjacent word pairs (weight ½), each
    term's count dampened (1 + log n); None when the text has no words."""
    vector = offline_vector(text)
    return None if vector is None else vector.tolist()


def offline_vector(text: str) -> np.ndarray | None:
    words = [_stem(word) for word in WORD.findall(text.casefold()) if word not in STOP_WORDS]
    if not words:
        return None
    terms: Counter[str] = Counter(words)
    pairs = Counter(f"{a} {b}" for a, b in zip(words, words[1:]))
    features = [(term, weight * (1.0 + math.log(count))) for counts, weight in ((terms, 1.0), (pairs, 0.5)) for term, count in counts.items()]
    placed = [_slot(term) for term, _ in features]
    slots = np.fromiter((slot for slot, _ in placed), dtype=np.int64, count=len(placed))
    values = np.fromiter((sign * weight for (_, sign), (_, weight) in zip(placed, features)), dtype=np.float64, count=len(placed))
    vector = np.bincount(slots, weights=values, minlength=EMBEDDING_DIMENSIONS)
    norm = float(np.sqrt(vector @ vector))
    return (vector / norm).astype(np.float32) if norm else None


def vectors_to_arrow(vectors: list) -> pa.Array:
    """A FLOAT[] column from vectors (NumPy arrays or lists; None for a row without one), built
    from one flat buffer rather than element by element."""
    present = [np.asarray(vector, dtype=np.float32) for vector in vectors if vector is not None]
    lengths = [0 if vector is None else len(vector) for vector in vectors]
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    values = pa.array(np.concatenate(present) if present else np.empty(0, dtype=np.float32))
    return pa.ListArray.from_arrays(offsets, values, mask=pa.array([vector is None for vector in vectors]))


@lru_cache(maxsize=1)
def _wordllama():
    """WordLlama 0.4.0.post1 looks for its tokenizer config in the wrong folder and then tries to
    download it: load it from the package's own directory with downloads disabled (both files ship
    in the wheel), so it never touches the network."""
    import wordllama

    return wordllama.WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)


def local_vectors(texts: list[str]) -> list[np.ndarray]:
    """Unit vectors of `texts` from WordLlama, in one batch."""
    return list(_wordllama().embed(texts, norm=True).astype(np.float32))


@lru_cache(maxsize=1 << 16)
def _slot(term: str) -> tuple[int, float]:
    """The dimension a term lands in and its sign (signed hashing: collisions cancel out on average)."""
    digest = hashlib.blake2b(term.encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little") % EMBEDDING_DIMENSIONS, 1.0 if digest[4] & 1 else -1.0


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    for suffix in SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class LocalEmbed:
    """Registers `rulectl_embed(model, text) → FLOAT[]` on a DuckDB connection; counts its calls.

    `endpoint` is the openai provider (anything with `embed(model, texts)`), or None when only the
    offline embedder may be used."""

    def __init__(self, endpoint=None, concurrency: int = 4, on_row: Callable[[bool], None] = lambda ok: None):
        self.endpoint = endpoint
        self.concurrency = concurrency
        self.on_row = on_row
        self.stats = CallStats()
        self.offline_calls = 0
        self.local_calls = 0
        self.unreachable: str | None = None  # set when the endpoint did not answer: later requests fail fast

    def register(self, connection: duckdb.DuckDBPyConnection) -> None:
        replace_function(connection, FUNCTION_NAME, self._batch, ["VARCHAR", "VARCHAR"], "FLOAT[]")

    def _batch(self, models: pa.Array, texts: pa.Array) -> pa.Array:
        rows = list(zip(models.to_pylist(), texts.to_pylist()))
        vectors: list = [None] * len(rows)  # NumPy arrays (offline) or lists (an endpoint's)
        by_model: dict[str, list[int]] = {}
        for index, (model, text) in enumerate(rows):
            if not text or not text.strip():
                self._count(False, "empty text")
            elif model == OFFLINE_EMBEDDER or model is None:
                vectors[index] = offline_vector(text)
                self.offline_calls += 1
                self._count(vectors[index] is not None, "no words to embed")
            else:
                by_model.setdefault(model, []).append(index)
        local = by_model.pop(LOCAL_EMBEDDER, [])
        if local:
            for index, vector in zip(local, self._local([rows[i][1] for i in local])):
                vectors[index] = vector
        chunks = [(model, indexes[i:i + REQUEST_TEXTS]) for model, indexes in by_model.items() for i in range(0, len(indexes), REQUEST_TEXTS)]
        if chunks:
            with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(chunks)))) as pool:
                for (model, indexes), answer in zip(chunks, pool.map(lambda chunk: self._remote(chunk[0], [rows[i][1] for i in chunk[1]]), chunks)):
                    for index, vector in zip(indexes, answer):
                        vectors[index] = vector
        return vectors_to_arrow(vectors)

    @property
    def label(self) -> str:
        """Which in-process embedder this run used, as run output names it ('' for an endpoint)."""
        return LOCAL_LABEL if self.local_calls else OFFLINE_LABEL if self.offline_calls else ""

    def _local(self, texts: list[str]) -> list[np.ndarray | None]:
        try:
            vectors = local_vectors(texts)
        except Exception as error:  # the package is missing or broken: every text stays pending
            return self._failed(texts, f"the local embedder could not run ({type(error).__name__}: {error}); pip install wordllama==0.4.0.post1")
        self.local_calls += len(texts)
        for vector in vectors:
            self._count(bool(np.any(vector)), "no words to embed")
        return [vector if np.any(vector) else None for vector in vectors]

    def _remote(self, model: str, texts: list[str]) -> list[list[float] | None]:
        unusable = self.unreachable or (None if self.endpoint is not None else f"model `{model}` needs an embedding endpoint (llm: provider: openai, embedding_model: …)")
        if unusable:
            return self._failed(texts, unusable)
        try:
            vectors = self.endpoint.embed(model, texts)
        except CompletionFailed as error:
            if error.unreachable:  # the endpoint is down: every later request would wait out the same timeouts
                self.unreachable = f"{error} (the endpoint did not answer; the rest of this run was not sent)"
                return self._failed(texts, str(error))
            if len(texts) > 1:  # the endpoint refused this request: find the text it refuses, keep the others
                return [vector for text in texts for vector in self._remote(model, [text])]
            return self._failed(texts, str(error))
        except Exception as error:  # a provider bug must not abort the whole refresh
            return self._failed(texts, f"{type(error).__name__}: {error}")
        for _ in texts:
            self._count(True)
        return list(vectors)

    def _failed(self, texts: list[str], error: str) -> list[None]:
        for _ in texts:
            self._count(False, error)
        return [None] * len(texts)

    def _count(self, ok: bool, error: str | None = None) -> None:
        self.stats.add(ok, None if ok else error)
        self.on_row(ok)
