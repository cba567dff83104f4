"""The `local` provider: a GGUF model run in-process by llama.cpp (the `xllamacpp` wheel, installed
with `pip install 'rulectl[local-llm]'`), answering through the `openai` provider's own code path.

xllamacpp starts llama.cpp's OpenAI-compatible HTTP server inside this Python process on
127.0.0.1 and a free port, so replies, retries and the schema gate are the `openai` provider's; only
the lifecycle is this module's. A server is started once per `serving()` scope (one `rulectl run`,
one scheduler session) and stopped when the scope ends, also on Ctrl-C. It lives in rulectl's
process, so a killed rulectl leaves no server behind. Each server gets a random API key, so other
local programs (or web pages) cannot use it.

Structured replies use the server's `json_schema` decoding (grammar-constrained).
`cache_prompt: false` on every request: llama.cpp's prompt cache reused across requests changed
answers at temperature 0 (measured), and rows must not depend on the order they were sent in.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.ai.local_models import ModelFile, resolve_model
from engine.ai.providers.openai import OpenAIProvider
from engine.config.models import LLMSettings
from engine.core.errors import RulectlError

RUNTIME_HINT = "pip install 'rulectl[local-llm]'"


def free_cores() -> int:
    """Cores not busy with other work now: usable cores minus the 1-minute load, at least 1.
    llama.cpp's threads spin-wait for each other: with 2 threads and one core busy elsewhere,
    generation fell from ~20 to ~1 token/s (measured), so a busy core must not get a thread."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:
        busy = 0
    return max(1, min(usable, usable - busy))


def runtime():
    """The xllamacpp module, or a RulectlError saying how to install it."""
    try:
        import xllamacpp
    except ImportError:
        raise RulectlError(f"`provider: local` needs the llama.cpp runtime, which is not installed: {RUNTIME_HINT}") from None
    return xllamacpp


class LocalServer:
    """llama.cpp's server for one model file, inside this process."""

    def __init__(self, model: ModelFile, threads: int, context: int, parallel: int):
        xllamacpp = runtime()
        self.model, self.threads, self.parallel = model, threads, parallel
        self.api_key = secrets.token_urlsafe(24)
        params = xllamacpp.CommonParams()
        params.model.path = str(model.path)
        params.model_alias = {model.label}  # the `model` of every reply: name and file hash
        params.n_ctx = context * parallel  # llama.cpp splits the context between its parallel slots
        params.n_parallel = parallel
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # a free port, chosen by the system
        params.api_keys = [self.api_key]
        params.cors_origins = ""  # no browser origin may call it
        params.cache_prompt = False
        params.warmup = False
        params.verbosity = -1
        try:
            self._server = xllamacpp.Server(params)
        except Exception as error:
            raise RulectlError(f"llama.cpp could not load {model.path}: {error}") from None
        self.base_url = self._server.listening_address.rstrip("/") + "/v1"

    def stop(self) -> None:
        """Stop the server: its destructor ends llama.cpp's loop and frees the model."""
        self._server = None


class _Servers:
    """Servers started in the current scope, one per (model file, threads, context, parallel)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[tuple, LocalServer] = {}
        self.depth = 0
        self.base: Path | None = None

    def get(self, settings: LLMSettings) -> LocalServer:
        with self.lock:
            model = resolve_model(settings.model or "", self.base)
            threads = settings.threads or free_cores()
            key = (str(model.path), model.sha256, threads, settings.context, settings.parallel)
            if key not in self.running:
                self.running[key] = LocalServer(model, threads, settings.context, settings.parallel)
            return self.running[key]

    def stop_all(self) -> None:
        with self.lock:
            servers, self.running = list(self.running.values()), {}
        for server in servers:
            server.stop()


SERVERS = _Servers()


@contextmanager
def serving(project_root: Path | None = None) -> Iterator[None]:
    """Keep local model servers started inside this block running until it ends, then stop them
    (also on Ctrl-C or an error). Nested blocks share the outermost one's servers; a relative model
    path is read from `project_root`."""
    with SERVERS.lock:
        SERVERS.depth += 1
        if SERVERS.depth == 1:
            SERVERS.base = project_root
    try:
        yield
    finally:
        with SERVERS.lock:
            SERVERS.depth -= 1
            last = SERVERS.depth == 0
        if last:
            SERVERS.stop_all()


class LocalProvider(OpenAIProvider):
    """The `openai` provider pointed at an in-process llama.cpp server, started on the first call:
    a run's sentiment and embedding tasks never load the model. The model file and the runtime are
    checked at once, so a missing one is one clear error, not a failure per row."""

    name = "local"
    extra_body = {"cache_prompt": False}
    takes_schema_bounds = True  # llama.cpp's json_schema → grammar bounds strings, arrays and numbers

    def __init__(self, settings: LLMSettings):
        if SERVERS.depth == 0:
            raise RulectlError("internal: a local model is served only inside workflow's serving() scope")
        runtime()
        resolve_model(settings.model or "", SERVERS.base)
        self.local_settings = settings
        self.server: LocalServer | None = None
        self.starting = threading.Lock()

    def complete(self, request):
        self._start()
        return super().complete(request)

    def _start(self) -> None:
        with self.starting:
            if self.server is None:
                server = SERVERS.get(self.local_settings)
                endpoint = self.local_settings.model_copy(update={"base_url": server.base_url, "model": server.model.label, "model_map": {}})
                OpenAIProvider.__init__(self, endpoint, api_key=server.api_key)
                self.server = server
