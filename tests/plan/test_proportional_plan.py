"""Plan works in proportion to the change: the planned-view check renders only the views that change
(an unchanged view is read where it is deployed), and the canonical SQL of unchanged objects comes
from .rulectl/cache/ instead of being generated again — with the same plan either way."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlglot import exp

from engine import workflow
from engine.backends.duckdb import DuckDBBackend
from engine.compile import objects
from engine.config.loader import load_project
from engine.core import project_cache, tree_memo
from engine.core.tree_memo import TreeMemo
from engine.plan.model import Action
from engine.plan.planner import build_plan
from tests.conftest import REPO, copy_example, edit, target_rows

# shape → (how to make it, the file holding a rule, a rule threshold before and after an edit)
SHAPES = {
    "minimal": (lambda root: shutil.copytree(REPO / "tests" / "projects" / "minimal", root), "rules/rules.yml", "weekly_visits >= 1}", "weekly_visits >= 1.5}"),
    "example": (copy_example, "rules/segments.yml", "days_to_renewal <= 120", "days_to_renewal <= 90"),
}
PLANNED_CTE = re.compile(r"rulectl_planned_\d+ AS \(")


@pytest.fixture(scope="module", params=sorted(SHAPES))
def deployed(request, tmp_path_factory) -> tuple[str, Path]:
    """Each shape loaded and applied once per module: a template, copied by each test."""
    make = SHAPES[request.param][0]
    root = tmp_path_factory.mktemp(request.param) / "project"
    make(root)
    loaded = load_project(root)
    workflow.load_sample_data(loaded, None)
    workflow.apply(loaded)
    return request.param, root


@pytest.fixture
def project(deployed, tmp_path: Path) -> tuple[str, Path]:
    shape, template = deployed
    return shape, shutil.copytree(template, tmp_path / "project")


def planned(root: Path):
    """(plan, the statements plan sent) on the project's local DuckDB file."""
    loaded = load_project(root)
    backend = DuckDBBackend.from_target(loaded, "local", read_only=True)
    try:
        plan, _, _ = build_plan(loaded, backend, "local")
        return plan, list(backend.statements)
    finally:
        backend.close()


def test_a_rule_edit_checks_the_segments_view_over_the_deployed_metrics_view(project):
    shape, root = project
    _, file, before, after = SHAPES[shape]
    edit(root / file, before, after)
    plan, statements = planned(root)
    assert not plan.errors, plan.errors
    changed = {s.qualified_name.upper(): s.action for s in plan.changes}
    schema = load_project(root).config.schemas.analytics.upper()
    assert changed == {f"{schema}.CUSTOMER_SEGMENTS": Action.REPLACE}
    checks = [sql for sql in statements if "rulectl_planned_" in sql]
    assert len(checks) == 1  # one LIMIT 0 query: the changed view, reading the metrics view as deployed
    assert f"{schema}.CUSTOMER_METRICS" in checks[0] and len(PLANNED_CTE.findall(checks[0])) == 1


def test_a_rule_reading_a_new_metric_is_checked_over_the_planned_metrics_view(tmp_path: Path):
    # both views change: the segments view's check reads the planned metrics view (the deployed
    # one has no such column), and apply gives the customers the new rule selects
    root = shutil.copytree(REPO / "tests" / "projects" / "minimal", tmp_path / "project")
    loaded = load_project(root)
    workflow.load_sample_data(loaded, None)
    workflow.apply(loaded)
    rules = root / "rules" / "rules.yml"
    edit(rules, "    expr: visits / 52.0\n", "    expr: visits / 52.0\n  - name: yearly_visits\n    source: members\n    expr: visits\n")
    edit(rules, "weekly_visits >= 1}", "yearly_visits >= 100}")
    plan, statements = planned(root)
    assert not plan.errors, plan.errors
    assert {s.qualified_name.upper() for s in plan.changes} == {"ANALYTICS.CUSTOMER_METRICS", "ANALYTICS.CUSTOMER_SEGMENTS"}
    checks = [sql for sql in statements if "rulectl_planned_" in sql]
    assert len(checks) == 1 and len(PLANNED_CTE.findall(checks[0])) == 2  # both planned views as CTEs
    workflow.apply(load_project(root))
    visits = {1: 104, 2: 10, 3: 52, 4: 0}  # tests/projects/minimal/data/members.csv
    regular = sorted(member for member, count in visits.items() if count >= 100)
    rows = target_rows(root, "SELECT member_id FROM ANALYTICS.CUSTOMER_SEGMENTS WHERE activity = 'Regular' ORDER BY 1")
    assert [row[0] for row in rows] == regular == [1]


def fresh_canonical_memo(monkeypatch) -> TreeMemo:
    """An empty canonical-SQL memo, as a new process has (kept across commands like the real one)."""
    memo = TreeMemo(size=1024, track_use=True)
    monkeypatch.setattr(objects, "_canonical", memo)
    monkeypatch.setitem(tree_memo.KEPT_MEMOS, "canonical", memo)
    return memo


def test_unchanged_objects_take_their_canonical_sql_from_the_cache(project, monkeypatch):
    _, root = project
    first, _ = planned(root)  # writes .rulectl/cache/generated-sql.json
    assert (root / objects.GENERATED_CACHE_FILE).exists()
    generated = []
    original = exp.Expression.sql

    def counting(self, *args, **kwargs):
        if kwargs.get("comments") is False:  # canonical_sql's generation
            generated.append(type(self).__name__)
        return original(self, *args, **kwargs)

    fresh_canonical_memo(monkeypatch)  # as a new process
    monkeypatch.setattr(exp.Expression, "sql", counting)
    second, _ = planned(root)
    assert not second.has_changes and generated == []
    assert [(s.qualified_name, s.fingerprint) for s in second.steps] == [(s.qualified_name, s.fingerprint) for s in first.steps]


