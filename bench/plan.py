"""Plan cost against the number of objects: queries per no-change plan and plan time.

    python bench/plan.py [--sizes 10 100 1000] [--round-trip-ms 300]

For each size, builds a project of that many objects (schemas, views, and per prompt an output
table and a task) on a fresh local DuckDB target, applies it, then times a no-change plan and counts
its queries. Prints queries per plan (target: constant in the number of objects), the local plan
time, and the projected plan time against a remote warehouse at --round-trip-ms per query.
For comparison, the Terraform Snowflake provider publishes 2 min 24 s to plan 1,000 tasks.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BASE_OBJECTS = 4  # two schemas, the metrics view, the segments view

PROMPT = """name: p{index}
input: customer_segments
key: customer_id
template: "Summarise {{customer_name}} ({{account_tier}})."
output: OUT_{index}
refresh: {{schedule: USING CRON 0 6 * * * UTC, max_rows: 10}}
"""


def make_project(root: Path, objects: int) -> None:
    """The example's sources, metrics and rules with `objects` - 4 generated prompts instead of its
    own: its `search:` reads `account_summary.summary`, a prompt this project does not have, so the
    block goes (the bench measures plans, not search)."""
    for part in ("rulectl.yml", "rules", "data"):
        source = REPO / part
        shutil.copytree(source, root / part) if source.is_dir() else shutil.copy(source, root / part)
    config = yaml.safe_load((root / "rulectl.yml").read_text())
    config.pop("search", None)
    (root / "rulectl.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "prompts").mkdir()
    for index in range((objects - BASE_OBJECTS) // 2):
        (root / "prompts" / f"p{index}.yml").write_text(PROMPT.format(index=index))


def measure(objects: int, round_trip: float, runs: int) -> dict:
    from engine import workflow
    from engine.backends.registry import open_backend
    from engine.config.loader import load_project
    from engine.plan.planner import build_plan

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, objects)
        loaded = load_project(root)
        workflow.load_sample_data(loaded, None)
        start = time.perf_counter()
        made, result = workflow.apply(loaded)
        apply_seconds = time.perf_counter() - start
        backend = open_backend(loaded)
        best = float("inf")
        try:
            for _ in range(runs):
                before = len(backend.statements)
                start = time.perf_counter()
                plan, desired, deployed = build_plan(loaded, backend, loaded.config.default_target)
                best = min(best, time.perf_counter() - start)
                queries = len(backend.statements) - before
                assert not plan.has_changes, plan.summary()
        finally:
            backend.close()
        return {
            "objects": len(desired),
            "applied": len(result.applied),
            "apply_s": apply_seconds,
            "introspection": plan.introspection_queries,
            "queries": queries,
            "plan_s": best,
            "remote_s": best + queries * round_trip,
        }


def measure_snowflake(objects: int, round_trip: float) -> dict:
    """The Snowflake path through the recording connection, with `round_trip` seconds per query."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the recording connection is a test double
    from engine import workflow
    from tests.doubles.recording import RecordingConnection
    from engine.backends.snowflake import SnowflakeBackend
    from engine.config.loader import load_project
    from engine.plan.planner import build_plan

    connection = RecordingConnection("CUSTOMER_INTEL")
    SnowflakeBackend.from_target = classmethod(lambda cls, loaded, target, **options: cls(connection, "CUSTOMER_INTEL"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, objects)
        loaded = load_project(root)
        connection.add_source_tables(loaded.config.sources)
        workflow.apply(loaded, "prod")
        connection.latency = round_trip
        backend = SnowflakeBackend(connection, "CUSTOMER_INTEL")
        start = time.perf_counter()
        plan, desired, _ = build_plan(loaded, backend, "prod")
        seconds = time.perf_counter() - start
        assert not plan.has_changes, plan.summary()
        return {"objects": len(desired), "introspection": plan.introspection_queries, "queries": len(backend.statements), "plan_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--round-trip-ms", type=float, default=300.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--snowflake", action="store_true", help="also plan through the recording Snowflake connection with the round-trip latency injected")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.system()} python {platform.python_version()}, {args.round_trip_ms:.0f} ms per remote round trip")
    print(f"{'objects':>8} {'introspection q':>16} {'queries/plan':>13} {'local plan':>11} {'projected remote':>17} {'(apply)':>9}")
    for size in args.sizes:
        m = measure(size, args.round_trip_ms / 1000, args.runs)
        print(f"{m['objects']:>8} {m['introspection']:>16} {m['queries']:>13} {m['plan_s'] * 1000:>9.0f}ms {m['remote_s']:>15.2f}s {m['apply_s']:>8.1f}s")
    if args.snowflake:
        print(f"snowflake path (recording connection, {args.round_trip_ms:.0f} ms injected per query):")
        for size in args.sizes:
            m = measure_snowflake(size, args.round_trip_ms / 1000)
            print(f"{m['objects']:>8} objects: {m['introspection']} introspection queries, {m['queries']} queries per plan, plan time {m['plan_s']:.2f}s")
    print("Terraform Snowflake provider, published: 144 s to plan 1,000 tasks")


if __name__ == "__main__":
    main()
