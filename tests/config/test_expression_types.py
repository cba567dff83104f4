"""Typed expressions: the pass itself (number, text, date, boolean; risky divisions), and the
warnings validate and plan print, on the example and on a project with other names and grains."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.expression_types import ExpressionTypeError, expression_type, require_condition, risky_divisions
from engine.core.expressions import parse_expression
from tests.conftest import edit, run

ENV = {"amount": "number", "plan": "text", "ends_on": "date", "churned": "boolean", "seats": "number"}


@pytest.mark.parametrize(
    "text, kind",
    [
        ("SUM(amount)", "number"),
        ("COUNT(DISTINCT plan)", "number"),
        ("LISTAGG(DISTINCT plan, ', ') WITHIN GROUP (ORDER BY plan)", "text"),
        ("DATEDIFF('day', CURRENT_DATE, MIN(ends_on))", "number"),
        ("MIN(ends_on)", "date"),
        ("ends_on - 7", "date"),
        ("CURRENT_DATE - ends_on", "number"),
        ("IFF(plan = 'pro', amount, 0)", "number"),
        ("churned AND amount > 0", "boolean"),
        ("ends_on >= '2026-01-01'", "boolean"),
        ("COALESCE(amount, 0) / 4.0", "number"),
        ("PARSE_JSON(amount)", "unknown"),  # a function the annotator cannot type (unknown functions are refused when parsed)
        ("CASE UPPER(amount::TEXT) WHEN 'EUR' THEN 1 ELSE 2 END", "number"),
    ],
)
def test_types(text: str, kind: str):
    assert expression_type(parse_expression(text).tree, ENV) == kind


@pytest.mark.parametrize(
    "text, message",
    [
        ("amount >= '10k'", "`amount >= '10k'` compares `amount` (a number) with the text '10k'; write the number without quotes: 10000"),
        ("amount BETWEEN 0 AND '9'", "write the number without quotes: 9"),
        ("plan IN ('pro', 2)", "`plan IN ('pro', 2)` compares `plan` (text) with the number 2; write text values in single quotes: '2'"),
        ("ends_on < 30", "count days instead, e.g. DATEDIFF('day', CURRENT_DATE, ends_on) <= 30"),
        ("ends_on > 'next week'", "which is not a date; write dates as 'YYYY-MM-DD'"),
        ("plan OR churned", "`plan` (text) is not a condition"),
        ("NOT amount", "`amount` (a number) is not a condition"),
        ("amount * ends_on", "does arithmetic with `ends_on` (a date)"),
    ],
)
def test_mistakes_name_the_operands_and_the_fix(text: str, message: str):
    with pytest.raises(ExpressionTypeError) as error:
        require_condition(parse_expression(text).tree, ENV)
    assert message in str(error.value)


def test_unknown_names_are_never_an_error():
    require_condition(parse_expression("nobody_knows >= '10k'").tree, ENV)


@pytest.mark.parametrize(
    "text, divisors",
    [
        ("SUM(amount) / SUM(seats)", ["SUM(seats)"]),
        ("amount / seats + amount / 4", ["seats"]),
        ("amount / NULLIF(seats, 0)", []),
        ("DIV0(amount, seats)", []),
        ("DIV0NULL(amount, seats)", []),
        ("amount / 0", ["0"]),
        ("amount / (2)", []),
    ],
)
def test_risky_divisions(text: str, divisors: list[str]):
    assert [d.divisor for d in risky_divisions(parse_expression(text).tree)] == divisors


DIV0_WARNING = (
    "warning: rules/metrics.yml:{line}: `expr`: the divisor `SUM(seats)` can be zero, and Snowflake then fails the whole view "
    "(\"Division by zero\"); write DIV0(SUM(active_users), SUM(seats)) for 0, DIV0NULL(…) for 0 also when it is NULL, "
    "or SUM(active_users) / NULLIF(SUM(seats), 0) for NULL"
)


def test_a_division_that_can_meet_zero_is_a_warning_in_validate_and_plan(project: Path):
    edit(project / "rules" / "metrics.yml", "SUM(active_users) / NULLIF(SUM(seats), 0)", "SUM(active_users) / SUM(seats)")
    line = next(i + 1 for i, text in enumerate((project / "rules" / "metrics.yml").read_text().splitlines()) if "SUM(active_users) / SUM(seats)" in text)
    result = run("validate", project=project)
    assert result.exit_code == 0, result.output
    assert DIV0_WARNING.format(line=line) in result.output
    assert run("load", project=project).exit_code == 0
    planned = run("plan", project=project)
    assert DIV0_WARNING.format(line=line) in planned.output


def test_the_example_has_no_warnings(project: Path):
    result = run("validate", project=project)
    assert result.exit_code == 0 and "warning" not in result.output


OTHER_SHAPE = """name: renamed
default_target: local
targets: {local: {engine: duckdb, path: .rulectl/x.duckdb}}
sources:
  accounts:
    table: RAW.ACCOUNTS
    key: acct
    columns: {acct: varchar, region: varchar, opened: date}
  invoices:
    table: RAW.INVOICES
    grain: [acct, invoice_no]
    columns: {acct: varchar, invoice_no: integer, paid: "number(10,2)", due: "number(10,2)", paid_on: date}
"""


def test_another_project_shape_is_typed_from_its_own_declarations(tmp_path: Path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rulectl.yml").write_text(OTHER_SHAPE)
    (tmp_path / "rules" / "metrics.yml").write_text(
        "metrics:\n  - name: paid_share\n    source: invoices\n    expr: SUM(paid) / SUM(due)\n"
        "  - name: last_paid\n    source: invoices\n    expr: MAX(paid_on)\n"
    )
    (tmp_path / "rules" / "segments.yml").write_text("segmentations:\n  - name: health\n    rules:\n      - segment: Late\n        when: last_paid < 30\n")
    result = run("validate", project=tmp_path)
    assert result.exit_code == 1
    assert "rules/segments.yml:5: `when`: `last_paid < 30` compares `last_paid` (a date) with the number 30" in result.output
    (tmp_path / "rules" / "segments.yml").write_text("segmentations:\n  - name: health\n    rules:\n      - segment: Late\n        when: DATEDIFF('day', last_paid, CURRENT_DATE) > 30 AND region = 'EU'\n")
    result = run("validate", project=tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning: rules/metrics.yml:4: `expr`: the divisor `SUM(due)` can be zero" in result.output
