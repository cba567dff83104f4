"""The opt-in Snowflake semantic view (`semantic_view: true` on a snowflake target): its DDL checked
clause by clause against https://docs.snowflake.com/en/sql-reference/sql/create-semantic-view,
generated from any project's metrics and segmentations, planned and applied like every other
managed object (created once, then a no-op; owner tag in COMMENT; COPY GRANTS on replace)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from engine import workflow
from engine.backends.snowflake import SnowflakeBackend
from engine.compile.project import compile_project
from engine.config.loader import load_project
from engine.plan.model import Action
from tests.conftest import edit, run
from tests.doubles.recording import RecordingConnection

SHAPES = Path(__file__).resolve().parent.parent / "projects"


def opt_in(root: Path) -> Path:
    edit(root / "rulectl.yml", "    engine: snowflake\n", "    engine: snowflake\n    semantic_view: true\n")
    return root


def semantic_objects(root: Path, target: str = "prod"):
    return [obj for obj in compile_project(load_project(root), target) if obj.kind == "semantic_view"]


def test_only_when_the_target_asks_for_it(project: Path):
    assert semantic_objects(project) == []
    assert [obj.qualified_name for obj in semantic_objects(opt_in(project))] == ["ANALYTICS.CUSTOMER_SEMANTICS"]
    assert semantic_objects(project, "local") == []  # the local target never has one


def test_example_ddl_clause_by_clause(project: Path):
    (obj,) = semantic_objects(opt_in(project))
    sql = obj.sql()
    # clause order is fixed by the syntax: TABLES, FACTS, DIMENSIONS, METRICS
    positions = [sql.index(f" {word} (") for word in ("TABLES", "FACTS", "DIMENSIONS", "METRICS")]
    assert positions == sorted(positions)
    assert sql.startswith(
        "CREATE SEMANTIC VIEW ANALYTICS.CUSTOMER_SEMANTICS TABLES (customers AS ANALYTICS.CUSTOMER_SEGMENTS "
        "PRIMARY KEY (customer_id) COMMENT = 'One row per customer: the metrics and segments rulectl compiles') "
    )
    facts = _clause(sql, "FACTS", "DIMENSIONS")
    dimensions = _clause(sql, "DIMENSIONS", "METRICS")
    metrics = _clause(sql, "METRICS", None)
    # numeric metrics are facts over the unqualified physical column (`t1.fact AS col`: `t1.fact` inside an
    # expression would name the item itself), commented with the analyst's description and definition
    assert "customers.total_arr AS total_arr COMMENT = 'Annual recurring revenue across active modules (SUM(arr) over products where status = \\'active\\')'" in facts
    assert "customers.adoption_rate AS adoption_rate" in facts
    # text metrics, the spine's columns and segmentations are dimensions; a label list becomes text
    assert "customers.modules_owned AS modules_owned" in dimensions and "modules_owned" not in facts
    assert "customers.customer_name AS customer_name COMMENT = 'The customer\\'s name'" in dimensions
    assert "customers.account_tier AS account_tier COMMENT = 'Segment (first matching rule): Strategic when total_arr >= 150000 AND module_count >= 3;" in dimensions
    assert "customers.opportunities AS ARRAY_TO_STRING(opportunities, ', ')" in dimensions
    # metrics aggregate over customers
    assert metrics.startswith("customers.customer_count AS COUNT(customer_id) COMMENT = 'Customers', ")
    assert "customers.total_arr_total AS SUM(total_arr)" in metrics and "customers.total_arr_average AS AVG(total_arr)" in metrics
    # every name is unique in the view (facts, dimensions and metrics share one namespace)
    names = re.findall(r"customers\.(\w+) AS ", facts + ", " + dimensions + ", " + metrics)
    assert len(names) == len(set(names))


def test_item_expressions_read_physical_columns_unqualified(project: Path):
    """`customers.x` inside an expression names the semantic item x, so an item named like its column must
    read the column unqualified or it defines itself; no expression may hold a qualified column."""
    (obj,) = semantic_objects(opt_in(project))
    sql = obj.sql()
    items = _clause(sql, "FACTS", "DIMENSIONS") + ", " + _clause(sql, "DIMENSIONS", "METRICS") + ", " + _clause(sql, "METRICS", None)
    expressions = re.findall(r"customers\.\w+ AS (.*?)(?: COMMENT = '(?:[^'\\]|\\.)*')?(?:, (?=customers\.)|$)", items)
    assert len(expressions) == len(re.findall(r"(?:^|, )customers\.\w+ AS ", items)) > 10
    assert [e for e in expressions if "customers." in e] == []
    assert "customers.total_arr AS total_arr COMMENT" in items and "customers.total_arr_total AS SUM(total_arr)" in items


def _clause(sql: str, word: str, following: str | None) -> str:
    start = sql.index(f" {word} (") + len(word) + 3
    end = sql.index(f" {following} (") - 1 if following else len(sql) - 1
    return sql[start:end]


def test_minimal_project_exact_ddl(tmp_path: Path):
    root = tmp_path / "minimal"
    shutil.copytree(SHAPES / "minimal", root, ignore=shutil.ignore_patterns(".rulectl"))
    (root / "rulectl.yml").write_text((root / "rulectl.yml").read_text().replace(
        "  local: {engine: duckdb}\n", "  local: {engine: duckdb}\n  prod: {engine: snowflake, database: CLUB_DB, semantic_view: true}\n"
    ))
    (obj,) = semantic_objects(root)
    assert obj.sql() == (
        "CREATE SEMANTIC VIEW ANALYTICS.CUSTOMER_SEMANTICS"
        " TABLES (customers AS ANALYTICS.CUSTOMER_SEGMENTS PRIMARY KEY (member_id) COMMENT = 'One row per customer: the metrics and segments rulectl compiles')"
        " FACTS (customers.weekly_visits AS weekly_visits COMMENT = 'visits / 52.0 over members')"
        " DIMENSIONS (customers.member_id AS member_id COMMENT = 'The customer key',"
        " customers.visits AS visits,"
        " customers.activity AS activity COMMENT = 'Segment (first matching rule): Regular when weekly_visits >= 1; otherwise Occasional')"
        " METRICS (customers.customer_count AS COUNT(member_id) COMMENT = 'Customers',"
        " customers.weekly_visits_total AS SUM(weekly_visits) COMMENT = 'Total of weekly_visits over customers',"
        " customers.weekly_visits_average AS AVG(weekly_visits) COMMENT = 'Average of weekly_visits over customers')"
    )


def test_renamed_project_names_its_own_columns(tmp_path: Path):
    root = tmp_path / "renamed"
    shutil.copytree(SHAPES / "renamed", root, ignore=shutil.ignore_patterns(".rulectl"))
    text = (root / "rulectl.yml").read_text()
    assert "engine: snowflake" in text
    (obj,) = semantic_objects(opt_in(root), _snowflake_target(root))
    sql = obj.sql()
    assert "PRIMARY KEY (account_id)" in sql and "customers.total_contract_value_total AS SUM(total_contract_value)" in sql
    assert "customers.signals AS ARRAY_TO_STRING(signals, ', ')" in sql
    assert "customer_id" not in sql and "total_arr" not in sql  # nothing of the example's names


def _snowflake_target(root: Path) -> str:
    loaded = load_project(root)
    return next(name for name, target in loaded.config.targets.items() if target.engine == "snowflake")


@pytest.mark.snowflake
def test_planned_applied_then_up_to_date(project: Path, monkeypatch):
    opt_in(project)
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(load_project(project).config.sources)
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, read_only=False: cls(connection, "CUSTOMER_INTEL", semantic_views=True)))

    first = workflow.plan(load_project(project), "prod")
    step = next(s for s in first.steps if s.kind == "semantic_view")
    assert (step.action, step.qualified_name) == (Action.CREATE, "ANALYTICS.CUSTOMER_SEMANTICS")
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0

    created = [s for s in connection.statements if s.startswith("CREATE OR REPLACE SEMANTIC VIEW")]
    assert len(created) == 1
    assert created[0].startswith("CREATE OR REPLACE SEMANTIC VIEW ANALYTICS.CUSTOMER_SEMANTICS TABLES (")
    assert re.search(r" COMMENT = 'rulectl[^']*' COPY GRANTS$", created[0])
    # after the segments view it reads
    segments = next(i for i, s in enumerate(connection.statements) if "VIEW ANALYTICS.CUSTOMER_SEGMENTS" in s and s.startswith("CREATE"))
    assert segments < connection.statements.index(created[0])

    again = workflow.plan(load_project(project), "prod")
    assert "SHOW SEMANTIC VIEWS IN SCHEMA CUSTOMER_INTEL.ANALYTICS" in connection.statements  # introspected once the schema exists
    assert next(s for s in again.steps if s.kind == "semantic_view").action is Action.NOOP

    # an edited metric description replaces it (grants kept by COPY GRANTS)
    edit(project / "rules" / "metrics.yml", "Annual recurring revenue across active modules", "ARR of active modules")
    changed = workflow.plan(load_project(project), "prod")
    assert next(s for s in changed.steps if s.kind == "semantic_view").action is Action.REPLACE
