"""Segment impact: the moves, sizes and warnings plan reports equal what apply then does, on the
example and on a large generated project, and the impact query reads only what changed."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from bench.edit import edit_one_rule, make_project as make_generated_project
from bench.make_data import write as write_data
from engine import workflow
from engine.backends.registry import open_backend
from engine.config.loader import load_project
from engine.config.project import LoadedProject, spine_name
from engine.core.expressions import parse_expression
from engine.plan.impact import segment_impact
from engine.plan.model import Plan
from engine.plan.planner import build_plan
from tests.conftest import edit, run


def labels(loaded: LoadedProject) -> dict[str, dict[str, object]]:
    """Every customer's labels as the deployed segments view gives them, per segmentation."""
    key = loaded.config.sources[spine_name(loaded)].key.lower()
    names = [s.item.name.lower() for s in loaded.segmentations]
    backend = open_backend(loaded)
    try:
        rows = backend.query(f"SELECT {key}, {', '.join(names)} FROM {loaded.config.schemas.analytics}.CUSTOMER_SEGMENTS")
    finally:
        backend.close()
    return {name: {row[0]: row[1 + i] for row in rows} for i, name in enumerate(names)}


def observed_moves(loaded: LoadedProject, before: dict, after: dict) -> Counter:
    """(segmentation, kind, from, to) → customers, from the labels before and after apply."""
    moves: Counter = Counter()
    for located in loaded.segmentations:
        name = located.item.name.lower()
        for customer, new in after[name].items():
            old = before[name].get(customer)
            if located.item.match == "first":
                if old != new:
                    moves[(located.item.name, "move", old, new)] += 1
                continue
            old_set, new_set = set(old or ()), set(new or ())
            for label in new_set - old_set:
                moves[(located.item.name, "gain", None, label)] += 1
            for label in old_set - new_set:
                moves[(located.item.name, "loss", label, None)] += 1
    return moves


def planned_moves(plan: Plan) -> Counter:
    return Counter({(m.segmentation, m.kind, m.from_label, m.to_label): m.customers for m in plan.segment_moves})


def check_plan_matches_apply(root: Path) -> Plan:
    """Plan the edit already made under `root`, apply it, and compare what plan said with what happened."""
    loaded = load_project(root)
    before = labels(loaded)
    plan = workflow.plan(loaded)
    workflow.apply(loaded)
    after = labels(loaded)
    assert planned_moves(plan) == observed_moves(loaded, before, after)
    for size in plan.segment_sizes:
        name = size.segmentation.lower()
        match = next(s.item.match for s in loaded.segmentations if s.item.name == size.segmentation)
        held = (lambda value: size.segment in (value or ())) if match == "all" else (lambda value: value == size.segment)
        assert (size.before, size.after) == (sum(map(held, before[name].values())), sum(map(held, after[name].values()))), size
    return plan


def compared(root: Path) -> tuple[str, ...]:
    loaded = load_project(root)
    backend = open_backend(loaded)
    try:
        plan, desired, deployed = build_plan(loaded, backend, loaded.config.default_target)
        before = len(backend.statements)
        result = segment_impact(loaded, backend, deployed, plan.steps, desired).compared
        sent = backend.statements[before:]
    finally:
        backend.close()
    assert len(sent) == (1 if result else 0)  # one query, however many segmentations
    return result


def applied(root: Path) -> Path:
    assert run("load", project=root).exit_code == 0
    assert run("apply", "--yes", project=root).exit_code == 0
    return root


