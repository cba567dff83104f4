"""rulectl beside dbt and SQLMesh: the same views over the same customers, same machine, same run.

    python bench/peers.py                  # 1,000 metrics x 100 segmentations over 100,000 customers
    python bench/peers.py --quick          # 40 x 6 over 2,000 customers (smoke run)
    python bench/peers.py --sizes 200x20 1000x100 --runs 3

Each peer is installed into its own virtualenv under ~/.cache/rulectl/bench-peers (pinned versions
below, from the package registry), so their sqlglot and DuckDB never meet rulectl's. The work is
the project bench/edit.py generates: rulectl compiles its metrics and segments views for DuckDB and
the same SELECTs become a dbt project (two view models, the second `ref`s the first) and a SQLMesh
project (two VIEW models). Each tool reads the same source rows (Parquet written from rulectl's
loaded tables, so types are identical) into its own DuckDB file.

Steps, each a fresh command-line process as a user runs it, wall time and the process's peak RSS:
- cold deploy:   rulectl apply --yes | dbt run | sqlmesh plan --auto-apply
- no-change:     rulectl plan        | dbt ls  | sqlmesh plan (nothing to apply)
- edit→preview:  one rule's threshold raised, then rulectl plan (with customer moves) | sqlmesh
                 plan without applying (dbt has none)
- edit→deployed: the threshold raised again (an edit no command has seen), then the deploy
                 command (dbt: run --select the segments model, the cheapest correct dbt command)
Every run starts cold for every tool: no .rulectl/cache/, no dbt target/, no SQLMesh state (until
session 11 rulectl kept its cache across runs, and its cold deploy and preview were measured warm).
Medians of --runs. At the end the segments view of all three databases is compared row for row.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.edit import edit_one_rule, make_project  # noqa: E402
from bench.make_data import write as write_data  # noqa: E402

PEERS = {
    "dbt": ["dbt-core==1.11.16", "dbt-duckdb==1.11.1"],
    "sqlmesh": ["sqlmesh==0.236.4"],
}
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rulectl" / "bench-peers"
VIEWS = ("CUSTOMER_METRICS", "CUSTOMER_SEGMENTS")


# ---------------------------------------------------------------- environments


def peer_python(name: str) -> Path:
    """The peer's own virtualenv (created and installed once, then reused)."""
    home = CACHE / name
    python = home / "bin" / "python"
    stamp = home / "installed.json"
    if stamp.exists() and json.loads(stamp.read_text()) == PEERS[name]:
        return python
    shutil.rmtree(home, ignore_errors=True)
    venv.create(home, with_pip=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEERS[name]], check=True)
    stamp.write_text(json.dumps(PEERS[name]))
    return python


# ---------------------------------------------------------------- measuring one command


def timed(command: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Wall seconds and peak RSS (MB) of `command` run in a fresh child process. Standard input
    answers `n` (SQLMesh's plan asks whether to apply even with --no-prompts)."""
    code = (
        "import json, resource, subprocess, sys, time; start = time.perf_counter();"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True, input='n\\n');"
        "seconds = time.perf_counter() - start;"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024;"
        "print(json.dumps({'seconds': seconds, 'peak_mb': peak, 'code': done.returncode, 'out': (done.stdout + done.stderr)[-3000:]}))"
    )
    out = subprocess.run([sys.executable, "-c", code, *command], cwd=cwd, env={**os.environ, **(env or {})}, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["code"] != 0 and "Apply - Backfill Tables" not in result["out"]:  # SQLMesh's preview: declined
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{result['out']}")
    return result


def median(results: list[dict]) -> dict:
    return {"seconds": statistics.median(r["seconds"] for r in results), "peak_mb": statistics.median(r["peak_mb"] for r in results)}


# ---------------------------------------------------------------- the peers' projects


def view_bodies(root: Path) -> dict[str, str]:
    """The SELECT of each analytics view, as rulectl compiles it for DuckDB."""
    import sqlglot

    from engine.config.loader import load_project
    from engine.config.project import input_view_columns
    from engine.features.compile_output import compiled_sql

    bodies = {}
    for obj, sql in compiled_sql(load_project(root), "local"):
        if obj.kind == "view" and obj.name.upper() in VIEWS:
            bodies[obj.name.upper()] = sqlglot.parse_one(sql, read="duckdb").expression.sql(dialect="duckdb", pretty=True)
    return bodies


def write_dbt(home: Path, bodies: dict[str, str], database: Path) -> None:
    (home / "models").mkdir(parents=True, exist_ok=True)
    (home / "dbt_project.yml").write_text(
        "name: peers\nversion: '1.0'\nprofile: peers\nmodel-paths: [models]\nmodels:\n  peers:\n    +materialized: view\n"
    )
    (home / "profiles.yml").write_text(f"peers:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {database}\n      schema: analytics\n      threads: 1\n")
    (home / "models" / "customer_metrics.sql").write_text(bodies["CUSTOMER_METRICS"] + "\n")
    segments = re.sub(r"\bANALYTICS\.CUSTOMER_METRICS\b", "{{ ref('customer_metrics') }}", bodies["CUSTOMER_SEGMENTS"], flags=re.I)
    (home / "models" / "customer_segments.sql").write_text(segments + "\n")


def write_sqlmesh(home: Path, bodies: dict[str, str], database: Path) -> None:
    (home / "models").mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(
        f"gateways:\n  local:\n    connection:\n      type: duckdb\n      database: {database}\ndefault_gateway: local\nmodel_defaults:\n  dialect: duckdb\n"
    )
    for name in VIEWS:
        header = f"MODEL (name analytics.{name.lower()}, kind VIEW);\n\n"
        (home / "models" / f"{name.lower()}.sql").write_text(header + bodies[name] + ";\n")


def seed_database(python: Path, database: Path, parquet: dict[str, Path]) -> None:
    """The source tables in a peer's own DuckDB file, from Parquet (types as rulectl loaded them)."""
    statements = ["CREATE SCHEMA IF NOT EXISTS " + table.split(".")[0] for table in parquet]
    statements += [f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{path}')" for table, path in parquet.items()]
    code = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); [c.execute(s) for s in sys.argv[2:]]; c.close()"
    subprocess.run([str(python), "-c", code, str(database), *statements], check=True)


def segment_labels(python: Path, database: Path, key: str, columns: list[str]) -> dict[str, str]:
    """Each customer's segment labels (the segmentation and action columns), hashed per customer.
    Labels only: the metric columns under them are doubles, whose parallel SUM/AVG may differ in the
    last bits between DuckDB versions and thread schedules (the peers run DuckDB 1.5 and 2.0), which
    any rounding of 10 million values turns into a few differing digits somewhere."""
    labels = ", ".join(f"coalesce(CAST({column} AS VARCHAR), '-')" for column in columns)
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); c.execute('SET enable_progress_bar = false');"
        f"rows = c.execute(\"SELECT CAST({key} AS VARCHAR), md5(concat_ws(chr(31), {labels})) FROM analytics.customer_segments\").fetchall();"
        "print('\\n'.join(f'{k}\\t{h}' for k, h in rows))"
    )
    out = subprocess.run([str(python), "-c", code, str(database)], check=True, capture_output=True, text=True).stdout
    return dict(line.split("\t") for line in out.splitlines() if "\t" in line)


