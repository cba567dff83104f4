"""AI refresh cost and throughput.

    python bench/ai.py [--customers 2000] [--latency-ms 50]

1. Model calls per changed row when 1% of customers change (target 1.00). A full refresh, as a
   hand-written `INSERT … SELECT COMPLETE(…)` would do, makes one call per customer: 100x here.
2. Model calls per morning for the example project (its sample data) over a simulated week, the
   clock moved a day at a time (tests/clock.py), beside the customers whose deciding inputs
   changed (the goal) and beside the same week without `refresh.ignore_changes` (the baseline:
   days_to_renewal moves every customer's input hash every day).
3. Throughput of the local COMPLETE function against an OpenAI-compatible server on loopback with
   a fixed latency, at concurrency 1, 8 and 32, as a fraction of the ideal (concurrency / latency;
   target >= 0.8).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.make_data import write as write_data  # noqa: E402


def make_project(root: Path, customers: int, max_rows: int) -> None:
    shutil.copy(REPO / "rulectl.yml", root / "rulectl.yml")
    shutil.copytree(REPO / "rules", root / "rules")
    shutil.copytree(REPO / "prompts", root / "prompts")
    prompt = root / "prompts" / "account_summary.yml"
    prompt.write_text(prompt.read_text().replace("max_rows: 1000", f"max_rows: {max_rows}"))
    write_data(customers, root / "data" / "sample_inputs", seed=7, as_of=__import__("datetime").date(2026, 11, 24))


def calls_per_changed_row(customers: int) -> None:
    from engine import workflow
    from engine.backends.registry import open_backend
    from engine.config.loader import load_project

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, customers, max_rows=10 * customers)
        loaded = load_project(root)
        workflow.load_sample_data(loaded, None)
        workflow.apply(loaded)
        first = workflow.run_refreshes(loaded, None, [])[0]
        changed = max(1, customers // 100)
        backend = open_backend(loaded)
        backend.execute(
            "UPDATE GOLD.CUSTOMER SET customer_name = customer_name || ' (renamed)' "
            f"WHERE customer_id IN (SELECT customer_id FROM GOLD.CUSTOMER ORDER BY customer_id LIMIT {changed})"
        )
        backend.close()
        second = workflow.run_refreshes(loaded, None, [])[0]
        print(f"customers: {customers}; first run: {first.calls} calls; changed {changed} customers (1%)")
        print(f"incremental refresh: {second.calls} calls = {second.calls / changed:.2f} calls per changed row (target 1.00)")
        print(f"full refresh would make {customers} calls = {customers / max(second.calls, 1):.0f}x more")


DECIDING = "customer_name, state, modules_owned, total_arr, account_tier, CAST(opportunities AS VARCHAR)"


def calls_per_day(days: int, start: date) -> None:
    from engine import workflow
    from engine.backends.registry import open_backend
    from engine.config.loader import load_project
    from tests.clock import local_clock

    def deciding(loaded, today: date) -> dict:
        with local_clock(today):
            backend = open_backend(loaded, read_only=True)
            try:
                return {row[0]: row[1:] for row in backend.query(f"SELECT customer_id, {DECIDING} FROM ANALYTICS.CUSTOMER_SEGMENTS")}
            finally:
                backend.close()

    for declared in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for part in ("rulectl.yml", "rules", "prompts", "data"):
                (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, root / part)
            prompt = root / "prompts" / "account_summary.yml"
            if not declared:
                prompt.write_text(prompt.read_text().replace("  ignore_changes: [days_to_renewal, tenure_years]", ""))
            loaded = load_project(root)
            workflow.load_sample_data(loaded, None)
            figures = []
            for day in range(days + 1):
                today = start + timedelta(days=day)
                with local_clock(today):
                    if day == 0:
                        workflow.apply(loaded)
                    calls = workflow.run_refreshes(loaded, None, [])[0].calls
                if day:
                    before, after = deciding(loaded, today - timedelta(days=1)), deciding(loaded, today)
                    figures.append((today, calls, sum(1 for key in before if before[key] != after[key])))
            label = "with ignore_changes: [days_to_renewal, tenure_years]" if declared else "without it (every placeholder hashed)"
            print(f"example, {len(before)} customers, {label}:")
            print("  " + "; ".join(f"{d:%b %d} {calls} calls ({changed} changed)" for d, calls, changed in figures))
            print(f"  {sum(c for _, c, _ in figures)} calls in {days} days; customers whose deciding inputs changed: {sum(n for _, _, n in figures)}")


@contextmanager
def fake_server(latency: float, seconds: float):
    """The OpenAI-compatible test server in its own process (loopback only, stops by itself), so
    its threads do not compete with rulectl's for this process's GIL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.ai.fake_llm_server", "--latency", str(latency), "--seconds", str(seconds)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    try:
        yield process.stdout.readline().strip()
    finally:
        process.kill()
        process.wait()


def throughput(latency: float, concurrency: int, seconds: float) -> None:
    from engine import workflow
    from engine.config.loader import load_project

    rows = max(20, int(concurrency / latency * seconds))
    with tempfile.TemporaryDirectory() as tmp, fake_server(latency, seconds * 10 + 30) as base_url:
        root = Path(tmp)
        make_project(root, rows, max_rows=rows)
        text = (root / "rulectl.yml").read_text().replace(
            "llm: {provider: offline}",
            f"llm: {{provider: openai, base_url: '{base_url}', model: bench, concurrency: {concurrency}, retries: 0, timeout_seconds: 10}}",
        )
        (root / "rulectl.yml").write_text(text)
        loaded = load_project(root)
        workflow.load_sample_data(loaded, None)
        workflow.apply(loaded)
        start = time.perf_counter()
        result = workflow.run_refreshes(loaded, None, [])[0]
        elapsed = time.perf_counter() - start
    achieved = result.enriched / elapsed
    ideal = concurrency / latency
    print(f"concurrency {concurrency:>2}: {result.enriched} rows in {elapsed:.2f}s = {achieved:7.1f} rows/s; ideal {ideal:6.0f} rows/s; fraction {achieved / ideal:.2f} (target >= 0.8)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=3.0, help="target duration of each throughput run")
    parser.add_argument("--days", type=int, default=7, help="mornings of the simulated week")
    parser.add_argument("--start", default="2026-12-01", help="the first morning (the sample data is fixed, so figures depend on it)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.system()} python {platform.python_version()}")
    calls_per_changed_row(args.customers)
    calls_per_day(args.days, date.fromisoformat(args.start))
    for concurrency in (1, 8, 32):
        throughput(args.latency_ms / 1000, concurrency, args.seconds)


if __name__ == "__main__":
    main()
