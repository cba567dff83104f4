"""Offline lint of segmentations with a solver: unsatisfiable and unreachable rules, overlaps where
order silently decides, and gaps where only the default applies — each with an example customer.

Every metric is an input the solver may set freely (NULL included, unless the metric can never be
NULL: counts and metrics with `default:`); derived metrics are inlined from their expressions, so
`adoption_rate < 0.5` and `module_count >= 2` are known to contradict when adoption_rate is
module_count / 4.0. Relations between source metrics that only the data knows (a customer with no
rows has NULL sums) are not modelled: unsatisfiable and unreachable are proofs, an example customer
for an overlap or a gap is possible for the solver but not always present in the data.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import z3
from sqlglot import exp

from engine.config.models import Segmentation
from engine.config.project import Located, LoadedProject
from engine.config.segment_references import label_meanings
from engine.core.errors import Problem
from engine.core.expressions import parse_expression
from engine.lint.findings import INFO, WARNING, Finding
from engine.lint.domains import Domains, project_domains
from engine.lint.proof_cache import ProofCache
from engine.lint.three_valued import Translator, Truth

SOLVER_TIMEOUT_MS = 5000


def project_translator(loaded: LoadedProject) -> Translator:
    """A translator that knows every customer column and metric of the project and its domain."""
    return Translator.of(project_domains(loaded))


def lint_rules(loaded: LoadedProject) -> list[Finding]:
    """Every finding of every segmentation, in file order."""
    findings: list[Finding] = []
    translator = project_translator(loaded)
    for located in loaded.segmentations:
        findings += lint_segmentation(located, translator.fresh())
    return findings


def solver_unsatisfiable(loaded: LoadedProject, domains: Domains, pending: list[tuple[Located[Segmentation], list[tuple[int, str]]]], proven: ProofCache) -> list[Problem]:
    """The rules of `pending` (per segmentation: rule index, proof key) the solver proves can never
    be TRUE, as validation errors (lint/rule_proofs.py asks only for rules it could not show
    satisfiable without the solver). "Unknown" (a timeout) proves nothing and is no error."""
    problems: list[Problem] = []
    translator = Translator.of(domains)
    for located, rules in pending:
        fresh = translator.fresh()
        for index, key in rules:
            rule = located.item.rules[index]
            check = _Checker(located, fresh, {index: fresh.truth(parse_expression(rule.when).tree)})
            finding = check.unsatisfiable(index)
            if finding is None:
                proven.add(key)
            else:
                meanings = label_meanings(loaded, rule.when)  # a label read can be why (segment_references.py)
                because = f" ({'; '.join(meanings)})" if meanings else ""
                problems.append(Problem(finding.file, finding.line, f"`when`: {finding.message}{because}"))
    return problems


def _checker(located: Located[Segmentation], translator: Translator) -> _Checker:
    conditions = [translator.truth(parse_expression(rule.when).tree) for rule in located.item.rules]
    return _Checker(located, translator, conditions)


def lint_segmentation(located: Located[Segmentation], translator: Translator) -> list[Finding]:
    seg = located.item
    check = _checker(located, translator)
    findings: list[Finding] = []
    reachable: list[bool] = []
    for index in range(len(seg.rules)):
        finding = check.unsatisfiable(index) or (check.unreachable(index) if seg.match == "first" else None)
        reachable.append(finding is None)
        if finding:
            findings.append(finding)
    if seg.match == "first":
        for index in range(len(seg.rules)):
            if reachable[index]:
                findings += check.overlaps(index, reachable)
        gap = check.gap()
        if gap:
            findings.append(gap)
    return findings


class _Checker:
    """The solver queries for one segmentation."""

    def __init__(self, located: Located[Segmentation], translator: Translator, conditions: list[Truth] | dict[int, Truth]):
        self.located = located
        self.seg = located.item
        self.translator = translator
        self.conditions = conditions

    def _solve(self, *formulas: z3.BoolRef) -> z3.ModelRef | None:
        solver = z3.Solver()
        solver.set("timeout", SOLVER_TIMEOUT_MS)
        solver.add(*self.translator.facts, *formulas)
        # "unknown" (a timeout, or non-linear arithmetic z3 gives up on) proves nothing: no finding
        return solver.model() if solver.check() == z3.sat else None

    def _not_true(self, index: int) -> z3.BoolRef:
        return z3.Not(self.conditions[index].true)

    def _rule_name(self, index: int) -> str:
        return f"`{self.seg.rules[index].segment}`"

    def _finding(self, severity: str, kind: str, index: int | None, message: str, model: z3.ModelRef | None, rules: list[int]) -> Finding:
        where = ("rules", index, "when") if index is not None else ("name",)
        file, line = self.located.at(*where)
        if model is None:
            return Finding(severity, kind, file, line, message)
        texts = [self.seg.rules[i].when for i in rules]
        example, approximate = _example(model, self.translator, texts, [self.conditions[i] for i in rules])
        return Finding(severity, kind, file, line, message, example, approximate)

    def unsatisfiable(self, index: int) -> Finding | None:
        if self._solve(self.conditions[index].true) is not None:
            return None
        message = f"rule {self._rule_name(index)} can never match: `{self.seg.rules[index].when}` is TRUE for no customer; fix the bounds or remove the rule"
        return self._finding(WARNING, "unsatisfiable", index, message, None, [index])

    def unreachable(self, index: int) -> Finding | None:
        earlier = [self._not_true(j) for j in range(index)]
        if not earlier or self._solve(self.conditions[index].true, *earlier) is not None:
            return None
        covering = self._smallest_cover(index)
        names = ", ".join(self._rule_name(j) for j in covering)
        message = (
            f"rule {self._rule_name(index)} is unreachable: every customer it matches is already taken by "
            f"{names} (match: first); reorder the rules or narrow the earlier ones"
        )
        return self._finding(WARNING, "unreachable", index, message, None, [index])

    def _smallest_cover(self, index: int) -> list[int]:
        """Earlier rules that together take every customer of rule `index`, none of them redundant."""
        cover = [j for j in range(index) if self._solve(self.conditions[index].true, self.conditions[j].true) is not None]
        for j in list(cover):
            rest = [k for k in cover if k != j]
            if self._solve(self.conditions[index].true, *(self._not_true(k) for k in rest)) is None:
                cover = rest
        return cover

    def overlaps(self, index: int, reachable: list[bool]) -> list[Finding]:
        """Earlier rules that share customers with rule `index` without being nested inside it.

        An earlier rule entirely inside a later one is the usual "specific before general" order
        and is not reported; a partial overlap means the order alone decides some customers.
        """
        findings = []
        deliberate = set(self.seg.rules[index].overlaps)
        for j in range(index):
            if not reachable[j]:
                continue
            reaches_j = [self._not_true(k) for k in range(j)]
            both = self._solve(self.conditions[j].true, self.conditions[index].true, *reaches_j)
            if both is None or self._solve(self.conditions[j].true, self._not_true(index), *reaches_j) is None:
                continue
            if self.seg.rules[j].segment in deliberate:
                message = f"rules {self._rule_name(j)} and {self._rule_name(index)} overlap as `overlaps:` says: customers matching both get {self._rule_name(j)}"
                findings.append(self._finding(INFO, "overlap", index, message, None, [j, index]))
                continue
            message = (
                f"rules {self._rule_name(j)} and {self._rule_name(index)} overlap, so their order decides: "
                f"customers matching both get {self._rule_name(j)}; make the conditions exclusive, or, if the order is deliberate, "
                f"say so on rule {self._rule_name(index)}: `overlaps: [{self.seg.rules[j].segment}]`"
            )
            findings.append(self._finding(WARNING, "overlap", index, message, both, [j, index]))
        return findings

    def gap(self) -> Finding | None:
        model = self._solve(*(self._not_true(i) for i in range(len(self.seg.rules))))
        if model is None:
            return None
        everything = list(range(len(self.seg.rules)))
        if self.seg.default is None:
            message = f"some customers match no rule of `{self.seg.name}` and get no label (NULL); add `default:` or a rule that covers them"
            return self._finding(WARNING, "gap", None, message, model, everything)
        message = f"only the default `{self.seg.default}` applies to customers matching no rule of `{self.seg.name}`"
        return self._finding(INFO, "gap", None, message, model, everything)


def _example(model: z3.ModelRef, translator: Translator, conditions: list[str], truths: list[Truth]) -> tuple[dict[str, Any], bool]:
    """The values a model gives to every input the conditions read (derived metrics computed)."""
    names: dict[str, None] = {}
    for text in conditions:
        for column in parse_expression(text).tree.find_all(exp.Column):
            names[column.name.lower()] = None
    example: dict[str, Any] = {}
    approximate = False
    for name in _expand(names, translator):
        if name in translator.definitions:
            term = translator.term(exp.column(name))
        elif name in translator.variables:
            term = translator.variables[name].term
        else:
            continue
        example[name] = _python_value(model, term.value, term.null)
    used = _constants([f for truth in truths for f in (truth.true, truth.false)])
    for variable in translator.variables.values():
        if variable.opaque and variable.term.value.decl().name() in used:
            approximate = True
            example[variable.name] = _python_value(model, variable.term.value, variable.term.null)
    return example, approximate


def _expand(names: dict[str, None], translator: Translator) -> list[str]:
    """Names read directly, then the inputs of any derived metric among them."""
    ordered: dict[str, None] = {}

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in translator.definitions:
            for column in translator.definitions[name].find_all(exp.Column):
                visit(column.name.lower())
        ordered[name] = None

    for name in names:
        visit(name)
    return list(ordered)


def _constants(formulas: list[z3.ExprRef]) -> set[str]:
    """Names of the free constants (the inputs) that occur in `formulas`."""
    seen: set[int] = set()
    names: set[str] = set()
    stack = list(formulas)
    while stack:
        node = stack.pop()
        if node.get_id() in seen:
            continue
        seen.add(node.get_id())
        if z3.is_const(node) and node.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            names.add(node.decl().name())
        stack.extend(node.children())
    return names


def _python_value(model: z3.ModelRef, value: z3.ExprRef, null: z3.BoolRef) -> Any:
    if z3.is_true(model.eval(null, model_completion=True)):
        return None
    result = model.eval(value, model_completion=True)
    if z3.is_int_value(result):
        return result.as_long()
    if z3.is_rational_value(result):
        fraction = Fraction(result.numerator_as_long(), result.denominator_as_long())
        return int(fraction) if fraction.denominator == 1 else float(fraction)
    if z3.is_string_value(result):
        return result.as_string()
    if z3.is_true(result) or z3.is_false(result):
        return z3.is_true(result)
    return str(result)
