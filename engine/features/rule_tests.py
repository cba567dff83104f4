"""`rulectl test`: the project's rule tests (tests/*.yml) on an in-memory DuckDB.

Each test gets a fresh in-memory database holding only its `given` rows, and reads the metrics and
segments through the same compiled SQL the views use (compile/metrics + compile/segments, rendered by
the DuckDB backend), so a passing test says what the deployed views will say for those customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from engine.backends.duckdb import DuckDBBackend
from engine.backends.registry import date_columns, engine_errors
from engine.compile.segments import PLANNED_SEGMENTS, with_planned_views
from engine.config.models import RuleTest, Segmentation
from engine.config.project import Located, LoadedProject, input_view_columns, spine_name
from engine.core.expressions import is_utc_now, is_utc_today, parse_expression
from engine.features.sample_data import source_table_statements


@dataclass(frozen=True)
class Mismatch:
    """One expected value that the compiled SQL did not produce."""

    customer: str
    column: str
    expected: Any
    actual: Any
    decided_by: str = ""  # the rule (and the values it read) behind a segment, or a metric's definition


@dataclass(frozen=True)
class RuleTestResult:
    name: str
    file: str
    line: int
    mismatches: list[Mismatch] = field(default_factory=list)
    error: str | None = None  # the engine refused the test's rows (e.g. text in an integer column)

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.error is None


def run_rule_tests(loaded: LoadedProject, only: str | None = None) -> list[RuleTestResult]:
    """Run every rule test (or those whose name contains `only`), each in its own database."""
    results = []
    for located in loaded.rule_tests:
        if only and only.lower() not in located.item.name.lower():
            continue
        results.append(run_rule_test(loaded, located))
    return results


def run_rule_test(loaded: LoadedProject, located: Located[RuleTest]) -> RuleTestResult:
    test = located.item
    file, line = located.at()
    backend = DuckDBBackend(":memory:", date_columns(loaded))
    stage = "the test's rows could not be loaded"
    try:
        _seed(loaded, backend, test)
        stage = "the metrics and segments could not be computed from the test's rows"  # the rows loaded
        rows = _computed_rows(loaded, backend, _today(located))
    except engine_errors() as error:
        return RuleTestResult(test.name, file, line, error=f"{stage}: {str(error).splitlines()[0]}")
    finally:
        backend.close()
    key = loaded.config.sources[spine_name(loaded)].key or ""
    mismatches: list[Mismatch] = []
    for expected in test.expect:
        customer = str(expected.get(key))
        actual = rows.get(customer)
        if actual is None:
            mismatches.append(Mismatch(customer, key, customer, None, "no such customer in the given rows of the key source"))
            continue
        for column, value in expected.items():
            if not same_value(value, actual[column.lower()]):
                mismatches.append(Mismatch(customer, column, value, plain(actual[column.lower()]), decided_by(loaded, column.lower(), actual)))
    return RuleTestResult(test.name, file, line, mismatches)


def _today(located: Located[RuleTest]) -> date | None:
    """The test's `today:`, else the file's."""
    if located.item.today is not None:
        return located.item.today
    file_today = located.doc.data.get("today") if isinstance(located.doc.data, dict) else None
    return file_today if isinstance(file_today, date) else None


def _seed(loaded: LoadedProject, backend: DuckDBBackend, test: RuleTest) -> None:
    """Every source table, holding the test's rows for it (none for sources it does not mention)."""
    for name, source in loaded.config.sources.items():
        for statement in source_table_statements(source):
            backend.execute(statement)
        rows = test.given.get(name, [])
        if not rows:
            continue
        columns = {c.lower(): t for c, t in source.columns.items()}
        values = [
            exp.Tuple(expressions=[_typed_literal(_lookup(row, column), type_text) for column, type_text in columns.items()])
            for row in rows
        ]
        backend.execute(exp.insert(exp.values(values), exp.to_table(source.table, dialect="snowflake"), columns=list(columns)))


def _lookup(row: dict[str, Any], column: str) -> Any:
    return next((value for name, value in row.items() if name.lower() == column), None)