def test_a_damaged_cache_is_ignored(project, monkeypatch):
    _, root = project
    (root / objects.GENERATED_CACHE_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / objects.GENERATED_CACHE_FILE).write_text("{not json")
    (root / project_cache.CACHE_FILE).unlink(missing_ok=True)  # else the plan needs no canonical SQL generated
    fresh_canonical_memo(monkeypatch)
    plan, _ = planned(root)
    assert not plan.has_changes and not plan.errors
    assert (root / objects.GENERATED_CACHE_FILE).read_text().startswith("{\"")  # rewritten whole


def fresh_memos(monkeypatch) -> None:
    """Empty canonical-SQL and DuckDB-rendering memos, as a new process has."""
    from engine.backends import duckdb as duckdb_backend

    fresh_canonical_memo(monkeypatch)
    rendered = TreeMemo(size=4096, track_use=True)
    monkeypatch.setattr(duckdb_backend, "_rendered", rendered)
    monkeypatch.setitem(tree_memo.KEPT_MEMOS, "duckdb", rendered)


def rendered_in_apply(root: Path, monkeypatch) -> dict[str, list[str]]:
    """Apply the project as a new process would; the wide statements' items generated (not found
    kept) during it, per memo ("duckdb": DuckDB renderings, "snowflake": canonical SQL)."""
    from engine.backends import duckdb as duckdb_backend
    from engine.core import wide_select

    fresh_memos(monkeypatch)
    rendered: dict[str, list[str]] = {"duckdb": [], "snowflake": []}
    sizes: list[int] = []
    assemble = wide_select.assemble

    def counting(wide, memo, settings, generate):
        made = rendered["duckdb" if memo is duckdb_backend._rendered else "snowflake"]
        sizes.append(len(wide.items))
        return assemble(wide, memo, settings, lambda item: made.append(type(item).__name__) or generate(item))

    monkeypatch.setattr(duckdb_backend.wide_select, "assemble", counting)
    _, result = workflow.apply(load_project(root))
    monkeypatch.setattr(duckdb_backend.wide_select, "assemble", assemble)
    assert result.applied and sizes and min(sizes) >= 4
    return rendered


def test_apply_after_a_plan_renders_only_the_edited_items(project, monkeypatch):
    """`rulectl plan` renders no DuckDB view statement; the apply that follows it (a never-seen edit,
    each command a new process) still finds the other items' renderings kept by the apply before,
    and renders only the edited segmentation's columns (it rendered the whole view again)."""
    shape, root = project
    _, file, before, after = SHAPES[shape]
    fresh_memos(monkeypatch)
    workflow.apply(load_project(root))  # nothing to apply
    fresh_memos(monkeypatch)
    assert not workflow.plan(load_project(root)).has_changes
    edit(root / file, before, after)
    fresh_memos(monkeypatch)
    assert workflow.plan(load_project(root)).has_changes  # the preview
    edit(root / file, after, after.replace("90", "60").replace("1.5", "2"))
    rendered = rendered_in_apply(root, monkeypatch)
    # the skeleton and the edited segmentation's column (and any reading its labels), as for the
    # canonical SQL; never every item
    assert rendered["duckdb"] == rendered["snowflake"] and rendered["duckdb"][:1] == ["Create"] and 2 <= len(rendered["duckdb"]) <= 3


def test_apply_of_the_edit_plan_showed_renders_no_item_again(project, monkeypatch):
    """The analyst's way: `plan` an edit, then `apply` it. The apply restores the objects the plan
    compiled from the same bytes (the project cache); the restored segments view is still rendered
    item by item under the keys the earlier apply kept its items by (it was rendered whole, under
    other keys, so every item was generated again), and plan's check rendered the edited items
    under those keys too (plan/view_checks.py reads the view's SELECT as apply sends it)."""
    shape, root = project
    _, file, before, after = SHAPES[shape]
    fresh_memos(monkeypatch)
    workflow.apply(load_project(root))
    edit(root / file, before, after)
    fresh_memos(monkeypatch)
    assert workflow.plan(load_project(root)).has_changes
    rendered = rendered_in_apply(root, monkeypatch)
    assert rendered["snowflake"] == []  # the canonical SQL came back with the objects
    assert rendered["duckdb"] == ["Create"]  # the skeleton: plan's check rendered the edited items already


def test_generated_sql_keeps_a_few_unused_groups_newest_first():
    used = {"duckdb": {"duckdb:new": {"a": "A"}}}
    stored = {"duckdb": {"duckdb:old1": {"b": "B"}, "duckdb:new": {"c": "C"}, "duckdb:old2": {"d": "D"}, "duckdb:old3": {"e": "E"}}, "canonical": {"snowflake": {"x": "X"}}, "gone": {"s": {"y": "Y"}}}
    merged = objects._with_unused_groups(used, stored)
    assert list(merged["duckdb"]) == ["duckdb:new", "duckdb:old1", "duckdb:old2"][: objects.KEPT_GROUPS]
    assert merged["duckdb"]["duckdb:new"] == {"a": "A"}  # a group this command used holds what it used
    assert merged["canonical"] == {"snowflake": {"x": "X"}}  # a memo not used at all is carried whole
    assert "gone" not in merged  # a memo this rulectl no longer has
    assert objects._with_unused_groups({}, {"duckdb": "damaged", "x": {"s": 5}}) == {}
    reordered = {"duckdb": dict(reversed(list(merged["duckdb"].items()))), "canonical": merged["canonical"]}
    assert reordered == merged and not objects._same_in_order(merged, reordered)  # written again: the order says which goes next
