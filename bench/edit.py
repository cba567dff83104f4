"""A one-rule edit → deployed, against a no-change plan of the same project in the same run.

    python bench/edit.py                 # 200 x 20 and 1,000 x 100 (metrics x segmentations), 100,000 customers
    python bench/edit.py --quick         # 40 x 6 over 2,000 customers: a smoke run

For each size: generates a project (5 rules per segmentation, half `match: first`, half `match: all`)
over customers written by bench/make_data.py, loads and applies it, then measures, each in a fresh
process so peak memory is its own:
- no-change: load the YAML and plan (nothing to do);
- edit: change one rule's threshold, load the YAML, plan and apply it (what `rulectl apply --yes` does).
Prints wall time and peak RSS of both, and edit / no-change ratios (issue 11 targets at
1,000 x 100: at most 1.5x in time and in memory).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.make_data import write as write_data, write_sources_config  # noqa: E402

# Numeric metrics over the products source, with thresholds that split customers into real segments.
AGGREGATES = (
    ("SUM(arr * {k})", lambda k, r: 20000 * k * (r + 1)),
    ("COUNT(DISTINCT module)", lambda k, r: r % 4 + 1),
    ("MAX(seats)", lambda k, r: 4 + 3 * r),
    ("AVG(active_users)", lambda k, r: 2 + 2 * r),
    ("SUM(seats)", lambda k, r: 8 + 6 * r),
)
FILTERS = (None, "status = 'active'", "module = 'GL'", "seats > 5")
EDITED_RULE = "EDIT_ME"  # the rule whose threshold the edit changes


def make_project(root: Path, metrics: int, segmentations: int, rules: int = 5) -> None:
    """rulectl.yml and sample data layout of the example, generated metrics and segmentations, no prompts."""
    write_sources_config(REPO / "rulectl.yml", root / "rulectl.yml")
    (root / "rules").mkdir(exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    items, thresholds = [], {}
    for index in range(metrics):
        if index % 10 == 9:  # a derived metric every tenth
            items.append({"name": f"m{index}", "expr": f"m{index - 1} / NULLIF(m{index - 2}, 0)"})
            continue
        kind = index % len(AGGREGATES)
        k = index % 7 + 1
        item = {"name": f"m{index}", "source": "products", "expr": AGGREGATES[kind][0].format(k=k)}
        if FILTERS[index % len(FILTERS)]:
            item["filter"] = FILTERS[index % len(FILTERS)]
        items.append(item)
        thresholds[index] = lambda r, kind=kind, k=k: AGGREGATES[kind][1](k, r)
    numeric = sorted(thresholds)
    segs = []
    for s in range(segmentations):
        seg_rules = []
        for r in range(rules):
            a, b = numeric[(s * rules + r) % len(numeric)], numeric[(s * 3 + r * 7 + 1) % len(numeric)]
            when = f"m{a} >= {thresholds[a](r)} AND m{b} >= {thresholds[b](0)}"
            seg_rules.append({"segment": f"S{s}_{r}", "when": when})
        segs.append({"name": f"seg{s}", "match": "first" if s % 2 == 0 else "all", "rules": seg_rules, **({"default": "Other"} if s % 2 == 0 else {})})
    segs[0]["rules"][0]["description"] = EDITED_RULE
    (root / "rules" / "metrics.yml").write_text(yaml.safe_dump({"metrics": items}, sort_keys=False))
    (root / "rules" / "segments.yml").write_text(yaml.safe_dump({"segmentations": segs}, sort_keys=False))


def edit_one_rule(root: Path, factor: float = 1.5) -> str:
    """Raise the threshold of one rule of one segmentation (× factor); returns the segmentation's name."""
    path = root / "rules" / "segments.yml"
    data = yaml.safe_load(path.read_text())
    for seg in data["segmentations"]:
        for rule in seg["rules"]:
            if rule.get("description") == EDITED_RULE:
                first, _, rest = rule["when"].partition(" AND ")
                column, _, value = first.partition(" >= ")
                rule["when"] = f"{column} >= {float(value) * factor:g} AND {rest}"
                path.write_text(yaml.safe_dump(data, sort_keys=False))
                return seg["name"]
    raise ValueError("no rule to edit")


