from __future__ import annotations

import atexit
import compileall
import csv
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Bytecode for rulectl's own modules, as pip writes it for installed packages: with
# PYTHONDONTWRITEBYTECODE set (this machine sets it) every test process and every `rulectl` process a
# test starts compiled engine/ from source again (~0.3 s each), and pytest rewrote every test module
# in both workers (~2.5 s each). Set before rulectl or any test module is imported; inherited by subprocesses.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

import pytest
import typer.testing
from typer.testing import CliRunner

from engine.cli import app

REPO = Path(__file__).resolve().parent.parent

# The tests never see models a user pulled (`rulectl demo` would run them): an empty model cache,
# inherited by the rulectl processes tests start. Tests that need a model name one explicitly.
os.environ["RULECTL_MODEL_DIR"] = tempfile.mkdtemp(prefix="rulectl-test-models-")
atexit.register(shutil.rmtree, os.environ["RULECTL_MODEL_DIR"], ignore_errors=True)  # each process its own, gone with it
PROJECT_PARTS = ("rulectl.yml", "rules", "prompts", "data")


def _connect_one_thread(connect):
    """pytest-xdist runs a worker per core; DuckDB's own pool (a thread per core, started at every
    connect) on top ran 2 workers' statements on 4 busy threads. One thread per connection in test
    processes: measured 127–135 s vs 138–142 s for tests/plan, backends and ai, alternating (system
    CPU 26–28 vs 32 s). The tests' tables are one row group (< 122,880 rows), which DuckDB scans on
    one thread anyway, so no result or order differs; `rulectl` processes a test starts, the demo and
    the benches keep DuckDB's default."""
    def connect_one_thread(database: str = ":memory:", read_only: bool = False, config: dict | None = None, **kwargs):
        return connect(database, read_only=read_only, config={"threads": 1, **(config or {})}, **kwargs)

    return connect_one_thread


import duckdb  # noqa: E402  (patched before rulectl opens any connection)

duckdb.connect = _connect_one_thread(duckdb.connect)

MEMORY_FS = Path("/dev/shm")
_MEMORY_BASETEMP = pytest.StashKey[Path]()


def pytest_configure(config):
    """Test directories on a memory filesystem where there is one (Linux's /dev/shm), unless the run
    names its own --basetemp. Every DuckDB statement commits with an fsync of its log; on tmpfs that
    is free, on a disk shared by busy processes it was a third of an apply's time. The files are
    still real DuckDB files (kill tests kill real processes; the page cache is the same). The
    directory is removed after a passing run and kept after a failing one, as pytest keeps its own."""
    if not hasattr(config, "workerinput"):  # once, before pytest-xdist starts its workers
        compileall.compile_dir(REPO / "engine", quiet=1)
    if config.option.basetemp or hasattr(config, "workerinput"):  # xdist workers inherit the controller's
        return
    if MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK) and shutil.disk_usage(MEMORY_FS).free > 4 << 30:
        config.option.basetemp = tempfile.mkdtemp(prefix="rulectl-pytest-", dir=MEMORY_FS)
        config.stash[_MEMORY_BASETEMP] = Path(config.option.basetemp)


