"""The project cache (core/project_cache.py): a command reading the same inputs as an earlier one
skips the semantic checks, the solver and compile; any changed input — one byte of a YAML file,
rulectl's code, a library's version — is another key; plans and objects are the same either way."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import sqlglot

from engine import workflow
from engine.compile import project as compile_module
from engine.compile.objects import canonical_sql
from engine.compile.project import PARTS, compile_project, remembered_objects
from engine.config import loader
from engine.config.loader import load_project
from engine.core import project_cache
from engine.core.errors import ConfigErrors
from tests.conftest import REPO, edit

SHAPES = REPO / "tests" / "projects"


@pytest.fixture
def checks(monkeypatch) -> list[int]:
    """How many times the semantic checks ran."""
    calls: list[int] = []
    original = loader.check_project

    def counting(loaded):
        calls.append(1)
        return original(loaded)

    monkeypatch.setattr(loader, "check_project", counting)
    return calls


@pytest.fixture
def compiled(monkeypatch) -> list[str]:
    """The compile parts that ran, by name."""
    ran: list[str] = []
    for name, part in list(PARTS.items()):
        monkeypatch.setitem(PARTS, name, lambda loaded, settings, name=name, part=part: ran.append(name) or part(loaded, settings))
    return ran


def objects_facts(objects) -> list[tuple]:
    return [(o.qualified_name, o.kind, o.depends_on, o.columns, o.options, o.details if "compiled" not in o.details else "compiled", o.fingerprint, o.canonical_sql) for o in objects]


def plan_facts(root: Path) -> dict:
    """The plan of the project's local target, without what differs between two plans of one state."""
    data = json.loads(workflow.plan(workflow.load(root)).to_json())
    for key in ("plan_id", "created_at"):
        data.pop(key, None)
    return data


@pytest.mark.parametrize("shape", ["example", "minimal"])
def test_objects_and_warnings_are_the_same_from_the_cache(shape, project, tmp_path, compiled):
    root = project if shape == "example" else shutil.copytree(SHAPES / shape, tmp_path / shape)
    (root / ".rulectl").mkdir(exist_ok=True)
    cold = load_project(root)
    fresh = compile_project(cold, "local")
    first = remembered_objects(cold, "local")  # compiles and remembers
    warm = load_project(root)
    assert warm.inputs_digest == cold.inputs_digest and warm.warnings == cold.warnings
    compiled.clear()
    second = remembered_objects(warm, "local")
    assert "metrics" not in compiled and "segments" not in compiled  # restored, not compiled
    assert objects_facts(fresh) == objects_facts(first) == objects_facts(second)
    # a restored object builds its statement when asked: the very SQL the cache said
    assert [canonical_sql(o.statement) for o in second] == [o.canonical_sql for o in fresh]
    assert set(compiled) >= {"metrics", "segments"}


def test_a_plan_is_the_same_with_the_cache_and_without(applied_project, compiled):
    edit(applied_project / "rules" / "segments.yml", "days_to_renewal <= 120", "days_to_renewal <= 90")
    (applied_project / project_cache.CACHE_FILE).unlink(missing_ok=True)
    cold = plan_facts(applied_project)
    assert (applied_project / project_cache.CACHE_FILE).is_file()
    compiled.clear()
    warm = plan_facts(applied_project)
    assert "metrics" not in compiled  # the unchanged view's statement is never built
    assert warm == cold and any(step["action"] == "replace" for step in warm["steps"])


def test_a_no_change_plan_from_the_cache_checks_proves_and_compiles_nothing(applied_project, checks, compiled, monkeypatch):
    workflow.plan(workflow.load(applied_project))  # remembers
    checks.clear(), compiled.clear()
    import engine.lint.rule_proofs as rule_proofs

    monkeypatch.setattr(rule_proofs, "unsatisfiable_rules", lambda *a: pytest.fail("proved again"))
    plan = workflow.plan(workflow.load(applied_project))
    assert not plan.has_changes and not plan.errors
    assert checks == [] and not {"schemas", "metrics", "segments"} & set(compiled)


