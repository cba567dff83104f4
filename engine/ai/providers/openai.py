"""The `openai` provider: any OpenAI-compatible /chat/completions endpoint (Ollama, vLLM,
llama.cpp server, OpenAI) over real HTTP, with timeout, retries and exponential backoff.

The API key is read from the environment variable named in rulectl.yml (`api_key_env`), never from
YAML, and never printed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import urllib.parse

from engine.ai.providers.base import Completion, CompletionFailed, CompletionRequest, Provider, estimate_tokens
from engine.config.models import LLMSettings

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self, settings: LLMSettings, sleep=time.sleep):
        self.url = (settings.base_url or "").rstrip("/") + "/chat/completions"
        parsed = urllib.parse.urlsplit(self.url)
        self.scheme, self.host, self.port, self.path = parsed.scheme, parsed.hostname or "localhost", parsed.port, parsed.path or "/"
        self.settings = settings
        self.sleep = sleep
        # one keep-alive connection per worker thread: no TCP handshake per row
        self.local = threading.local()

    def served_model(self, requested: str) -> str:
        return self.settings.model_map.get(requested) or self.settings.model or requested

    def complete(self, request: CompletionRequest) -> Completion:
        body = {
            "model": self.served_model(request.model),
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}],
            **{k: v for k, v in request.options.items() if k in ("temperature", "top_p", "max_tokens")},
        }
        last_error = "no attempt made"
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self.sleep(min(8.0, 0.25 * 2 ** (attempt - 1)))
            try:
                return self._parse(self._post(body), body["model"], request)
            except _Retryable as error:
                last_error = str(error)
            except CompletionFailed:
                raise
        raise CompletionFailed(f"gave up after {self.settings.retries + 1} attempts: {last_error}")

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

    def _post(self, body: dict) -> bytes:
        headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(self.settings.api_key_env)
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        try:
            connection = self._connection()
            connection.request("POST", self.path, body=json.dumps(body).encode(), headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (http.client.HTTPException, TimeoutError, ConnectionError, OSError) as error:
            self._drop_connection()  # a broken or timed-out connection is not reused
            raise _Retryable(f"{type(error).__name__}: {error}") from None
        if response.status in RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {response.status}")
        if response.status >= 400:
            raise CompletionFailed(f"HTTP {response.status} from {self.url}")
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


class _Retryable(Exception):
    pass
