"""Compile time for a large project, against sqlglot alone parsing and generating the same SQL.

    python bench/compile.py [--metrics 1000] [--segmentations 100] [--rules 5]

Generates a project of N metrics and M segmentations of R rules each in a temp directory, loads
and validates it, compiles it, and prints the compile time and its ratio to the baseline: sqlglot
parsing and generating the emitted SQL in the same run (target: at most 1.5x).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import sqlglot
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench.make_data import write_sources_config  # noqa: E402


def make_project(root: Path, metrics: int, segmentations: int, rules: int) -> None:
    write_sources_config(REPO / "rulectl.yml", root / "rulectl.yml")
    (root / "rules").mkdir()
    (root / "prompts").mkdir()
    aggregates = ["SUM(arr)", "COUNT(DISTINCT module)", "MAX(seats)", "MIN(renewal_date)", "AVG(active_users)"]
    filters = [None, "status = 'active'", "module = 'GL'", "seats > 5"]
    items = []
    for index in range(metrics):
        if index % 10 == 9:
            items.append({"name": f"m{index}", "expr": f"m{index - 1} / NULLIF(m{index - 2}, 0)"})
            continue
        item = {"name": f"m{index}", "source": "products", "expr": aggregates[index % len(aggregates)].replace("arr", "arr * " + str(index % 7 + 1))}
        if filters[index % len(filters)]:
            item["filter"] = filters[index % len(filters)]
        items.append(item)
    numeric = [i for i in range(metrics) if i % 5 in (0, 2, 4) and i % 10 != 9]
    segs = []
    for s in range(segmentations):
        seg_rules = [
            {"segment": f"S{s}_{r}", "when": f"m{numeric[(s * rules + r) % len(numeric)]} > {r * 10} AND m{numeric[(s + r) % len(numeric)]} <= {1000 + r}"}
            for r in range(rules)
        ]
        segs.append({"name": f"seg{s}", "match": "first" if s % 2 == 0 else "all", "rules": seg_rules, **({"default": "Other"} if s % 2 == 0 else {})})
    (root / "rules" / "metrics.yml").write_text(yaml.safe_dump({"metrics": items}))
    (root / "rules" / "segments.yml").write_text(yaml.safe_dump({"segmentations": segs}))


def best_of(runs: int, fn):
    best = float("inf")
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=1000)
    parser.add_argument("--segmentations", type=int, default=100)
    parser.add_argument("--rules", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from engine.compile.project import compile_project
    from engine.config.loader import load_project

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, args.metrics, args.segmentations, args.rules)
        load_time, loaded = best_of(args.runs, lambda: load_project(root))
        compile_time, objects = best_of(args.runs, lambda: [(o, o.sql(pretty=False), o.fingerprint) for o in compile_project(loaded)])
        emitted = [sql for _, sql, _ in objects]
        baseline, _ = best_of(args.runs, lambda: [sqlglot.parse_one(sql, read="snowflake").sql(dialect="snowflake") for sql in emitted])

    size = sum(len(sql) for sql in emitted)
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()} sqlglot {sqlglot.__version__}")
    print(f"project: {args.metrics} metrics, {args.segmentations} segmentations x {args.rules} rules -> {len(objects)} objects, {size:,} chars of SQL")
    print(f"load + validate:                 {load_time * 1000:8.1f} ms")
    print(f"compile (ASTs, SQL, fingerprints): {compile_time * 1000:6.1f} ms")
    print(f"baseline (sqlglot parse+generate of the emitted SQL): {baseline * 1000:.1f} ms")
    print(f"compile / baseline: {compile_time / baseline:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