def _typed_literal(value: Any, type_text: str) -> exp.Expression:
    if value is None:
        return exp.null()
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    return exp.cast(exp.Literal.string(text), exp.DataType.build(type_text, dialect="snowflake"))


def fixed_today(tree: exp.Expression, today: date) -> exp.Expression:
    """CURRENT_DATE (and CURRENT_TIMESTAMP) as the test's `today:`, so date metrics are stable."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CurrentDate) or is_utc_today(node):
            return exp.cast(exp.Literal.string(today.isoformat()), exp.DataType.Type.DATE)
        if isinstance(node, exp.CurrentTimestamp) or is_utc_now(node):
            return exp.cast(exp.Literal.string(f"{today.isoformat()} 00:00:00"), exp.DataType.Type.TIMESTAMP)
        return node

    return tree.transform(fix)


def _computed_rows(loaded: LoadedProject, backend: DuckDBBackend, today: date | None) -> dict[str, dict[str, Any]]:
    """customer key → every column of the segments view, computed by the compiled SQL."""
    columns = input_view_columns(loaded, "customer_segments")
    query: exp.Expression = with_planned_views(exp.select(*(exp.column(c) for c in columns)).from_(exp.to_table(PLANNED_SEGMENTS)), loaded)
    if today is not None:
        query = fixed_today(query, today)
    key_index = columns.index((loaded.config.sources[spine_name(loaded)].key or "").lower())
    return {str(row[key_index]): dict(zip(columns, row)) for row in backend.query(query)}


def same_value(expected: Any, actual: Any) -> bool:
    """Equality as an analyst means it: numbers to the precision written, label lists as sets."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, list):
        return sorted(map(str, expected)) == sorted(map(str, actual or []))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float, Decimal)):
        return _close(expected, float(actual))
    return str(expected) == str(actual)  # text, and dates in ISO form on both sides


def _close(expected: int | float, actual: float) -> bool:
    """True when `actual` rounds to `expected` at the number of decimals the analyst wrote."""
    decimals = len(repr(float(expected)).split(".")[1].rstrip("0")) if isinstance(expected, float) else 0
    return math.isclose(round(actual, decimals), expected, rel_tol=1e-12, abs_tol=1e-12)


def decided_by(loaded: LoadedProject, column: str, row: dict[str, Any]) -> str:
    """Why a customer got the value it got: the deciding rule and the values it read, or the metric's definition."""
    for located in loaded.segmentations:
        seg = located.item
        if column in (seg.name.lower(), f"{seg.name.lower()}_action"):
            return _segment_reason(located, row)
    for located in loaded.metrics:
        metric = located.item
        if metric.name.lower() == column:
            file, line = located.at("expr")
            where = f" over {metric.source}" if metric.source else ""
            condition = f" where {metric.filter}" if metric.filter else ""
            return f"{metric.name} = {metric.expr}{where}{condition} ({file}:{line})"
    return ""


def _segment_reason(located: Located[Segmentation], row: dict[str, Any]) -> str:
    seg = located.item
    if seg.match == "all":
        labels = set(row.get(seg.name.lower()) or [])
        parts = [f"{'TRUE' if rule.segment in labels else 'not TRUE'}: {_rule_text(located, i, row)}" for i, rule in enumerate(seg.rules)]
        return "; ".join(parts)
    label = row.get(seg.name.lower())
    for index, rule in enumerate(seg.rules):
        if rule.segment == label:
            return f"decided by {_rule_text(located, index, row)}"
    return f"no rule matched ({'; '.join(_rule_text(located, i, row) for i in range(len(seg.rules)))}), so the default applied"


def _rule_text(located: Located[Segmentation], index: int, row: dict[str, Any]) -> str:
    rule = located.item.rules[index]
    file, line = located.at("rules", index, "when")
    names = parse_expression(rule.when).column_names
    values = ", ".join(f"{name} = {_shown(row.get(name))}" for name in names)
    return f"rule `{rule.segment}` ({file}:{line}: {rule.when}) with {values}"


def plain(value: Any) -> Any:
    """A value as JSON and YAML write it: decimals as numbers, dates as ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _shown(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value) if isinstance(value, str) else str(value)
