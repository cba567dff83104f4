"""The `openai` provider: any OpenAI-compatible /chat/completions endpoint (Ollama, vLLM,
llama.cpp server, OpenAI) over real HTTP, with timeout, retries and exponential backoff.

The API key is read from the environment variable named in rulectl.yml (`api_key_env`), never from
YAML, and never printed.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.parse
from datetime import datetime, timezone

from engine.ai.providers.base import Completion, CompletionFailed, CompletionRequest, Provider, estimate_tokens, structured_schema
from engine.config.models import LLMSettings

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
# A server asking for a longer pause than this gets it from the next run instead: the row stays
# pending rather than holding a worker (and the whole refresh) for minutes.
MAX_RETRY_AFTER_SECONDS = 30.0
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0


class OpenAIProvider(Provider):
    name = "openai"
    extra_body: dict = {}  # server-specific request fields a subclass adds to every completion

    def __init__(self, settings: LLMSettings, sleep=time.sleep, jitter=random.random, api_key: str | None = None):
        self.base = (settings.base_url or "").rstrip("/")
        self.url = self.base + "/chat/completions"
        parsed = urllib.parse.urlsplit(self.url)
        self.scheme, self.host, self.port = parsed.scheme, parsed.hostname or "localhost", parsed.port
        self.base_path = urllib.parse.urlsplit(self.base).path.rstrip("/")
        self.settings = settings
        self.sleep = sleep
        self.jitter = jitter  # a number in [0, 1); tests pass a fixed one
        self.api_key = api_key  # given by rulectl itself (an in-process server); else read from api_key_env
        # one keep-alive connection per worker thread: no TCP handshake per row
        self.local = threading.local()

    def served_model(self, requested: str) -> str:
        return self.settings.model_map.get(requested) or self.settings.model or requested

    def complete(self, request: CompletionRequest) -> Completion:
        body = {
            "model": self.served_model(request.model),
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}],
            **{k: v for k, v in request.options.items() if k in ("temperature", "top_p", "max_tokens")},
            **self.extra_body,
        }
        schema = structured_schema(request.options)
        if schema is not None:
            # OpenAI-compatible structured outputs (OpenAI, Ollama, vLLM, llama.cpp server):
            # https://platform.openai.com/docs/guides/structured-outputs
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}
        return self._with_retries(lambda: self._parse(self._post("/chat/completions", body), body["model"], request))

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """One vector per text from the endpoint's OpenAI-compatible /embeddings, in input order.
        https://platform.openai.com/docs/api-reference/embeddings/create"""
        body = {"model": model, "input": texts}
        return self._with_retries(lambda: _vectors(self._post("/embeddings", body), len(texts)))

    def _with_retries(self, call):
        last: _Retryable | None = None
        for attempt in range(self.settings.retries + 1):
            if last is not None:
                self.sleep(self._pause(attempt, last))
            try:
                return call()
            except _Retryable as error:
                last = error
        raise CompletionFailed(f"gave up after {self.settings.retries + 1} attempts: {last}", unreachable=last is not None and last.unreachable)

    def _pause(self, attempt: int, error: "_Retryable") -> float:
        """The server's Retry-After when it sent one, else exponential backoff with jitter (half
        fixed, half random, so parallel workers hit by the same 429 do not retry in lockstep).
        https://www.rfc-editor.org/rfc/rfc9110#field.retry-after"""
        if error.retry_after is not None:
            return error.retry_after
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        return ceiling / 2 + self.jitter() * ceiling / 2

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            connection = kind(self.host, self.port, timeout=self.settings.timeout_seconds)
            connection.connect()
            # small request/reply exchanges: Nagle + delayed ACK would add ~40 ms to each call
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
            self.local.connection = None

    def _post(self, endpoint: str, body: dict) -> bytes:
        url = self.base + endpoint
        headers = {"Content-Type": "application/json"}
        api_key = self.api_key or os.environ.get(self.settings.api_key_env)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        try:
            connection = self._connection()
            connection.request("POST", self.base_path + endpoint, body=json.dumps(body).encode(), headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (http.client.HTTPException, TimeoutError, ConnectionError, OSError) as error:
            self._drop_connection()  # a broken or timed-out connection is not reused
            raise _Retryable(f"{type(error).__name__}: {error}", unreachable=True) from None
        if response.status in RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {response.status}", retry_after_seconds(response.getheader("Retry-After")))
        if 300 <= response.status < 400:
            # http.client never follows redirects, and rulectl will not: the key goes to base_url only.
            raise CompletionFailed(f"HTTP {response.status} from {url}: redirects are not followed (the API key is sent only to base_url); set base_url to the final address")
        if response.status >= 400:
            raise CompletionFailed(f"HTTP {response.status} from {url}")
        return payload

    def _parse(self, raw: bytes, model: str, request: CompletionRequest) -> Completion:
        try:
            reply = json.loads(raw)
            text = reply["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable("malformed reply (not OpenAI chat-completions JSON)") from None
        if not isinstance(text, str) or not text.strip():
            raise _Retryable("empty reply")
        usage = reply.get("usage") or {}
        return Completion(
            text.strip(),
            reply.get("model") or model,
            int(usage.get("prompt_tokens") or estimate_tokens(request.system + request.prompt)),
            int(usage.get("completion_tokens") or estimate_tokens(text)),
        )


def _vectors(raw: bytes, expected: int) -> list[list[float]]:
    """The `data[].embedding` lists of an /embeddings reply, ordered by their `index`."""
    try:
        data = sorted(json.loads(raw)["data"], key=lambda item: item.get("index", 0))
        vectors = [[float(x) for x in item["embedding"]] for item in data]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _Retryable("malformed reply (not OpenAI embeddings JSON)") from None
    if len(vectors) != expected or any(not vector for vector in vectors):
        raise _Retryable(f"the reply holds {len(vectors)} embedding(s) for {expected} text(s)")
    return vectors


def retry_after_seconds(header: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds to wait: delay-seconds or an HTTP date; None when absent or unreadable.

    A wait longer than MAX_RETRY_AFTER_SECONDS raises CompletionFailed: the row stays pending.
    https://www.rfc-editor.org/rfc/rfc9110#field.retry-after
    """
    if not header or not header.strip():
        return None
    text = header.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
    if seconds > MAX_RETRY_AFTER_SECONDS:
        raise CompletionFailed(f"rate limited: the server asks to wait {seconds:.0f} s (Retry-After), more than rulectl waits ({MAX_RETRY_AFTER_SECONDS:.0f} s); the row stays pending for the next run")
    return seconds


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None, unreachable: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.unreachable = unreachable  # no HTTP answer at all (refused, reset, timed out)