def pytest_collection_modifyitems(config, items):
    """Slow cases first (stable otherwise): pytest-xdist hands tests out in collection order, and a
    sweep started last kept one worker busy while the other sat idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# Python's cyclic collector, which every sqlglot tree needs (each node points to its parent), took
# ~17% of a test process's CPU: gen-0 passes over every new node and full passes over everything a
# long-lived test process holds (imports, memos). In tests it runs between tests instead, every
# COLLECT_EVERY tests, over what was made since the first test (what existed then is frozen: imports,
# never garbage). A worker then peaks at ~1 GB instead of ~0.35 GB. The engine's own collector use
# (plan/planner.py `gc_paused`) is unchanged: it resumes only a collector that was running.
COLLECT_EVERY = 20
_tests_started = 0


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    global _tests_started
    if _tests_started == 0:
        gc.collect()
        gc.freeze()
        gc.disable()
    elif _tests_started % COLLECT_EVERY == 0:
        gc.collect()
    _tests_started += 1


def pytest_sessionfinish(session, exitstatus):
    gc.unfreeze()  # the frozen objects are freed at exit as usual (nanobind counts them)
    gc.enable()
    stage = sys.modules.get("fakesnow.transforms.stage")
    if stage is not None:  # fakesnow makes a stage directory per process at import and leaves it ("TODO: clean up")
        shutil.rmtree(stage.LOCAL_BUCKET_PATH, ignore_errors=True)
    basetemp = session.config.stash.get(_MEMORY_BASETEMP, None)
    if basetemp is None:
        return
    if exitstatus == 0:
        shutil.rmtree(basetemp, ignore_errors=True)
    else:
        session.config.get_terminal_writer().line(f"test directories kept for a look: {basetemp}")


# The example without its support-ticket source and search: what the feature tests build on (one
# prompt, one task, the segment rules without sentiment). They were written against it, and each
# sentiment score and embedding run would add seconds to hundreds of tests. The whole example is
# tested by tests/test_example_whole_product.py, the golden SQL and the golden plan comments, and
# tests/ai/test_sentiment.py and test_search.py add the tickets and search back to this core.
CORE_EXAMPLE_EDITS = (  # (file, from, up to — "" just `from`, None the end of the file —, replacement)
    ("rulectl.yml", "  support_tickets:\n    table: SUPPORT.TICKETS\n", "display:", ""),
    ("rulectl.yml", "\nsearch:", None, "\n"),
    ("rules/metrics.yml", "  - name: support_sentiment\n", None, ""),
    ("rules/segments.yml", " AND support_sentiment > -0.5\n", "", "\n"),
    ("rules/segments.yml", " AND support_sentiment > -0.5\n", "", "\n"),
    ("rules/segments.yml", "      - segment: At Risk", "      - segment: Growth", (
        "      - segment: At Risk\n        when: days_to_renewal <= 120 AND adoption_rate < 0.5\n"
        "        action: Adoption workshop and renewal call\n"
    )),
)


def copy_example(root: Path, whole: bool = False) -> Path:
    """Copy the example project to `root`: the whole of it, or the core feature tests use."""
    root.mkdir(exist_ok=True)
    for part in PROJECT_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, root / part)
        else:
            shutil.copy(source, root / part)
    if not whole:
        for file, start, end, replacement in CORE_EXAMPLE_EDITS:
            text = (root / file).read_text()
            assert start in text, f"the example changed: {start!r} not in {file}; update CORE_EXAMPLE_EDITS"
            begin = text.index(start)
            finish = len(text) if end is None else begin + len(start) if end == "" else text.index(end, begin)
            (root / file).write_text(text[:begin] + replacement + text[finish:])
    return root


@pytest.fixture(autouse=True)
def quick_retry_backoff(request, monkeypatch):
    """A retried model call waits 1/50 of the real backoff (engine/ai/providers/openai.py): the
    fault tests exercise retries, not the clock, and their waits idled a worker for seconds. The
    backoff itself is measured, with the real base, by the tests marked `real_backoff`."""
    if request.node.get_closest_marker("real_backoff") is None:
        monkeypatch.setattr("engine.ai.providers.openai.BACKOFF_BASE_SECONDS", 0.01)


@pytest.fixture(scope="session")
def loaded_core(tmp_path_factory) -> Path:
    """The example's core after `rulectl load`, once per test process: a template, never edited."""
    root = copy_example(tmp_path_factory.mktemp("loaded-core") / "project")
    assert run("load", project=root).exit_code == 0
    return root


@pytest.fixture
def loaded_project(loaded_core: Path, tmp_path: Path) -> Path:
    """A private copy of the example's core as `rulectl load` leaves it (sources loaded, nothing
    applied): for tests of plan and apply."""
    return shutil.copytree(loaded_core, tmp_path / "project")


@pytest.fixture(scope="session")
def applied_core(loaded_core: Path, tmp_path_factory) -> Path:
    """The example's core, loaded and applied once per test process: a template, never edited."""
    root = shutil.copytree(loaded_core, tmp_path_factory.mktemp("applied-core") / "project")
    applied = run("apply", "--yes", project=root)
    assert applied.exit_code == 0, applied.output
    return root


@pytest.fixture
def applied_project(applied_core: Path, tmp_path: Path) -> Path:
    """A private copy of the example's core as `rulectl load` then `apply --yes` leave it (its DuckDB
    file holds no path of its own, so a copy is the same deployment): for tests of what comes after."""
    return shutil.copytree(applied_core, tmp_path / "project")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A private copy of the example's core (CORE_EXAMPLE_EDITS), safe to edit."""
    return copy_example(tmp_path / "project")


def copy_rule_tests(root: Path) -> Path:
    """Add the example's rule tests (tests/*.yml beside this suite's Python tests) to a project copy.

    Not part of `project`: many tests rewrite the rules, which the example's rule tests would then
    contradict."""
    (root / "tests").mkdir(exist_ok=True)
    for rule_test in (REPO / "tests").glob("*.yml"):
        shutil.copy(rule_test, root / "tests" / rule_test.name)
    return root


def _command_built_once(typer_app, _built={}):
    """typer builds the click command from every command's signature on each `invoke` (~25 ms, with
    ~250 annotation evaluations); a process of the CLI builds it once, so do the tests. Click
    commands are reusable: each call makes its own context. Monkeypatched helpers still apply (the
    command's callbacks look them up when called)."""
    if id(typer_app) not in _built:
        _built[id(typer_app)] = (typer_app, _get_command_each_time(typer_app))
    return _built[id(typer_app)][1]


_get_command_each_time = typer.testing._get_command
typer.testing._get_command = _command_built_once


def run(*args: str, project: Path | None = None, input: str | None = None):
    """Invoke the CLI in-process, the way a user would type it."""
    argv = list(args)
    if project is not None:
        argv += ["--project", str(project)]
    return CliRunner().invoke(app, argv, input=input, catch_exceptions=False)


def sample_rows(name: str) -> list[dict[str, str]]:
    with (REPO / "data" / "sample_inputs" / f"{name}.csv").open() as handle:
        return list(csv.DictReader(handle))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def target_rows(root: Path, sql: str) -> list[tuple]:
    """Rows of `sql` read straight from a project's local DuckDB file, as a user with DuckDB would."""
    import duckdb

    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"))
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()