def test_threshold_edit_compares_only_its_segmentation_over_the_deployed_view(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "segments.yml", "total_arr >= 150000 AND module_count >= 3", "total_arr >= 100000 AND module_count >= 3")
    loaded = load_project(project)
    backend = open_backend(loaded)
    try:
        plan, desired, deployed = build_plan(loaded, backend, loaded.config.default_target)
        impact_sql = next(s for s in backend.statements if "GROUPING SETS" in s)
    finally:
        backend.close()
    assert "CUSTOMER_METRICS" not in impact_sql and "Renewal due" not in impact_sql  # one scan, one segmentation
    # neither view is read: the old labels come from the deployed text, and only the metrics they
    # and the new rules read are computed (not modules_owned or ticket_text, two LISTAGGs)
    assert "CUSTOMER_SEGMENTS" not in impact_sql and "LISTAGG" not in impact_sql.upper()
    assert compared(project) == ("account_tier",)
    plan = check_plan_matches_apply(project)
    assert {m.segmentation for m in plan.segment_moves} == {"account_tier"} and plan.segment_moves
    sizes = {s.segment: (s.before, s.after) for s in plan.segment_sizes}
    moved = sum(m.customers for m in plan.segment_moves)
    assert sizes["Strategic"][1] == sizes["Strategic"][0] + moved


def test_match_all_reports_gains_and_losses_per_label(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "segments.yml", "when: days_to_renewal BETWEEN 0 AND 90", "when: days_to_renewal BETWEEN 0 AND 180")
    edit(project / "rules" / "segments.yml", "when: seat_utilization < 0.5", "when: seat_utilization < 0.3")
    assert "CUSTOMER_SEGMENTS" not in _impact_statement(project)  # match: all's old labels read from the deployed text too
    plan = check_plan_matches_apply(project)
    kinds = {(m.kind, m.from_label or m.to_label) for m in plan.segment_moves}
    assert kinds == {("gain", "Renewal due"), ("loss", "Low adoption")}
    shown = _rendered(plan)
    gained = next(m for m in plan.segment_moves if m.kind == "gain")
    assert f"opportunities: {gained.customers} customers gain Renewal due" in shown and "(none) →" not in shown


def test_metric_change_shares_one_planned_metrics_cte_and_matches_apply(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "metrics.yml", "expr: SUM(arr)", "expr: SUM(arr) * 1.5")
    assert set(compared(project)) == {"account_tier", "opportunities"}  # both read total_arr
    loaded = load_project(project)
    backend = open_backend(loaded)
    try:
        build_plan(loaded, backend, loaded.config.default_target)
        impact_sql = next(s for s in backend.statements if "GROUPING SETS" in s)
    finally:
        backend.close()
    assert impact_sql.count("rulectl_new_metrics AS (") == 1
    check_plan_matches_apply(project)


def test_metric_no_segmentation_reads_compares_nothing(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "metrics.yml", "expr: DATEDIFF('year', customer_since, CURRENT_DATE)", "expr: DATEDIFF('month', customer_since, CURRENT_DATE) / 12")
    assert compared(project) == ()
    assert not workflow.plan(load_project(project)).segment_moves


def test_rules_that_match_nobody_are_warnings(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "segments.yml", "when: module_count >= 2", "when: module_count >= 2 AND module_count > 99")
    edit(project / "rules" / "segments.yml", "when: days_to_renewal <= 120 AND adoption_rate < 0.5", "when: total_arr >= 150000 AND module_count >= 3 AND adoption_rate > 0")
    plan = workflow.plan(load_project(project))
    assert any("rule 3 (Growth" in w and "matches no customer" in w for w in plan.segment_warnings), plan.segment_warnings
    assert any("rule 2 (At Risk" in w and "earlier rules take every one" in w for w in plan.segment_warnings), plan.segment_warnings
    assert {s.segment: s.after for s in plan.segment_sizes}["Growth"] == 0
    shown = run("plan", project=project).output
    assert "warning: account_tier: rule 3 (Growth" in shown and "Growth: " in shown and "→ 0" in shown


def test_plan_json_keeps_sizes_warnings_and_move_kinds(applied_project: Path):
    project = applied_project  # the core example, loaded and applied
    edit(project / "rules" / "segments.yml", "when: seat_utilization < 0.5", "when: seat_utilization < -1")
    plan = workflow.plan(load_project(project))
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.segment_sizes and again.segment_warnings
    assert {m.kind for m in again.segment_moves} == {"loss"}


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """A generated project: 60 metrics, 12 segmentations of 5 rules, 800 customers."""
    root = tmp_path / "generated"
    root.mkdir()
    make_generated_project(root, 60, 12, 5)
    write_data(800, root / "data" / "sample_inputs", seed=11, as_of=date(2026, 11, 24))
    return applied(root)


