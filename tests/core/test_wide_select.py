"""A wide SELECT generated item by item (core/wide_select.py) is the whole statement's text, in
Snowflake SQL and in DuckDB SQL with rulectl's fixes, on every view of several project shapes; and an
edit of one rule generates the one item it changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlglot import exp

from bench.edit import edit_one_rule, make_project as make_generated_project
from engine import workflow
from engine.backends import duckdb as duckdb_backend
from engine.backends.duckdb import DuckDBBackend, _render
from engine.compile import objects
from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.core import tree_memo, wide_select
from engine.core.tree_memo import TreeMemo
from tests.clinic import write_clinic
from tests.conftest import REPO, copy_example
from tests.retailer import write_retailer


def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "example", whole=True)


def renamed(tmp_path: Path) -> Path:
    return shutil.copytree(REPO / "tests" / "projects" / "renamed", tmp_path / "renamed")


def minimal(tmp_path: Path) -> Path:
    return shutil.copytree(REPO / "tests" / "projects" / "minimal", tmp_path / "minimal")


def retailer(tmp_path: Path) -> Path:
    write_retailer(tmp_path / "retailer")
    return tmp_path / "retailer"


def clinic(tmp_path: Path) -> Path:
    return write_clinic(tmp_path / "clinic")


def generated(tmp_path: Path) -> Path:
    root = tmp_path / "generated"
    root.mkdir()
    make_generated_project(root, 40, 8, 5)
    return root


@pytest.mark.parametrize("shape", [example, renamed, minimal, retailer, clinic, generated])
def test_every_view_generated_item_by_item_is_the_whole_statement(shape, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(wide_select, "MIN_ITEMS", 1)  # every view of the shape, however narrow
    monkeypatch.setattr(wide_select, "_split", {})
    loaded = load_project(shape(tmp_path))
    backend = DuckDBBackend.for_rendering(loaded, loaded.config.default_target)
    split = [(obj, wide) for obj in compile_project(loaded) if (wide := wide_select.split(obj.statement)) is not None]
    assert split, "no view of this shape was generated item by item"
    split += [(obj, obj.wide) for obj in compile_project(loaded) if obj.wide is not None]  # compiled item by item
    for obj, wide in split:
        whole_snowflake = obj.statement.sql(dialect="snowflake", comments=False)
        assert wide_select.assemble(wide, TreeMemo(), "s", objects._compact) == whole_snowflake, obj.qualified_name
        whole_duckdb = _render(obj.statement, backend.context, False)
        assert wide_select.assemble(wide, TreeMemo(), "d", lambda item: _render(item, backend.context, False)) == whole_duckdb, obj.qualified_name
    backend.close()


def test_what_a_generator_rewrites_at_the_select_is_generated_whole():
    items = ", ".join(f"m.c{i} AS c{i}" for i in range(40))
    for tail in ("", " WHERE m.c1 > 0", " QUALIFY ROW_NUMBER() OVER (ORDER BY m.c1) = 1"):
        statement = exp.maybe_parse(f"CREATE VIEW a.b AS SELECT {items} FROM a.m AS m{tail}", dialect="snowflake")
        assert (wide_select.split(statement) is None) == bool(tail)
    for item in ("(SELECT 1) AS s", "DISTINCT m.c1 AS d"):
        statement = exp.maybe_parse(f"CREATE VIEW a.b AS SELECT {item}, {items} FROM a.m AS m", dialect="snowflake")
        assert wide_select.split(statement) is None, item


def test_a_rule_edit_renders_only_its_items_in_the_next_command(tmp_path: Path, monkeypatch):
    root = generated(tmp_path)
    from bench.make_data import write as write_data
    from datetime import date

    write_data(300, root / "data" / "sample_inputs", seed=3, as_of=date(2026, 11, 24))
    loaded = load_project(root)
    workflow.load_sample_data(loaded, None)
    workflow.apply(loaded)  # renders the segments view, its items kept under .rulectl/cache/
    edited = edit_one_rule(root)
    # as a new process: empty memos, seeded from the file
    for name, module, attribute in (("canonical", objects, "_canonical"), ("duckdb", duckdb_backend, "_rendered")):
        memo = TreeMemo(size=8192, track_use=True)
        monkeypatch.setattr(module, attribute, memo)
        monkeypatch.setitem(tree_memo.KEPT_MEMOS, name, memo)
    rendered: list[str] = []
    real_render = duckdb_backend._render

    def counting(tree, context, pretty):
        rendered.append(tree.sql(dialect="snowflake"))
        return real_render(tree, context, pretty)

    monkeypatch.setattr(duckdb_backend, "_render", counting)
    from engine.compile import segments as segments_module

    built: list[str] = []
    real_columns = segments_module.segmentation_columns
    monkeypatch.setattr(segments_module, "segmentation_columns", lambda segmentation, labels=None: built.append(segmentation.name) or real_columns(segmentation, labels))
    plan, result = workflow.apply(load_project(root))
    assert built == [edited]  # the other segmentations' columns are neither built nor generated
    assert [s.qualified_name for s in result.applied] == ["ANALYTICS.CUSTOMER_SEGMENTS"]
    segments = [text for text in rendered if "CREATE VIEW" in text or f" AS {edited}" in text]
    # the statement around the items, and the edited segmentation's label: nothing else of the view
    assert len(segments) == 2 and any(text.endswith(f" AS {edited}") for text in segments), segments
    backend = DuckDBBackend(root / ".rulectl" / "local.duckdb", read_only=True)
    try:  # the deployed view gives what the view rendered whole gives, customer for customer
        [view] = [obj for obj in compile_project(load_project(root)) if obj.name == "CUSTOMER_SEGMENTS"]
        whole = real_render(view.statement.expression, backend.context, False)
        deployed = backend.query("SELECT * FROM ANALYTICS.CUSTOMER_SEGMENTS ORDER BY 1")
        assert len(deployed) == 300 and deployed == backend.query(f"{whole} ORDER BY 1")
    finally:
        backend.close()


def test_a_label_read_under_another_spelling_is_part_of_the_reading_columns_key(tmp_path: Path, monkeypatch):
    """`RISK` spelled with a Kelvin sign reads the label `risk` (sqlglot folds it so): an edit of
    `risk` must change the text of the columns that inline it, also from kept texts (a review found
    the key built from the rule's ASCII words, and the stale text deployed)."""
    root = minimal(tmp_path)
    rules = root / "rules" / "rules.yml"
    rules.write_text(rules.read_text().replace("segmentations:\n", "segmentations:\n  - name: risk\n    rules:\n      - {segment: High, when: weekly_visits >= 2}\n    default: Low\n  - name: plays\n    rules:\n      - {segment: Watch, when: \"RIS\\u212A = 'High'\"}\n    default: Fine\n", 1))
    monkeypatch.setattr(wide_select, "MIN_ITEMS", 1)
    memo = TreeMemo(size=8192, track_use=True)
    monkeypatch.setattr(objects, "_canonical", memo)  # kept across the two compiles, as across commands
    for threshold in ("2", "3"):
        rules.write_text(rules.read_text().replace("weekly_visits >= 2", f"weekly_visits >= {threshold}"))
        [view] = [obj for obj in compile_project(load_project(root)) if obj.name == "CUSTOMER_SEGMENTS"]
        assert f"m.weekly_visits >= {threshold}" in view.canonical_sql.split(" AS risk")[1]  # inlined into `plays`
        assert view.canonical_sql == objects._compact(view.statement)
