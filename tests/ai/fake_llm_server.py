"""A local OpenAI-compatible server for tests and benchmarks (loopback only, bounded, stops itself).

Behaviour per request is chosen by markers in the user prompt, so one run can mix healthy rows with
faults: FAULT_500, FAULT_TIMEOUT, FAULT_MALFORMED, FAULT_EMPTY, FAULT_429 (rate limited the first
`rate_limited_times` times a prompt is sent, with `Retry-After: retry_after` unless that is None) and
FAULT_REDIRECT (307 to another address). `healthy = True` turns faults off.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


EMBEDDING_DIMENSIONS = 384  # like all-MiniLM: a local endpoint's vectors need not have 768 dimensions


class FakeLLM:
    def __init__(self, latency: float = 0.0, hang_seconds: float = 2.0):
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.healthy = False
        self.failing_all = False  # every request gets a 500 (a provider that is down)
        self.retry_after: str | None = "2"
        self.rate_limited_times = 1
        self.seen: dict[str, int] = {}  # prompt → times received
        self.requests: list[dict] = []
        self.embedding_requests: list[dict] = []  # /embeddings bodies (model, input texts)
        self.authorizations: list[str | None] = []
        self.on_request = lambda count: None  # called with the number of chat requests so far, before replying
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.endswith("/embeddings"):
                    return self._embeddings(body)
                prompt = body["messages"][-1]["content"]
                with fake.lock:
                    fake.requests.append(body)
                    fake.authorizations.append(self.headers.get("Authorization"))
                    fake.seen[prompt] = fake.seen.get(prompt, 0) + 1
                    times = fake.seen[prompt]
                    fake.on_request(len(fake.requests))
                if fake.latency:
                    time.sleep(fake.latency)
                fault = "FAULT_500" if fake.failing_all else None if fake.healthy else next((f for f in ("FAULT_500", "FAULT_TIMEOUT", "FAULT_MALFORMED", "FAULT_EMPTY", "FAULT_429", "FAULT_REDIRECT") if f in prompt), None)
                if fault == "FAULT_TIMEOUT":
                    time.sleep(fake.hang_seconds)
                if fault == "FAULT_429" and times <= fake.rate_limited_times:
                    headers = {"Retry-After": fake.retry_after} if fake.retry_after is not None else {}
                    return self._send(429, b'{"error": "rate limited"}', headers)
                if fault == "FAULT_REDIRECT":
                    return self._send(307, b"", {"Location": "http://127.0.0.2:9/v1/chat/completions"})
                if fault == "FAULT_500":
                    return self._send(500, b'{"error": "boom"}')
                if fault == "FAULT_MALFORMED":
                    return self._send(200, b'{"choices": [ this is not json')
                text = "" if fault == "FAULT_EMPTY" else f"Summary from {body['model']}: " + prompt.split("customer_name: ", 1)[-1].split("\n", 1)[0]
                schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
                if schema is not None and fault != "FAULT_EMPTY":
                    text = structured_reply(schema, body["model"], prompt, broken=not fake.healthy)
                reply = {"model": body["model"], "choices": [{"message": {"role": "assistant", "content": text}}], "usage": {"prompt_tokens": 50, "completion_tokens": 20}}
                self._send(200, json.dumps(reply).encode())

            def _embeddings(self, body: dict):
                """OpenAI /embeddings: a deterministic vector per input (rulectl's own word hashing,
                cut to EMBEDDING_DIMENSIONS so it differs from the offline embedder's 768); an
                input containing FAULT_500 fails the request."""
                from engine.ai.local_embed import offline_embedding

                with fake.lock:
                    fake.embedding_requests.append(body)
                if any("FAULT_500" in text for text in body["input"]):
                    return self._send(500, b'{"error": "boom"}')
                data = [{"object": "embedding", "index": i, "embedding": (offline_embedding(text) or [0.0] * 768)[:EMBEDDING_DIMENSIONS]} for i, text in enumerate(body["input"])]
                self._send(200, json.dumps({"object": "list", "data": data[::-1], "model": body["model"], "usage": {"prompt_tokens": 5, "total_tokens": 5}}).encode())

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None):
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeLLM":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def structured_reply(schema: dict, model: str, prompt: str, broken: bool) -> str:
    """A reply to a structured request: conforming JSON, unless the prompt carries NOT_JSON (plain
    text) or BAD_SCHEMA (JSON with a label outside its enum and a field missing) and faults are on."""
    if broken and "NOT_JSON" in prompt:
        return "Sure! Here is the summary you asked for."
    reply = {}
    who = prompt.split("customer_name: ", 1)[-1].split("\n", 1)[0] if "customer_name: " in prompt else ""
    for name, field in schema["properties"].items():
        if "enum" in field:
            reply[name] = field["enum"][-1]
        elif field["type"] == "string":
            reply[name] = f"{name} from {model}" + (f": {who}" if who else "")
        elif field["type"] in ("number", "integer"):
            reply[name] = field.get("maximum", 7)
        elif field["type"] == "boolean":
            reply[name] = True
        else:
            reply[name] = [f"{name} 1 from {model}", f"{name} 2 from {model}"][: field.get("maxItems", 2)]
    if broken and "BAD_SCHEMA" in prompt:
        first_enum = next((n for n, f in schema["properties"].items() if "enum" in f), None)
        if first_enum:
            reply[first_enum] = "not one of the labels"
        reply.pop(next(iter(reply)))
    return json.dumps(reply)


def main() -> None:
    """Serve in its own process (bench/ai.py): prints the base URL, stops after --seconds."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    with FakeLLM(latency=args.latency) as server:
        server.healthy = True
        print(server.base_url, flush=True)
        time.sleep(args.seconds)


if __name__ == "__main__":
    main()
