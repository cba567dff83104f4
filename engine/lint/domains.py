"""What each input of a project's rules can be — its kind, its bounds, whether it can be NULL, and
the definitions inlined for derived metrics and read labels — with no solver in sight: the plain-rule
path (lint/simple_rules.py) reads it as it is, and lint/three_valued.py's Translator states it to z3
(imported only when a rule needs the solver: ~25 ms and ~12 MB)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from engine.config.project import LoadedProject, spine_name
from engine.config.segment_references import reads_of
from engine.config.source_keys import scope_columns
from engine.config.value_types import is_whole_number_type
from engine.core import project_cache
from engine.core.expressions import DIALECT, parse_expression

NUMERIC, INTEGER, TEXT, BOOLEAN = "numeric", "integer", "text", "boolean"
Bounds = tuple[float | None, float | None]  # lowest and highest value; None: no bound that side
# the conditions three_valued.py translates exactly (its _TRUTH_HANDLERS): each is a BOOLEAN value
CONDITIONS = frozenset({exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not, exp.Paren, exp.Is, exp.Between, exp.In, exp.Like, exp.Boolean, exp.Null})


@dataclass(frozen=True)
class Domains:
    """`kinds` gives each input name its kind; `definitions` inlines derived metrics (their own
    expressions) and the labels rules read; `never_null` names inputs that always have a value
    (counts, metrics with a default); `bounds` the (lowest, highest) a numeric input can be."""

    kinds: dict[str, str]
    definitions: Mapping[str, exp.Expression] = field(default_factory=dict)
    never_null: frozenset[str] = frozenset()
    bounds: dict[str, Bounds] = field(default_factory=dict)

    def signature(self) -> str:
        """Everything the solver knows of the inputs, as text: equal signatures, equal proofs. A
        derived metric stands as its own text (Definitions.text_of): the same text, the same tree."""
        text_of = self.definitions.text_of if isinstance(self.definitions, Definitions) else lambda name: self.definitions[name].sql()
        definitions = {name: text_of(name) for name in sorted(self.definitions)}
        return repr((sorted(self.kinds.items()), definitions, sorted(self.never_null), sorted(self.bounds.items())))


class Definitions(Mapping[str, exp.Expression]):
    """Derived metrics by their text, parsed when the solver first reads one (a rule edit at 1,000
    metrics proves only its segmentation's rules, which read a few), and built trees (the labels
    rules read)."""

    def __init__(self, texts: Mapping[str, str], trees: Mapping[str, exp.Expression]):
        self._texts, self._trees = dict(texts), dict(trees)

    def __getitem__(self, name: str) -> exp.Expression:
        if name in self._trees:
            return self._trees[name]
        return parse_expression(self._texts[name]).tree

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._texts), **dict.fromkeys(self._trees)})

    def __len__(self) -> int:
        return len(self._texts.keys() | self._trees.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._trees or name in self._texts

    def text_of(self, name: str) -> str:
        """Tagged: a derived metric's analyst text and a built tree's SQL never read as each other."""
        return f"tree:{self._trees[name].sql()}" if name in self._trees else f"text:{self._texts[name]}"


@dataclass(frozen=True)
class _MetricDomains:
    """The part of Domains that reads only the project's settings and its metrics."""

    kinds: dict[str, str]
    derived: dict[str, str]  # derived metric → its expression's text
    never_null: list[str]
    bounds: dict[str, Bounds]


def project_domains(loaded: LoadedProject) -> Domains:
    """Every customer column and metric of the project, and each one's domain: keys are never NULL, counts never negative, a metric of a column with a declared
    `ranges:` entry stays inside what that column allows (sums of a never-negative column too)."""
    metrics = _cached_metric_domains(loaded)
    definitions = Definitions(metrics.derived, _label_definitions(loaded))
    return Domains(dict(metrics.kinds), definitions, frozenset(metrics.never_null), dict(metrics.bounds))


def _cached_metric_domains(loaded: LoadedProject) -> _MetricDomains:
    """_metric_domains, from the project cache where the settings and metrics are the values it
    was derived from before (compile/project.py `part_digest`, with the same rulectl): a rule edit
    at 1,000 distinct metrics parsed and typed every metric again (~0.16 s of the edit)."""
    from engine.compile.project import part_digest

    key = part_digest(loaded, "metrics")
    restored = _restored(project_cache.cached(loaded.root, key, "domains"))
    if restored is not None:
        return restored
    made = _metric_domains(loaded)
    project_cache.remember(loaded.root, key, "domains", dataclasses.asdict(made))
    return made


