"""What keeping every paid reply costs on the local target: the reply journal (batches of 50, each
reply appended to `.rulectl/journal/` as it arrives) against the alternative of batches no larger
than the calls in flight (no journal), and today's batches of 50 without either.

    python bench/reply_journal.py [--customers 2000] [--latency-ms 20] [--concurrency 8]

Each variant refreshes the same generated project from scratch against the OpenAI-compatible test
server in its own process; the figure is the wall time of `rulectl run` (best of --runs).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.ai import fake_server, make_project  # noqa: E402


def one_run(customers: int, concurrency: int, batch_rows: int, journal: bool, base_url: str) -> float:
    from engine import workflow
    from engine.ai import runner
    from engine.ai.reply_journal import ReplyJournal
    from engine.config.loader import load_project

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, customers, max_rows=customers)
        prompt = root / "prompts" / "account_summary.yml"
        prompt.write_text(prompt.read_text().replace(f"max_rows: {customers}", f"max_rows: {customers}\n  batch_rows: {batch_rows}"))
        text = (root / "rulectl.yml").read_text().replace(
            "llm: {provider: offline}",
            f"llm: {{provider: openai, base_url: '{base_url}', model: bench, concurrency: {concurrency}, retries: 0, timeout_seconds: 10}}",
        )
        (root / "rulectl.yml").write_text(text)
        loaded = load_project(root)
        workflow.load_sample_data(loaded, None)
        workflow.apply(loaded)
        original = runner.ReplyJournal
        runner.ReplyJournal = original if journal else (lambda path: ReplyJournal(None))  # type: ignore[assignment]
        try:
            start = time.perf_counter()
            result = workflow.run_refreshes(loaded, None, ["account_summary"])[0]
            elapsed = time.perf_counter() - start
        finally:
            runner.ReplyJournal = original  # type: ignore[assignment]
        assert result.enriched == customers, result
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.system()} python {platform.python_version()}; {args.customers} customers, "
          f"server latency {args.latency_ms:.0f} ms, concurrency {args.concurrency}")
    variants = (
        ("batches of 50, no journal (before)", 50, False),
        ("batches of 50 + reply journal", 50, True),
        (f"batches of {args.concurrency} (= calls in flight), no journal", args.concurrency, False),
    )
    with fake_server(args.latency_ms / 1000, 3600) as base_url:
        times = {name: min(one_run(args.customers, args.concurrency, rows, journal, base_url) for _ in range(args.runs)) for name, rows, journal in variants}
    base = times[variants[0][0]]
    for name, elapsed in times.items():
        print(f"{name:<50} {elapsed:6.2f} s  ({elapsed / base:.2f}x)")


if __name__ == "__main__":
    main()