def test_generated_project_rule_edit(generated: Path):
    edited = edit_one_rule(generated)
    changed = compared(generated)
    assert changed == (edited,)
    plan = check_plan_matches_apply(generated)
    assert plan.segment_moves and {m.segmentation for m in plan.segment_moves} == set(changed)


def test_generated_project_metric_edit(generated: Path):
    edit(generated / "rules" / "metrics.yml", "expr: SUM(arr * 1)", "expr: SUM(arr * 3)")
    changed = compared(generated)
    loaded = load_project(generated)
    # m0 and the derived metrics are the only columns whose values change; m0 feeds no derived metric
    readers = {s.item.name for s in loaded.segmentations if any("m0" in parse_expression(r.when).column_names for r in s.item.rules)}
    assert readers and set(changed) == readers
    plan = check_plan_matches_apply(generated)
    assert plan.segment_moves


def _rendered(plan: Plan) -> str:
    from rich.console import Console

    from engine.plan.plan_text import render_plan

    console = Console(record=True, width=200)
    render_plan(plan, console)
    return console.export_text()


@pytest.mark.parametrize(
    "shape, edits",
    [
        ("renamed", [("total_contract_value >= 30000", "total_contract_value >= 20000"), ("open_tickets >= 2", "open_tickets >= 1")]),
        ("minimal", [("weekly_visits >= 1", "weekly_visits >= 2")]),
    ],
)
def test_other_project_shapes_report_what_apply_does(tmp_path: Path, shape: str, edits: list[tuple[str, str]]):
    from tests.test_project_shapes import copy_shape

    root = applied(copy_shape(shape, tmp_path))
    rules = next(path for path in (root / "rules").glob("*.yml") if edits[0][0] in path.read_text())
    for old, new in edits:
        edit(rules, old, new)
    plan = check_plan_matches_apply(root)
    assert plan.segment_moves and plan.segment_sizes


def _impact_statement(project: Path) -> str:
    loaded = load_project(project)
    backend = open_backend(loaded)
    try:
        build_plan(loaded, backend, loaded.config.default_target)
        return next(s for s in backend.statements if "GROUPING SETS" in s)
    finally:
        backend.close()


def test_a_deployed_text_of_another_form_is_scanned_and_gives_what_apply_does(applied_project: Path):
    """The deployed segments view's text as another rulectl version may have kept it (pretty, here):
    its labels cannot be read from it, so the impact scans the deployed view, with the same answer."""
    import duckdb
    import sqlglot

    project = applied_project  # the core example, loaded and applied
    database = project / ".rulectl" / "local.duckdb"
    connection = duckdb.connect(str(database))
    try:
        (text,) = connection.execute("SELECT applied_sql FROM _RULECTL.OBJECTS WHERE qualified_name = 'ANALYTICS.CUSTOMER_SEGMENTS'").fetchone()
        pretty = sqlglot.parse_one(text, read="snowflake").sql(dialect="snowflake", pretty=True)
        connection.execute("UPDATE _RULECTL.OBJECTS SET applied_sql = ? WHERE qualified_name = 'ANALYTICS.CUSTOMER_SEGMENTS'", [pretty])
    finally:
        connection.close()
    edit(project / "rules" / "segments.yml", "total_arr >= 150000 AND module_count >= 3", "total_arr >= 100000 AND module_count >= 3")
    assert "CUSTOMER_SEGMENTS" in _impact_statement(project)
    plan = check_plan_matches_apply(project)
    assert {m.segmentation for m in plan.segment_moves} == {"account_tier"}