def _restored(kept: object) -> _MetricDomains | None:
    """The cached entry as _MetricDomains, or None where it is not one (a damaged file is a miss)."""
    if not isinstance(kept, dict) or set(kept) != {"kinds", "derived", "never_null", "bounds"}:
        return None
    kinds, derived, never_null, bounds = kept["kinds"], kept["derived"], kept["never_null"], kept["bounds"]
    if not (_str_map(kinds) and _str_map(derived) and isinstance(never_null, list) and all(isinstance(name, str) for name in never_null)):
        return None
    if not isinstance(bounds, dict) or not all(_is_bounds(b) for b in bounds.values()):
        return None
    return _MetricDomains(kinds, derived, never_null, {name: (low, high) for name, (low, high) in bounds.items()})


def _str_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _is_bounds(value: object) -> bool:
    number = (int, float, type(None))
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, number) and not isinstance(v, bool) for v in value)


def _metric_domains(loaded: LoadedProject) -> _MetricDomains:
    spine = loaded.config.sources[spine_name(loaded)]
    kinds = {column.lower(): kind_of_type(type_text) for column, type_text in spine.columns.items()}
    derived: dict[str, str] = {}
    never_null = {spine.key.lower()} if spine.key else set()
    bounds: dict[str, Bounds] = {column.lower(): (r.min, r.max) for column, r in spine.ranges.items()}
    for located in loaded.metrics:
        metric = located.item
        name = metric.name.lower()
        if metric.source is None:
            derived[name] = metric.expr
            continue
        tree = parse_expression(metric.expr).tree
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
    return _MetricDomains(kinds, derived, sorted(never_null), bounds)


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


_TEXT_FUNCTIONS = (exp.GroupConcat, exp.Concat, exp.DPipe, exp.Upper, exp.Lower, exp.Trim, exp.Substring, exp.ArrayToString)
_INTEGER_FUNCTIONS = (exp.Count, exp.CountIf, exp.DateDiff, exp.Length, exp.Floor, exp.Ceil, exp.ArraySize)


def infer_kind(node: exp.Expression, kind_of_name: Callable[[str], str | None]) -> str:
    """NUMERIC, INTEGER, TEXT or BOOLEAN for an expression (NUMERIC when nothing says otherwise)."""
    if isinstance(node, exp.Paren):
        return infer_kind(node.this, kind_of_name)
    if isinstance(node, exp.Column):
        return kind_of_name(node.name.lower()) or NUMERIC
    if isinstance(node, exp.Literal):
        if node.is_string:
            return TEXT
        return INTEGER if node.this.lstrip("-").isdigit() else NUMERIC
    if isinstance(node, (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)) or type(node) in CONDITIONS:
        return BOOLEAN
    if isinstance(node, _TEXT_FUNCTIONS):
        return TEXT
    if isinstance(node, _INTEGER_FUNCTIONS):
        return INTEGER
    if isinstance(node, exp.Div) or isinstance(node, exp.Avg):
        return NUMERIC
    if isinstance(node, (exp.Sum, exp.Min, exp.Max, exp.Neg, exp.Abs, exp.Coalesce, exp.Nullif)):
        return infer_kind(node.this, kind_of_name)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod)):
        kinds = {infer_kind(node.this, kind_of_name), infer_kind(node.expression, kind_of_name)}
        return INTEGER if kinds == {INTEGER} else NUMERIC
    if isinstance(node, exp.If):
        return infer_kind(node.args["true"], kind_of_name)
    if isinstance(node, exp.Case):
        return infer_kind(node.args["ifs"][0].args["true"], kind_of_name) if node.args.get("ifs") else NUMERIC
    if isinstance(node, exp.Cast):
        return kind_of_type(node.to.sql(dialect=DIALECT))
    return NUMERIC


@functools.lru_cache(maxsize=1024)
def kind_of_type(type_text: str) -> str:
    """The kind of a declared Snowflake column type (cached: a project declares few distinct types,
    and every segmentation's solver asks for them again)."""
    try:
        data_type = exp.DataType.build(type_text, dialect=DIALECT)
    except Exception:
        return NUMERIC
    if data_type.is_type(*exp.DataType.TEXT_TYPES):
        return TEXT
    if data_type.is_type(exp.DataType.Type.BOOLEAN):
        return BOOLEAN
    if is_whole_number_type(type_text):
        return INTEGER
    if data_type.is_type(*exp.DataType.TEMPORAL_TYPES):
        return INTEGER  # days or seconds since an epoch: ordered like the dates themselves
    return NUMERIC