def test_an_edited_yaml_is_checked_and_compiled_again(project, checks):
    (project / ".rulectl").mkdir()
    before = load_project(project)
    assert len(checks) == 1
    edit(project / "rules" / "segments.yml", "days_to_renewal <= 120", "days_to_renewal <= 90")
    after = load_project(project)
    assert len(checks) == 2 and after.inputs_digest != before.inputs_digest
    assert objects_facts(remembered_objects(after, "local")) == objects_facts(compile_project(after, "local"))
    edit(project / "rules" / "segments.yml", "days_to_renewal <= 90", "no_such_metric <= 90")
    with pytest.raises(ConfigErrors, match="no_such_metric"):
        load_project(project)
    with pytest.raises(ConfigErrors, match="no_such_metric"):  # an error is never remembered
        load_project(project)


def test_an_edit_and_its_undoing_both_stay_cached(project, checks):
    (project / ".rulectl").mkdir()
    load_project(project)
    edit(project / "rules" / "segments.yml", "days_to_renewal <= 120", "days_to_renewal <= 90")
    load_project(project)
    edit(project / "rules" / "segments.yml", "days_to_renewal <= 90", "days_to_renewal <= 120")
    load_project(project)
    assert len(checks) == 2


def test_another_rulectl_is_another_key(project, checks, monkeypatch, tmp_path):
    stamp_of = project_cache.code_stamp.__wrapped__  # uncached
    (project / ".rulectl").mkdir()
    digest = load_project(project).inputs_digest
    monkeypatch.setattr(project_cache, "code_stamp", lambda: "another rulectl")
    assert load_project(project).inputs_digest != digest and len(checks) == 2
    # what the stamp covers: any byte of rulectl's engine/, and sqlglot's version
    engine = shutil.copytree(project_cache.ENGINE, tmp_path / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    stamp = stamp_of(engine)
    objects_py = engine / "compile" / "objects.py"
    objects_py.write_text(objects_py.read_text() + "\n# a comment\n")
    assert stamp_of(engine) != stamp
    monkeypatch.setattr(sqlglot, "__version__", "0.0.1")
    objects_py.write_text(objects_py.read_text().removesuffix("\n# a comment\n"))
    assert stamp_of(engine) != stamp


def test_a_damaged_cache_is_ignored_and_replaced(project, checks):
    (project / ".rulectl" / "cache").mkdir(parents=True)
    (project / project_cache.CACHE_FILE).write_text("{not json")
    load_project(project)
    assert len(checks) == 1
    assert json.loads((project / project_cache.CACHE_FILE).read_text())["format"] == project_cache.FORMAT
    (project / project_cache.CACHE_FILE).write_text(json.dumps({"format": project_cache.FORMAT, "entries": []}))
    load_project(project)
    assert len(checks) == 2


def test_nothing_is_written_into_a_project_without_its_state_folder(project, checks):
    load_project(project)
    load_project(project)
    assert not (project / ".rulectl").exists() and len(checks) == 2


def test_a_part_whose_details_json_cannot_keep_is_compiled_each_time(project):
    (project / ".rulectl").mkdir()
    loaded = load_project(project)
    remembered_objects(loaded, "local")
    kept = project_cache.cached(project, loaded.inputs_digest, "objects:local")
    assert kept["prompts"] is None  # a compiled prompt is no JSON
    assert [o["name"] for o in kept["segments"]] == ["CUSTOMER_SEGMENTS"]
    assert compile_module._kept([]) == []


def test_a_rule_edit_restores_the_metrics_view_and_a_metric_or_settings_edit_compiles_it(project, compiled):
    """The metrics part is also kept under the key of what it reads (settings and metrics): an edit
    elsewhere restores it, with the same objects as compiling; an edit of either compiles it."""
    (project / ".rulectl").mkdir()
    remembered_objects(load_project(project), "local")
    assert "metrics" in compiled

    def after(file: str, old: str, new: str) -> tuple[list[str], list[tuple]]:
        edit(project / file, old, new)
        compiled.clear()
        loaded = load_project(project)
        facts = objects_facts(remembered_objects(loaded, "local"))
        ran = list(compiled)
        assert facts == objects_facts(compile_project(loaded, "local"))
        return ran, facts

    ran, _ = after("rules/segments.yml", "days_to_renewal <= 120", "days_to_renewal <= 90")  # a rule
    assert "metrics" not in ran and "segments" in ran
    ran, facts = after("rules/metrics.yml", "filter: status = 'active'\n  - name: module_count", "filter: status <> 'churned'\n  - name: module_count")
    assert "metrics" in ran and "churned" in dict((f[0], f[7]) for f in facts)["ANALYTICS.CUSTOMER_METRICS"]
    ran, _ = after("rulectl.yml", "size: {metric: total_arr, format: currency, label: ARR}", "size: {metric: total_arr, format: currency, label: Revenue}")  # a setting
    assert "metrics" in ran
    ran, _ = after("rules/segments.yml", "days_to_renewal <= 90", "days_to_renewal <= 60")  # a rule again: kept under the new settings
    assert "metrics" not in ran
    # the order of a source's columns is the view's column order: a reorder is another key
    ran, facts = after("rulectl.yml", "columns: {customer_id: varchar, customer_name: varchar,", "columns: {customer_name: varchar, customer_id: varchar,")
    assert "metrics" in ran and "SELECT customer.customer_name AS customer_name, customer.customer_id" in dict((f[0], f[7]) for f in facts)["ANALYTICS.CUSTOMER_METRICS"]


def test_the_fixed_point_scales_follow_the_metrics_not_the_rules(project, monkeypatch):
    from engine.backends import registry

    (project / ".rulectl").mkdir()
    computed: list[int] = []
    original = registry._fixed_point_scales
    monkeypatch.setattr(registry, "_fixed_point_scales", lambda loaded: computed.append(1) or original(loaded))
    first = registry.fixed_point_scales(load_project(project))
    edit(project / "rules" / "segments.yml", "days_to_renewal <= 120", "days_to_renewal <= 90")
    assert registry.fixed_point_scales(load_project(project)) == first and len(computed) == 1
    edit(project / "rules" / "metrics.yml", "expr: SUM(arr)", "expr: SUM(arr) / 3")
    loaded = load_project(project)
    assert registry.fixed_point_scales(loaded) == original(loaded) and len(computed) == 2


@pytest.fixture
def metric_checks(monkeypatch) -> list[int]:
    """How many times the metrics were checked and typed (config/semantics.py `_metric_checks`)."""
    from engine.config import semantics

    ran: list[int] = []
    original = semantics._check_metrics
    monkeypatch.setattr(semantics, "_check_metrics", lambda loaded: ran.append(1) or original(loaded))
    return ran


def fresh_warnings(root: Path) -> list:
    """The warnings of a load with no cache at all."""
    shutil.rmtree(root / ".rulectl" / "cache", ignore_errors=True)
    return list(load_project(root).warnings)


def test_a_rule_edit_keeps_the_metric_checks_and_their_warnings_lines(project, checks, metric_checks):
    """The metric checks are kept under rulectl.yml's and the metric files' bytes: a rule edit in
    another file checks the rules only, with the same warnings (each at its line) as checking all."""
    (project / ".rulectl").mkdir()
    edit(project / "rules" / "metrics.yml", "expr: module_count / 4.0", "expr: module_count / seat_utilization")  # a divisor that can be zero: a warning
    load_project(project)
    assert len(metric_checks) == 1
    edit(project / "rules" / "segments.yml", "days_to_renewal <= 120", "days_to_renewal <= 90")
    kept = list(load_project(project).warnings)
    assert len(checks) == 2 and len(metric_checks) == 1  # the rules checked, the metrics not
    assert any("the divisor `seat_utilization`" in w.message and w.file == "rules/metrics.yml" for w in kept)
    assert kept == fresh_warnings(project)
    # a line added above the metric moves its warning: another key, checked again, at the new line
    edit(project / "rules" / "metrics.yml", "metrics:\n", "# ARR and adoption\nmetrics:\n")
    moved = list(load_project(project).warnings)
    assert len(metric_checks) == 3  # (fresh_warnings checked once)
    assert [w.line for w in moved if w.file == "rules/metrics.yml"] == [w.line + 1 for w in kept if w.file == "rules/metrics.yml"]
    assert moved == fresh_warnings(project)


def test_a_rule_edit_keeps_the_window_scores_null_warning_without_looking_again(project, monkeypatch):
    """The window scores' NULL warning reads the metrics only: kept with the metric checks."""
    from engine.config import semantics

    (project / ".rulectl").mkdir()
    edit(project / "rules" / "metrics.yml", "metrics:\n", "metrics:\n  - name: arr_band\n    expr: NTILE(4) OVER (ORDER BY total_arr DESC)\n")
    first = [w for w in load_project(project).warnings if "NULLS" in w.message]
    assert len(first) == 1 and first[0].file == "rules/metrics.yml"
    looked: list[int] = []
    original = semantics.window_null_warnings
    monkeypatch.setattr(semantics, "window_null_warnings", lambda loaded: looked.append(1) or original(loaded))
    edit(project / "rules" / "segments.yml", "days_to_renewal <= 120", "days_to_renewal <= 90")
    kept = list(load_project(project).warnings)
    assert looked == [] and [w for w in kept if "NULLS" in w.message] == first
    assert kept == fresh_warnings(project) and looked == [1]


def test_settings_or_a_metric_edit_checks_the_metrics_again_and_an_error_is_never_kept(project, metric_checks):
    (project / ".rulectl").mkdir()
    load_project(project)
    edit(project / "rulectl.yml", "seats: integer", "seats: varchar")  # SUM(seats) is no longer a number
    with pytest.raises(ConfigErrors, match="seats"):
        load_project(project)
    with pytest.raises(ConfigErrors, match="seats"):
        load_project(project)
    assert len(metric_checks) == 3
    edit(project / "rulectl.yml", "seats: varchar", "seats: integer")
    load_project(project)  # the first inputs again: kept from the first load
    assert len(metric_checks) == 3


def test_metrics_and_rules_in_one_file_are_checked_together(tmp_path, metric_checks):
    root = shutil.copytree(SHAPES / "minimal", tmp_path / "minimal")
    (root / ".rulectl").mkdir()
    load_project(root)
    edit(root / "rules" / "rules.yml", "weekly_visits >= 1", "weekly_visits >= 2")
    load_project(root)
    assert len(metric_checks) == 2  # the file holding the metrics changed: its lines may have moved


def test_remembering_what_the_newest_entry_holds_writes_nothing(project, monkeypatch):
    (project / ".rulectl").mkdir()
    project_cache.remember(project, "digest-a", "section", {"x": 1})
    written: list[str] = []
    replace = project_cache.os.replace
    monkeypatch.setattr(project_cache.os, "replace", lambda source, target: written.append(str(target)) or replace(source, target))
    project_cache.remember(project, "digest-a", "section", {"x": 1})  # the newest entry holds it
    assert written == []
    project_cache.remember(project, "digest-a", "section", {"x": 2})  # another value
    project_cache.remember(project, "digest-b", "section", {"x": 2})
    project_cache.remember(project, "digest-a", "section", {"x": 2})  # held, but no longer the newest: moved up
    assert len(written) == 3 and list(project_cache._entries(project / project_cache.CACHE_FILE)) == ["digest-b", "digest-a"]


def test_a_process_reads_back_what_it_wrote_without_reading_the_file_and_sees_another_writer(project, monkeypatch):
    """A command remembers several sections: each is kept in memory as the next command will read
    it (JSON: a tuple comes back a list), not read back from the file after each write. Another
    process's write is another version of the file, and is read."""
    (project / ".rulectl").mkdir()
    reads: list[int] = []
    read = project_cache._read
    monkeypatch.setattr(project_cache, "_read", lambda path: reads.append(1) or read(path))
    project_cache.remember(project, "digest-a", "checked", [("rules/a.yml", 3, "a warning")])
    project_cache.remember(project, "digest-a", "proven", True)
    project_cache.remember(project, "digest-b", "objects", {"metrics": [{"sql": "SELECT 1"}]})
    assert project_cache.cached(project, "digest-a", "checked") == [["rules/a.yml", 3, "a warning"]]
    assert project_cache.cached(project, "digest-a", "proven") is True and reads == []
    path = project / project_cache.CACHE_FILE
    assert json.loads(path.read_text())["entries"] == project_cache._entries(path)  # memory and file agree
    other = json.loads(path.read_text())
    other["entries"]["digest-c"] = {"proven": True}
    path.write_text(json.dumps(other))  # another process
    assert project_cache.cached(project, "digest-c", "proven") is True and reads == [1]


def test_another_writers_file_of_the_same_size_and_time_is_read_again(project):
    """os.replace gives the file a new inode: another process's write within the same clock tick,
    of the same size, is still another version (the (mtime, size) stamp alone served the old one)."""
    (project / ".rulectl").mkdir()
    project_cache.remember(project, "digest-a", "proven", True)
    path = project / project_cache.CACHE_FILE
    before = path.stat()
    replaced = path.read_text().replace("digest-a", "digest-b")
    temporary = path.with_suffix(".other.tmp")
    temporary.write_text(replaced)
    os.utime(temporary, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(temporary, path)  # as another rulectl writes it
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert project_cache.cached(project, "digest-b", "proven") is True
    assert project_cache.cached(project, "digest-a", "proven") is None
