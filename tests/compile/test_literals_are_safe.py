"""Segment labels, actions and descriptions with quotes or SQL compile to safely quoted literals."""

from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp

from engine.compile.project import compile_project
from engine.config.loader import load_project
from tests.test_flow_helpers import deploy_views

NASTY = [
    "O'Brien's \"VIP\"",
    "x'); DROP TABLE GOLD.CUSTOMER; --",
    "back\\slash \\' still one literal",
    "multi\nline",
    "$$ dollar $$",
]


def write_segments(project: Path) -> None:
    import yaml

    doc = {
        "segmentations": [
            {
                "name": "tier",
                "description": NASTY[1],
                "rules": [
                    {"segment": label, "when": f"module_count >= {4 - i}", "action": "do " + label}
                    for i, label in enumerate(NASTY)
                ],
                "default": NASTY[0],
            }
        ]
    }
    (project / "rules" / "segments.yml").write_text(yaml.safe_dump(doc))
    (project / "prompts" / "account_summary.yml").unlink()


def test_compiled_view_parses_to_exactly_one_create_view_with_the_exact_labels(project: Path):
    write_segments(project)
    views = [o for o in compile_project(load_project(project)) if o.name == "CUSTOMER_SEGMENTS"]
    statements = sqlglot.parse(views[0].sql(), read="snowflake")
    assert len(statements) == 1 and isinstance(statements[0], exp.Create) and statements[0].kind == "VIEW"
    literals = {lit.this for lit in statements[0].find_all(exp.Literal) if lit.is_string}
    assert set(NASTY) <= literals
    assert {"do " + label for label in NASTY} <= literals
    assert not list(statements[0].find_all(exp.Drop))


def test_labels_come_back_unchanged_from_duckdb(project: Path):
    write_segments(project)
    backend = deploy_views(project)
    labels = {row[0] for row in backend.query("SELECT DISTINCT tier FROM ANALYTICS.CUSTOMER_SEGMENTS")}
    assert labels <= set(NASTY) and len(labels) >= 3
    assert backend.query("SELECT COUNT(*) FROM GOLD.CUSTOMER")[0][0] >= 150  # nothing was dropped