def child(root: str, step: str) -> None:
    """One measurement in this process: prints seconds and peak RSS as JSON."""
    from engine import workflow
    from engine.config.loader import load_project

    start = time.perf_counter()
    loaded = load_project(Path(root))
    if step == "plan":
        plan = workflow.plan(loaded)
        assert not plan.has_changes, plan.summary()
        detail = {}
    else:
        plan, result = workflow.apply(loaded)
        assert [s.qualified_name for s in result.applied] == ["ANALYTICS.CUSTOMER_SEGMENTS"], [s.qualified_name for s in result.applied]
        detail = {"moved": sum(m.customers for m in plan.segment_moves)}
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kib() / 1024, **detail}))


def peak_kib() -> int:
    """This process's peak RSS. Linux keeps getrusage's ru_maxrss across fork and exec, so a child
    of this bench reported the parent's peak (it had just deployed in-process: every step read
    ~189 MB); /proc's VmHWM belongs to the process's own memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(root: Path, step: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(root), step], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def baseline_process() -> float:
    """Peak RSS of a process that only imports rulectl (the floor every measurement shares)."""
    code = "import engine.workflow, engine.config.loader; from bench.edit import peak_kib; print(peak_kib() / 1024)"
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO).stdout)


def run_size(metrics: int, segmentations: int, customers: int, runs: int) -> None:
    from engine import workflow
    from engine.config.loader import load_project

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_project(root, metrics, segmentations)
        write_data(customers, root / "data" / "sample_inputs", seed=2026, as_of=date(2026, 11, 24))
        loaded = load_project(root)
        workflow.load_sample_data(loaded, None)
        start = time.perf_counter()
        workflow.apply(loaded)
        cold = time.perf_counter() - start
        no_change = min((measure(root, "plan") for _ in range(runs)), key=lambda m: m["seconds"])
        segments = root / "rules" / "segments.yml"
        original = segments.read_text()
        edits = []
        for run in range(runs):
            segments.write_text(original)
            workflow.apply(load_project(root))  # back to the deployed starting point
            # another threshold each run: an edit no earlier command saw (.rulectl/cache/ holds nothing for it)
            edit_one_rule(root, factor=1.5 + run / 100)
            edits.append(measure(root, "apply"))
        edited = min(edits, key=lambda m: m["seconds"])
    print(
        f"{metrics:>5} x {segmentations:<4} {customers:>8,}  cold deploy {cold:6.2f}s  no-change plan {no_change['seconds']:6.2f}s {no_change['peak_mb']:6.0f} MB"
        f"  | one-rule edit -> deployed {edited['seconds']:6.2f}s {edited['peak_mb']:6.0f} MB ({edited['moved']:,} moves)"
        f"  | ratio time {edited['seconds'] / no_change['seconds']:.2f}x, memory {edited['peak_mb'] / no_change['peak_mb']:.2f}x"
    )


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 x 6 over 2,000 customers (smoke run)")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    sizes = [(40, 6)] if args.quick else [(200, 20), (1000, 100)]
    customers = 2000 if args.quick else args.customers
    print(f"machine: {platform.machine()} {platform.system()} python {platform.python_version()}; best of {args.runs}; each step in its own process")
    print(f"process floor (imports only): {baseline_process():.0f} MB peak RSS")
    for metrics, segmentations in sizes:
        run_size(metrics, segmentations, customers, args.runs)
    print("targets at 1,000 x 100: edit -> deployed <= 1.5x the no-change plan's time and peak memory")


if __name__ == "__main__":
    main()