def test_a_source_table_change_compares_the_segmentations_reading_it(applied_project: Path):
    """Same metric SQL over another table: the values change, so the segmentations reading those
    metrics are compared (the lineage holds each CTE's FROM)."""
    import duckdb

    project = applied_project  # the core example, loaded and applied
    connection = duckdb.connect(str(project / ".rulectl" / "local.duckdb"))
    try:
        connection.execute("CREATE TABLE GOLD.PRODUCTS_V2 AS SELECT * FROM GOLD.PRODUCTS")
        connection.execute("UPDATE GOLD.PRODUCTS_V2 SET arr = arr * 3")
    finally:
        connection.close()
    edit(project / "rulectl.yml", "table: GOLD.PRODUCTS", "table: GOLD.PRODUCTS_V2")
    assert "account_tier" in compared(project)
    plan = check_plan_matches_apply(project)
    assert any(m.segmentation == "account_tier" for m in plan.segment_moves)


@pytest.mark.parametrize("only", [{"adoption_rate"}, {"days_to_renewal", "tenure_years"}, {"modules_owned", "seat_utilization"}])
def test_the_metrics_query_narrowed_to_a_few_gives_the_view_values(applied_project: Path, only: set[str]):
    """`metrics_query(only=…)` (what the impact reads): those metrics and the ones they are computed
    from (adoption_rate reads module_count), each customer's value as the deployed view has it."""
    from engine.compile.metrics import metrics_query

    loaded = load_project(applied_project)  # the core example, loaded and applied
    backend = open_backend(loaded)
    try:
        narrowed = metrics_query(loaded, only=only)
        names = [item.alias_or_name for item in narrowed.expressions]
        metric_names = {m.item.name.lower() for m in loaded.metrics}
        expected = only | ({"module_count"} if "adoption_rate" in only else set())
        assert set(names) & metric_names == expected
        columns = ", ".join(names)
        mine = backend.query(f"SELECT {columns} FROM ({backend.to_sql(narrowed)}) ORDER BY customer_id")
        deployed = backend.query(f"SELECT {columns} FROM ANALYTICS.CUSTOMER_METRICS ORDER BY customer_id")
    finally:
        backend.close()
    assert mine == deployed and len(mine) > 10


def test_a_label_read_by_another_segmentation_and_a_match_all_edit_compare_together(applied_project: Path):
    """Three segmentations compared in one query without the deployed view: `plays` reads
    account_tier's label, account_tier and opportunities (match: all) are edited."""
    project = applied_project  # the core example, loaded and applied
    segments = project / "rules" / "segments.yml"
    segments.write_text(segments.read_text() + (
        "  - name: plays\n    match: first\n    rules:\n"
        "      - segment: Expand\n        when: account_tier = 'Strategic' AND total_arr >= 60000\n"
        "      - segment: Save\n        when: account_tier = 'At Risk'\n"
        "    default: Keep\n"
    ))
    assert run("apply", "--yes", project=project).exit_code == 0
    edit(segments, "total_arr >= 150000 AND module_count >= 3", "total_arr >= 100000 AND module_count >= 3")
    edit(segments, "when: seat_utilization < 0.5", "when: seat_utilization < 0.3")
    assert set(compared(project)) == {"account_tier", "opportunities", "plays"}
    assert "CUSTOMER_SEGMENTS" not in _impact_statement(project)
    plan = check_plan_matches_apply(project)
    assert {m.segmentation for m in plan.segment_moves} == {"account_tier", "opportunities", "plays"}


def test_the_deployed_columns_are_its_top_level_names_not_words_in_its_strings():
    from engine.plan.impact import DeployedSelect

    compact = DeployedSelect(
        "CREATE VIEW A.SEGMENTS AS SELECT m.k, CASE WHEN m.x > 1 THEN 'Billed as annual, upfront' ELSE 'x AS y' END AS tier, "
        "ARRAY_CONSTRUCT_COMPACT(CASE WHEN m.x > 2 THEN 'a' END) AS plays FROM A.METRICS AS m"
    )
    assert compact.columns == {"tier", "plays"}
    assert compact.defines("tier") and compact.defines("plays") and not compact.defines("annual") and not compact.defines("y")
    pretty = DeployedSelect("CREATE VIEW A.SEGMENTS AS\nSELECT\n  m.k,\n  CASE WHEN m.x > 1 THEN 'a' END AS tier\nFROM A.METRICS AS m")
    assert pretty.columns == {"tier"}
