"""Validation time against the number of terms in one expression: linear or not.

    python bench/validate.py [--terms 100 200 400 800 1600] [--runs 3]

For each N, copies the example project and adds a metric whose expression has N terms
(`SUM(arr) + MAX(seats) + …`) or a segment rule with N terms (`t > 0 OR t > 1 OR …`), in groups of
40 in parentheses (within the 20,000-character cap and the 150-level nesting cap), then times `load_project` (YAML, models, every check
`rulectl validate` runs) with the expression cache cleared. Prints the time per term and its ratio
to the smallest N measured in the same run (linear: about 1.0x at every N) — and the project
without the added expression, whose time is subtracted so the ratio is the expression's own.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TERMS = ("SUM(arr)", "MAX(seats)", "MIN(arr)", "AVG(seats)")
GROUP = 40  # terms per parenthesised group: rulectl caps nesting at 150 levels (engine/expressions.py)


def grouped(terms: list[str], join: str) -> str:
    """`(t1 j t2 j … t40) j (t41 j …) j …`: N terms about 2 x sqrt(N) levels deep, not N."""
    groups = [join.join(terms[start:start + GROUP]) for start in range(0, len(terms), GROUP)]
    return join.join(f"({group})" for group in groups)


def metric_expression(terms: int) -> str:
    """`(SUM(arr) + MAX(seats) + MIN(arr) + …) + (…)`: N aggregates of the module-grain source."""
    return grouped([TERMS[index % len(TERMS)] for index in range(terms)], " + ")


def rule_expression(terms: int) -> str:
    """`(t > 0 OR t > 1 OR …) OR (…)`: N comparisons of one metric."""
    return grouped([f"t > {index % 100}" for index in range(terms)], " OR ")


def make_project(root: Path, metric_terms: int = 0, rule_terms: int = 0) -> None:
    for part in ("rulectl.yml", "rules", "prompts", "data"):
        source = REPO / part
        shutil.copytree(source, root / part) if source.is_dir() else shutil.copy(source, root / part)
    metrics_file, segments_file = root / "rules" / "metrics.yml", root / "rules" / "segments.yml"
    metrics = yaml.safe_load(metrics_file.read_text())
    segments = yaml.safe_load(segments_file.read_text())
    metrics["metrics"].append({"name": "t", "source": "products", "expr": metric_expression(metric_terms) if metric_terms else "SUM(arr)"})
    if rule_terms:
        segments["segmentations"].append({"name": "bench_terms", "match": "first", "rules": [{"segment": "Many", "when": rule_expression(rule_terms)}], "default": "Few"})
    metrics_file.write_text(yaml.safe_dump(metrics, sort_keys=False, width=10**6))
    segments_file.write_text(yaml.safe_dump(segments, sort_keys=False, width=10**6))


def time_validation(root: Path, runs: int) -> float:
    """Best of `runs`: load_project with the parsed-expression cache emptied each time."""
    from engine.config.loader import load_project
    from engine.core.expressions import parse_expression

    best = float("inf")
    for _ in range(runs):
        parse_expression.cache_clear()
        start = time.perf_counter()
        load_project(root)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terms", type=int, nargs="+", default=[100, 200, 400, 800, 1600])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import sqlglot

    from engine.core.expressions import MAX_EXPRESSION_CHARS

    sizes = sorted(args.terms)
    longest = max(len(metric_expression(sizes[-1])), len(rule_expression(sizes[-1])))
    if longest > MAX_EXPRESSION_CHARS:
        raise SystemExit(f"{sizes[-1]} terms make a {longest:,}-character expression, over the {MAX_EXPRESSION_CHARS:,} cap")
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()} sqlglot {sqlglot.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        base_root = Path(tmp) / "base"
        base_root.mkdir()
        make_project(base_root)
        base = time_validation(base_root, args.runs)
        print(f"example project without the long expression: {base * 1000:.1f} ms (subtracted below)")
        for label, key in (("metric expression", "metric_terms"), ("segment rule", "rule_terms")):
            print(f"\n{label}: terms, chars, validate ms, ms per term, per-term ratio vs {sizes[0]} terms (linear: ~1.0x)")
            first = None
            for terms in sizes:
                root = Path(tmp) / f"{key}_{terms}"
                root.mkdir()
                make_project(root, **{key: terms})
                seconds = time_validation(root, args.runs)
                per_term = max(seconds - base, 0.0) / terms
                first = first or per_term
                chars = len(metric_expression(terms) if key == "metric_terms" else rule_expression(terms))
                print(f"  {terms:5d}  {chars:6,}  {seconds * 1000:8.1f}  {per_term * 1000:7.3f}  {per_term / first if first else float('nan'):5.2f}x")


if __name__ == "__main__":
    main()