def label_differences(labels: dict[str, dict[str, str]]) -> str:
    """"identical", or how many customers each peer labels differently from rulectl."""
    mine = labels["rulectl"]
    differing = {tool: sum(1 for customer in mine.keys() | theirs.keys() if mine.get(customer) != theirs.get(customer)) for tool, theirs in labels.items() if tool != "rulectl"}
    if not any(differing.values()):
        return f"identical ({len(mine):,} customers)"
    return "DIFFERENT: " + ", ".join(f"{count:,} customers labelled otherwise by {tool}" for tool, count in differing.items())


# ---------------------------------------------------------------- one size


def run_size(metrics: int, segmentations: int, customers: int, runs: int) -> dict:
    from engine import workflow
    from engine.config.loader import load_project
    from engine.config.project import input_view_columns

    rulectl = str(Path(sys.executable).with_name("rulectl"))
    pythons = {name: peer_python(name) for name in PEERS}
    # pip byte-compiled the peers when it installed them; an editable rulectl under
    # PYTHONDONTWRITEBYTECODE=1 would compile its own source in every process (~0.1 s), so like for like
    compileall.compile_dir(REPO / "engine", quiet=1)
    results: dict[str, dict[str, dict]] = {"rulectl": {}, "dbt": {}, "sqlmesh": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "rulectl"
        root.mkdir()
        make_project(root, metrics, segmentations)
        write_data(customers, root / "data" / "sample_inputs", seed=2026, as_of=date(2026, 11, 24))
        loaded = load_project(root)
        workflow.load_sample_data(loaded, None)
        loaded_db = root / ".rulectl" / "local.duckdb"
        pristine = tmp / "loaded.duckdb"
        shutil.copy(loaded_db, pristine)
        parquet = {}
        import duckdb

        with duckdb.connect(str(pristine), read_only=True) as connection:
            for source in loaded.config.sources.values():
                path = tmp / f"{source.table}.parquet"
                connection.execute(f"COPY (SELECT * FROM {source.table}) TO '{path}' (FORMAT parquet)")
                parquet[source.table] = path
        bodies = view_bodies(root)
        homes = {"dbt": tmp / "dbt", "sqlmesh": tmp / "sqlmesh"}
        write_dbt(homes["dbt"], bodies, homes["dbt"] / "peer.duckdb")
        write_sqlmesh(homes["sqlmesh"], bodies, homes["sqlmesh"] / "peer.duckdb")
        dbt = [str(pythons["dbt"].with_name("dbt"))]
        dbt_env = {"DBT_PROFILES_DIR": str(homes["dbt"]), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        sqlmesh = [str(pythons["sqlmesh"].with_name("sqlmesh"))]
        commands = {
            "rulectl": {"deploy": [rulectl, "apply", "--yes"], "check": [rulectl, "plan"], "preview": [rulectl, "plan"], "edit_deploy": [rulectl, "apply", "--yes"]},
            "dbt": {"deploy": dbt + ["run"], "check": dbt + ["ls"], "edit_deploy": dbt + ["run", "--select", "customer_segments"]},
            "sqlmesh": {
                "deploy": sqlmesh + ["plan", "--auto-apply", "--no-prompts", "--skip-tests"],
                "check": sqlmesh + ["plan", "--no-prompts", "--skip-tests"],
                "preview": sqlmesh + ["plan", "--no-prompts", "--skip-tests"],
                "edit_deploy": sqlmesh + ["plan", "--auto-apply", "--no-prompts", "--skip-tests"],
            },
        }
        cwd = {"rulectl": root, **homes}
        env = {"dbt": dbt_env}
        databases = {"rulectl": loaded_db, "dbt": homes["dbt"] / "peer.duckdb", "sqlmesh": homes["sqlmesh"] / "peer.duckdb"}
        segments_yml = root / "rules" / "segments.yml"
        original = segments_yml.read_text()

        def set_project(text: str) -> None:
            segments_yml.write_text(text)
            edited_bodies = view_bodies(root)
            write_dbt(homes["dbt"], edited_bodies, databases["dbt"])
            write_sqlmesh(homes["sqlmesh"], edited_bodies, databases["sqlmesh"])

        for tool in results:
            steps: dict[str, list[dict]] = {}
            for _ in range(runs):
                set_project(original)
                # cold: a database holding only the sources and no tool state: rulectl without its
                # .rulectl/cache/ (what earlier runs compiled and proved), the peers without theirs
                if tool == "rulectl":
                    shutil.copy(pristine, loaded_db)
                    shutil.rmtree(root / ".rulectl" / "cache", ignore_errors=True)
                else:
                    databases[tool].unlink(missing_ok=True)
                    shutil.rmtree(cwd[tool] / "target", ignore_errors=True)
                    shutil.rmtree(cwd[tool] / ".cache", ignore_errors=True)
                    shutil.rmtree(cwd[tool] / "logs", ignore_errors=True)
                    seed_database(pythons[tool], databases[tool], parquet)
                steps.setdefault("deploy", []).append(timed(commands[tool]["deploy"], cwd[tool], env.get(tool)))
                steps.setdefault("check", []).append(timed(commands[tool]["check"], cwd[tool], env.get(tool)))
                edit_one_rule(root)
                set_project(segments_yml.read_text())
                if "preview" in commands[tool]:
                    steps.setdefault("preview", []).append(timed(commands[tool]["preview"], cwd[tool], env.get(tool)))
                # the deploy measured on another edit than the preview's: no command has seen it yet
                edit_one_rule(root, factor=1.25)
                set_project(segments_yml.read_text())
                steps.setdefault("edit_deploy", []).append(timed(commands[tool]["edit_deploy"], cwd[tool], env.get(tool)))
            results[tool] = {step: median(values) for step, values in steps.items()}
        key = loaded.config.sources[next(iter(loaded.config.sources))].key
        columns = [name for name in input_view_columns(loaded, "customer_segments") if name not in input_view_columns(loaded, "customer_metrics")]
        labels = {"rulectl": segment_labels(Path(sys.executable), loaded_db, key, columns)}
        labels.update({tool: segment_labels(pythons[tool], databases[tool], key, columns) for tool in PEERS})
    results["segments"] = label_differences(labels)
    return results


def report(metrics: int, segmentations: int, customers: int, results: dict) -> None:
    print(f"\n{metrics:,} metrics x {segmentations} segmentations x 5 rules, {customers:,} customers; medians; segment labels: {results['segments']}")
    print(f"| step | rulectl | SQLMesh | dbt | rulectl ÷ best peer |\n|---|---|---|---|---|")
    names = {"deploy": "cold deploy", "check": "no-change check", "edit_deploy": "one threshold edit → deployed", "preview": "edit → preview"}
    for step, label in names.items():
        cells, peers = [], []
        for tool in ("rulectl", "sqlmesh", "dbt"):
            figure = results[tool].get(step)
            cells.append(f"{figure['seconds']:.2f} s, {figure['peak_mb']:.0f} MB" if figure else "–")
            if figure and tool != "rulectl":
                peers.append(figure["seconds"])
        ratio = f"{results['rulectl'][step]['seconds'] / min(peers):.2f}×" if peers else "–"
        print(f"| {label} | {' | '.join(cells)} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 x 6 over 2,000 customers (smoke run)")
    parser.add_argument("--sizes", nargs="*", default=["1000x100"], help="metrics x segmentations, e.g. 200x20")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sizes = [(40, 6)] if args.quick else [tuple(int(n) for n in size.split("x")) for size in args.sizes]
    customers = 2000 if args.quick else args.customers
    runs = 1 if args.quick else args.runs
    print(f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} cores, python {platform.python_version()}; peers: {PEERS}")
    for metrics, segmentations in sizes:
        report(metrics, segmentations, customers, run_size(metrics, segmentations, customers, runs))


if __name__ == "__main__":
    main()
