"""COMPLETE on DuckDB: a vectorized (Arrow) scalar function that takes a batch of rows, runs the
provider calls concurrently, and answers each row like Cortex's messages form (JSON) or NULL on
failure — AI_COMPLETE's NULL on error, so failed rows are never stored and stay pending."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from engine.ai.reply_journal import ReplyJournal, request_key
from engine.ai.providers.base import CompletionFailed, CompletionRequest, Provider, schema_problem, structured_schema
from engine.config.cortex import supported_schema

FUNCTION_NAME = "rulectl_complete"


@dataclass
class CallStats:
    calls: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)  # failure kind → calls
    examples: dict[str, str] = field(default_factory=dict)  # failure kind → its first error
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ok: bool, error: str | None = None) -> None:
        with self.lock:
            self.calls += 1
            if not ok:
                self.failures += 1
                kind = failure_kind(error or "")
                self.kinds[kind] += 1
                self.examples.setdefault(kind, error or "no error given")
                if error and len(self.errors) < 20:
                    self.errors.append(error)


# (words in the error, what those failures are called): the first that matches names the kind
_FAILURE_KINDS = (
    ("outputs schema", "replies broke the outputs schema"),
    ("empty reply", "empty replies"),
    ("malformed reply", "malformed replies"),
    ("empty prompt", "empty prompts"),
    ("empty text", "empty texts"),
    ("HTTP ", "HTTP errors"),
    ("Timeout", "timeouts"),
    ("timed out", "timeouts"),
    ("Connection", "endpoint unreachable"),
)


def failure_kind(error: str) -> str:
    """What kind of failure an error message reports, in words for the run summary."""
    return next((kind for words, kind in _FAILURE_KINDS if words in error), "other errors")


def failure_breakdown(stats: list[CallStats]) -> str:
    """`115 call(s) failed: 80 replies broke the outputs schema (e.g. …); 35 empty replies (e.g. …)`,
    largest kind first, or "" when nothing failed — so a run with mixed failures is not reported as
    its first error only."""
    kinds: Counter = Counter()
    examples: dict[str, str] = {}
    for stat in stats:
        kinds.update(stat.kinds)
        for kind, example in stat.examples.items():
            examples.setdefault(kind, example)
    if not kinds:
        return ""
    parts = [f"{count} {kind} (e.g. {examples[kind][:200]})" for kind, count in kinds.most_common()]
    return f"{sum(kinds.values())} call(s) failed: " + "; ".join(parts)


def replace_function(connection: duckdb.DuckDBPyConnection, name: str, batch: Callable, arguments: list[str], returns: str) -> None:
    """(Re-)register a vectorized (Arrow) stand-in for a Cortex function on `connection`: NULLs are
    passed to it, and it is never deduplicated or re-evaluated — every row may be a paid call."""
    try:
        connection.remove_function(name)
    except Exception:
        pass  # not registered yet
    connection.create_function(
        name, batch, [duckdb.sqltype(kind) for kind in arguments], duckdb.sqltype(returns),
        type="arrow", null_handling="special", side_effects=True,
    )


class LocalComplete:
    """Registers `rulectl_complete(model, system, prompt, options_json)` on a DuckDB connection.

    `full_schemas`: the prompt's own reply schemas, with the lengths, ranges and item counts the SQL
    carries only as Cortex accepts it (without them). A request whose schema is one of these with
    the constraints stripped is sent with the constraints back to a provider that takes them
    (`Provider.takes_schema_bounds`): a local server decodes under a
    grammar built from the schema (llama.cpp bounds a string by its maxLength), so a small model
    cannot talk past a field's limit and have its whole reply cut at max_tokens and thrown away.

    `journal`: every good reply is kept there the moment it arrives, and a request it already holds
    (from a run killed before its batch committed) is answered from it without a call."""

    def __init__(self, provider: Provider, concurrency: int = 8, on_row: Callable[[bool], None] = lambda ok: None, full_schemas: tuple[dict, ...] = (), journal: ReplyJournal | None = None):
        self.provider = provider
        self.journal = journal if journal is not None else ReplyJournal(None)
        self.concurrency = concurrency
        self.on_row = on_row
        self.stats = CallStats()
        self.full_schemas = {_canonical(supported_schema(schema)): schema for schema in full_schemas} if provider.takes_schema_bounds else {}

    def register(self, connection: duckdb.DuckDBPyConnection) -> None:
        replace_function(connection, FUNCTION_NAME, self._batch, ["VARCHAR"] * 4, "VARCHAR")

    def _batch(self, models: pa.Array, systems: pa.Array, prompts: pa.Array, options: pa.Array) -> pa.Array:
        requests = [
            (request_key(model, system, prompt, option), CompletionRequest(model or "", system or "", prompt or "", json.loads(option or "{}")))
            for model, system, prompt, option in zip(models.to_pylist(), systems.to_pylist(), prompts.to_pylist(), options.to_pylist())
        ]
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(requests)))) as pool:
            answers = list(pool.map(lambda keyed: self._kept(*keyed), requests))
        return pa.array(answers, type=pa.string())

    def _with_full_schema(self, request: CompletionRequest) -> CompletionRequest:
        schema = structured_schema(request.options)
        full = self.full_schemas.get(_canonical(schema)) if schema is not None else None
        if full is None:
            return request
        options = {**request.options, "response_format": {**request.options["response_format"], "schema": full}}
        return CompletionRequest(request.model, request.system, request.prompt, options)

    def _kept(self, key: str, request: CompletionRequest) -> str | None:
        """The journal's reply to this request, or a call whose good reply goes to the journal."""
        answer = self.journal.get(key)
        if answer is not None:
            self.on_row(True)
            return answer
        answer = self._one(request)
        if answer is not None:
            self.journal.keep(key, answer)
        return answer

    def _one(self, request: CompletionRequest) -> str | None:
        request = self._with_full_schema(request)
        if not request.prompt:
            self.stats.add(False, "empty prompt")
            self.on_row(False)
            return None
        try:
            completion = self.provider.complete(request)
        except CompletionFailed as error:
            self.stats.add(False, str(error))
            self.on_row(False)
            return None
        except Exception as error:  # a provider bug must not abort the whole refresh
            self.stats.add(False, f"{type(error).__name__}: {error}")
            self.on_row(False)
            return None
        schema = structured_schema(request.options)
        problem = schema_problem(completion.text, schema) if schema is not None else None
        if problem is not None:  # never stored: the row stays pending, the run counts a failure
            self.stats.add(False, f"reply does not satisfy the outputs schema ({problem})")
            self.on_row(False)
            return None
        self.stats.add(True)
        self.on_row(True)
        return json.dumps(
            {
                "choices": [{"messages": completion.text}],
                "model": completion.model,
                "provider": self.provider.name,
                "usage": {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens},
            }
        )


def _canonical(schema: dict) -> str:
    return json.dumps(schema, sort_keys=True)
