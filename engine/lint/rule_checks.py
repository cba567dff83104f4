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
from engine.config.project import Located, LoadedProject, spine_name
from engine.config.source_keys import scope_columns
from engine.config.segment_references import label_meanings, reads_of
from engine.core.errors import Problem
from engine.core.expressions import parse_expression
from engine.lint.findings import INFO, WARNING, Finding
from engine.lint.proof_cache import ProofCache, rule_key
from engine.lint.simple_rules import plainly_satisfiable
from engine.lint.three_valued import Bounds, Translator, Truth, infer_kind, kind_of_type

SOLVER_TIMEOUT_MS = 5000


def project_translator(loaded: LoadedProject) -> Translator:
    """A translator that knows every customer column and metric of the project, and each one's
    domain: keys are never NULL, counts never negative, a metric of a column with a declared
    `ranges:` entry stays inside what that column allows (sums of a never-negative column too)."""
    spine = loaded.config.sources[spine_name(loaded)]
    kinds = {column.lower(): kind_of_type(type_text) for column, type_text in spine.columns.items()}
    definitions: dict[str, exp.Expression] = {}
    never_null = {spine.key.lower()} if spine.key else set()
    bounds: dict[str, Bounds] = {column.lower(): (r.min, r.max) for column, r in spine.ranges.items()}
    for located in loaded.metrics:
        metric = located.item
        name, tree = metric.name.lower(), parse_expression(metric.expr).tree
        if metric.source is None:
            definitions[name] = tree
            continue
        source = loaded.config.sources[metric.source]
        columns = {c.lower(): t for c, t in scope_columns(loaded.config, metric.source).items()}
        kinds[name] = infer_kind(tree, lambda column: kind_of_type(columns[column]) if column in columns else None)
        # compile/metrics.py coalesces counts to 0 and applies `default:` for customers without rows
        if isinstance(tree, (exp.Count, exp.CountIf)):
            never_null.add(name)
        if metric.default is not None:
            never_null.add(name)
        metric_bounds = _metric_bounds(tree, _scope_ranges(loaded, metric.source))
        if metric_bounds is not None:
            bounds[name] = _with_default(metric_bounds, metric.default)
    definitions.update(_label_definitions(loaded))
    return Translator(kinds, definitions, frozenset(never_null), bounds)


def _scope_ranges(loaded: LoadedProject, name: str) -> dict[str, Bounds]:
    """Declared `ranges:` of a source's columns and of those its `join:` lookups add."""
    sources = loaded.config.sources
    ranges = {c.lower(): (r.min, r.max) for target in sources[name].join if target in sources for c, r in sources[target].ranges.items()}
    return {**ranges, **{c.lower(): (r.min, r.max) for c, r in sources[name].ranges.items()}}


def _label_definitions(loaded: LoadedProject) -> dict[str, exp.Expression]:
    """A rule may read another segmentation's label (config/segment_references.py): to the solver
    that label is its segmentation's CASE, inlined like a derived metric, so its domain is exactly
    the declared labels (NULL without a default) and it stays tied to the metrics that decide it."""
    # only labels some rule reads: the proof cache's signature (and so every proof) stays the same
    # when a segmentation nobody reads is edited
    read = {name for reads in reads_of(loaded).values() for name in reads}
    labels: dict[str, exp.Expression] = {}
    for located in loaded.segmentations:
        seg = located.item
        if seg.match != "first" or seg.name.lower() not in read:
            continue
        default = exp.Literal.string(seg.default) if seg.default is not None else exp.null()
        ifs = [exp.If(this=parse_expression(rule.when).tree, true=exp.Literal.string(rule.segment)) for rule in seg.rules]
        labels[seg.name.lower()] = exp.Case(ifs=ifs, default=default)
    return labels


def _metric_bounds(tree: exp.Expression, ranges: dict[str, Bounds]) -> Bounds | None:
    """What a metric can be, from its column's declared range: a count is never negative; MIN, MAX
    and AVG (and the column itself, on a key-grain source) stay inside the range; a SUM keeps the
    sign the range gives it."""
    if isinstance(tree, (exp.Count, exp.CountIf)):
        return (0, None)
    column = _single_column(tree.this if isinstance(tree, (exp.Sum, exp.Min, exp.Max, exp.Avg)) else tree)
    if column is None or column not in ranges:
        return None
    low, high = ranges[column]
    if not isinstance(tree, exp.Sum):
        return (low, high)
    never_negative, never_positive = low is not None and low >= 0, high is not None and high <= 0
    if not (never_negative or never_positive):
        return None
    return (0 if never_negative else None, 0 if never_positive else None)


def _single_column(node: exp.Expression | None) -> str | None:
    """`seats`, `(seats)` or `DISTINCT seats` → seats; anything else → None."""
    while isinstance(node, (exp.Paren, exp.Distinct)):
        node = node.this if isinstance(node, exp.Paren) else (node.expressions[0] if len(node.expressions) == 1 else None)
    return node.name.lower() if isinstance(node, exp.Column) else None


def _with_default(bounds: Bounds, default: float | None) -> Bounds:
    """A `default:` outside the range is a value the metric takes too (customers without rows)."""
    low, high = bounds
    if default is None:
        return bounds
    return (min(low, default) if low is not None else None, max(high, default) if high is not None else None)


def lint_rules(loaded: LoadedProject) -> list[Finding]:
    """Every finding of every segmentation, in file order."""
    findings: list[Finding] = []
    translator = project_translator(loaded)
    for located in loaded.segmentations:
        findings += lint_segmentation(located, translator.fresh())
    return findings


def unsatisfiable_rules(loaded: LoadedProject, proven: ProofCache | None = None) -> list[Problem]:
    """A validation error per rule the solver proves can never be TRUE: deployed, it would silently
    match nobody (`x >= 0.8 AND x < 0.5`). "Unknown" (a timeout) proves nothing and is no error.
    Rules `proven` satisfiable before (same condition, same facts) are not proven again."""
    proven = proven if proven is not None else ProofCache(None)
    problems: list[Problem] = []
    translator = project_translator(loaded)
    signature = translator.signature()
    for located in loaded.segmentations:
        fresh = translator.fresh()
        for index, rule in enumerate(located.item.rules):
            key = rule_key(signature, rule.when)
            if key in proven:
                continue
            if plainly_satisfiable(translator, parse_expression(rule.when).tree):  # no solver needed
                proven.add(key)
                continue
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
