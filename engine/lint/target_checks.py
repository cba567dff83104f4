"""Lint against a target's data: rules that match no customer, and segments holding more than a set
share of the customers. One query over the views as the YAML defines them now (the planned-views
CTEs), so nothing needs to be applied first."""

from __future__ import annotations

from sqlglot import exp

from engine.backends.base import Backend
from engine.compile.segments import PLANNED_SEGMENTS, with_planned_views
from engine.config.models import Segmentation
from engine.config.project import Located, LoadedProject
from engine.core.expressions import parse_expression, sf_func
from engine.lint.findings import WARNING, Finding


def _count_where(condition: exp.Expression) -> exp.Expression:
    return sf_func("SUM", sf_func("IFF", condition, exp.Literal.number(1), exp.Literal.number(0)))


def _label_is(segmentation: Segmentation, label: str) -> exp.Expression:
    return exp.column(segmentation.name.lower()).eq(exp.Literal.string(label))


def _counts_query(loaded: LoadedProject) -> exp.Select:
    """COUNT(*), then per rule: customers it matches and (match: first) customers it wins, then the default's."""
    columns: list[exp.Expression] = [sf_func("COUNT", exp.Star())]
    for located in loaded.segmentations:
        seg = located.item
        for rule in seg.rules:
            columns.append(_count_where(parse_expression(rule.when).copy()))
            if seg.match == "first":
                columns.append(_count_where(_label_is(seg, rule.segment)))
        if seg.match == "first" and seg.default is not None:
            columns.append(_count_where(_label_is(seg, seg.default)))
    return with_planned_views(exp.select(*columns).from_(exp.to_table(PLANNED_SEGMENTS)), loaded)


def lint_target(loaded: LoadedProject, backend: Backend, target: str, max_share: float) -> list[Finding]:
    """Findings from the target's customers (the sources must exist there)."""
    if not loaded.segmentations:
        return []
    row = list(backend.query(_counts_query(loaded))[0])
    total, values = int(row[0] or 0), iter(int(v or 0) for v in row[1:])
    if total == 0:
        return []
    findings: list[Finding] = []
    for located in loaded.segmentations:
        findings += _segmentation_findings(located, values, total, target, max_share)
    return findings


def _segmentation_findings(located: Located[Segmentation], values, total: int, target: str, max_share: float) -> list[Finding]:
    seg = located.item
    findings: list[Finding] = []
    for index, rule in enumerate(seg.rules):
        matched = next(values)
        held = next(values) if seg.match == "first" else matched
        file, line = located.at("rules", index, "when")
        if matched == 0:
            findings.append(Finding(WARNING, "no-match", file, line, f"rule `{rule.segment}` matches none of the {total} customers on target `{target}`"))
        elif held == 0:
            findings.append(Finding(WARNING, "no-match", file, line, f"rule `{rule.segment}` matches {matched} customer(s) on target `{target}` but wins none: earlier rules take them all"))
        if held / total > max_share:
            findings.append(_large(file, line, rule.segment, held, total, target, max_share))
    if seg.match == "first" and seg.default is not None:
        held = next(values)
        if held / total > max_share:
            file, line = located.at("default")
            findings.append(_large(file, line, seg.default, held, total, target, max_share))
    return findings


def _large(file: str, line: int, segment: str, held: int, total: int, target: str, max_share: float) -> Finding:
    message = f"segment `{segment}` holds {held / total:.0%} of the customers on target `{target}` ({held} of {total}), more than {max_share:.0%}"
    return Finding(WARNING, "large-segment", file, line, message)
