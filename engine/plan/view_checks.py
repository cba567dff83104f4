"""Every planned view checked on the target before apply is allowed.

A zero-row query (LIMIT 0) of the planned SQL makes the engine resolve names, functions and types
without reading data. All changed views go into one query, so a plan that is fine costs one round
trip however many views change; only when it fails does rulectl ask more (one query per view, then
one per expression of the failing view) to name the object and the file:line the failure came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlglot import exp

from engine.backends.base import Backend
from engine.compile.metrics import METRICS_VIEW, metrics_query
from engine.compile.source_rows import source_relation
from engine.compile.segments import SEGMENTS_VIEW, label_definitions, rule_condition
from engine.compile.objects import DesiredObject, table
from engine.config.project import Located, LoadedProject
from engine.core.expressions import ExpressionError, parse_expression
from engine.plan.apply import rehearse_steps
from engine.plan.model import Action, Step

CHANGING = (Action.CREATE, Action.REPLACE, Action.DRIFT)
_QUOTED = re.compile(r"""["'`]([^"'`]{1,80})["'`]""")


@dataclass(frozen=True)
class ViewFailure:
    """A planned view the target refuses, and where in the project the failing expression is."""

    qualified_name: str
    engine_message: str
    location: Location | None
    kind: str = "view"

    @property
    def reason(self) -> str:
        if self.location is None:
            return f"the target refuses this {self.kind}: {self.engine_message}; see its SQL with `rulectl compile`"
        return f"{self.location.where}: the target refuses this {self.kind}: {self.engine_message}; {self.location.fix}"


@dataclass(frozen=True)
class Location:
    """Where in the project a failure comes from, and what to do about it."""

    where: str  # file:line
    fix: str


def check_planned_views(loaded: LoadedProject, backend: Backend, desired: list[DesiredObject], steps: Iterable[Step]) -> list[ViewFailure]:
    """Views that create/replace/drift steps would create, checked on the target: in an apply on an
    engine whose DDL is transactional, by apply's own statements rolled back (plan/apply.py
    `rehearse_steps`); elsewhere, and to name what a refused rehearsal failed on, with LIMIT 0."""
    views = {obj.qualified_name.upper(): obj for obj in desired if obj.kind == "view"}
    changing = [s.qualified_name.upper() for s in steps if s.kind == "view" and s.action in CHANGING and s.qualified_name.upper() in views]
    if not changing:
        return []
    rehearsal = rehearse_steps(steps, desired, backend, loaded.config.name) if backend.rehearses_ddl else None
    if backend.rehearses_ddl and rehearsal is None:
        return []  # an apply: the target took its own statements
    # a view or table the plan leaves as it is is read where it is deployed: only what changes is
    # rendered as a planned CTE (a one-rule edit renders the segments view, not the metrics view)
    unchanged = {s.qualified_name.upper() for s in steps if s.action is Action.NOOP}
    planned = _PlannedRelations([obj for obj in desired if obj.qualified_name.upper() not in unchanged], backend)
    if _refused(backend, planned.zero_rows(changing)) is None:
        if rehearsal is None:
            return []
        # the views bind, yet the target refused a statement of apply's (e.g. a view where a table
        # of that name exists): that step fails here, before apply changes anything
        step, message = rehearsal
        return [ViewFailure(step.qualified_name.upper(), message, None, kind=step.kind)]
    failures = []
    for name in changing:
        message = _refused(backend, planned.zero_rows([name]))
        if message is not None:
            failures.append(ViewFailure(name, message, locate_expression(loaded, backend, message, name)))
    return failures


def locate_expression(loaded: LoadedProject, backend: Backend, message: str, view: str | None = None) -> Location | None:
    """The file:line behind an engine error: a source table the target cannot read, else the first
    expression the target refuses on its own (zero rows each), else for an error that only data
    raises a division ("Division by zero") or an expression holding a value the message quotes."""
    if view is None or view.split(".")[-1] in (METRICS_VIEW, SEGMENTS_VIEW):
        found = _probe(loaded, backend)
        if found:
            return found
    if "division by zero" in message.lower():
        for warning in loaded.warnings:
            if "divisor" in warning.message:
                return Location(f"{warning.file}:{warning.line}", "a divisor is zero for some customer; write DIV0(a, b), DIV0NULL(a, b) or a / NULLIF(b, 0)")
    quoted = {token.lower() for token in _QUOTED.findall(re.split(r"(?i)did you mean", message)[0])}
    for located, path, text in _expressions(loaded):
        literals = {node.this.lower() for node in _tree(text).find_all(exp.Literal)}
        if quoted & literals:
            return _at(located, path)
    return None


# ------------------------------------------------------------------------------------------------


class _PlannedRelations:
    """The planned views as CTEs (each reading the others' planned SQL), and each planned table as
    an empty stand-in with its planned columns, so nothing needs to exist before apply. `desired`:
    the views and tables that change; references to any other relation stay as they are (the
    deployed object, identical to its planned one)."""

    def __init__(self, desired: list[DesiredObject], backend: Backend | None = None):
        self.names = {obj.qualified_name.upper(): f"rulectl_planned_{index}" for index, obj in enumerate(desired) if obj.kind in ("view", "table")}
        self.desired = [obj for obj in desired if obj.kind in ("view", "table")]
        self._by_name = {obj.qualified_name.upper(): obj for obj in self.desired}
        self._backend = backend

    def zero_rows(self, views: list[str]) -> exp.Select | str:
        """The zero-row query of `views` over the planned relations. A view the backend gives as
        text (Backend.view_select_text) that reads no other planned relation stands in the tree as
        a marker, replaced by its text in the query's SQL."""
        texts: dict[str, str] = {}
        query = self._zero_rows(views, texts)
        if not texts or self._backend is None:
            return query
        sql = self._backend.to_sql(query)
        for marker, text in texts.items():
            rendered = f"SELECT '{marker}'"
            if sql.count(rendered) != 1:  # not rendered as expected: the tree as it is built without texts
                return self._zero_rows(views, None)
            sql = sql.replace(rendered, text)
        return sql

    def _zero_rows(self, views: list[str], texts: dict[str, str] | None) -> exp.Select:
        self._texts = texts
        query = exp.select(exp.Literal.number(1)).from_(exp.to_table(self.names[views[0]]), copy=False)
        for name in views[1:]:
            query.join(exp.to_table(self.names[name]), join_type="cross", copy=False)
        relations = {}
        pending = list(views)
        while pending:  # the queried views and the planned relations they read, transitively
            name = pending.pop()
            if name not in relations:
                relations[name], reads = self._relation(self._by_name[name])
                pending.extend(reads)
        for obj in self.desired:  # compile order: each object after what it reads
            if obj.qualified_name.upper() in relations:
                query = query.with_(self.names[obj.qualified_name.upper()], as_=relations[obj.qualified_name.upper()], copy=False)
        return query.limit(0, copy=False)  # built here: not copied again with every CTE in it

    def _relation(self, obj: DesiredObject) -> tuple[exp.Expression, list[str]]:
        """The relation's planned query, and the planned relations it reads."""
        if obj.kind == "table":
            columns = [exp.cast(exp.null(), exp.DataType.build(kind, dialect="snowflake")).as_(name) for name, kind in obj.columns]
            return exp.select(*columns).where(exp.false()), []
        names, reads = self.names, []
        if self._texts is not None and obj.kind == "view" and not any(read.upper() in names for read in obj.depends_on):
            text = self._backend.view_select_text(obj) if self._backend is not None else None
            if text is not None:
                marker = f"rulectl_planned_text_{len(self._texts)}"
                self._texts[marker] = text
                return exp.select(exp.Literal.string(marker)), []

        def rewrite(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and node.db and f"{node.db}.{node.name}".upper() in names:
                reads.append(f"{node.db}.{node.name}".upper())
                return exp.alias_(exp.to_table(names[f"{node.db}.{node.name}".upper()]), node.alias or node.name, table=True)
            return node

        return obj.statement.expression.copy().transform(rewrite, copy=False), reads


def _refused(backend: Backend, query: exp.Expression) -> str | None:
    try:
        backend.query(query)
    except Exception as error:  # the engine's own words, first line; never a traceback
        text = str(error).strip()
        return text.splitlines()[0] if text else type(error).__name__
    return None


def _expressions(loaded: LoadedProject):
    """(located, path, text) of every analyst expression, in the order a reader meets them."""
    for located in loaded.metrics:
        if located.item.filter:
            yield located, ("filter",), located.item.filter
        yield located, ("expr",), located.item.expr
    for located in loaded.segmentations:
        for index, rule in enumerate(located.item.rules):
            yield located, ("rules", index, "when"), rule.when


def _probe(loaded: LoadedProject, backend: Backend) -> Location | None:
    """Each source table, then each expression alone, zero rows each: source metrics against their
    table, then derived metrics and rules against the planned metrics (only reached on a failure)."""
    for name, source in loaded.config.sources.items():
        if _refused(backend, _zero_rows(table(source.table))) is not None:
            file, line = loaded.project.at("sources", name, "table")
            return Location(f"{file}:{line}", f"source table {source.table} cannot be read on this target; {backend.missing_source_hint}")
    derived = []
    for located in loaded.metrics:
        metric = located.item
        source = loaded.config.sources.get(metric.source or "")
        if source is None:
            derived.append((located, ("expr",), metric.expr))
            continue
        rows = source_relation(loaded.config, metric.source)
        if metric.filter and _refused(backend, _zero_rows(rows.copy(), where=_tree(metric.filter))) is not None:
            return _at(located, ("filter",))
        if _refused(backend, _zero_rows(rows.copy(), _tree(metric.expr))) is not None:
            return _at(located, ("expr",))
    planned_metrics = exp.Subquery(this=metrics_query(loaded), alias=exp.TableAlias(this=exp.to_identifier("m")))
    rules = [(located, ("rules", i, "when"), rule.when) for located in loaded.segmentations for i, rule in enumerate(located.item.rules)]
    labels = label_definitions(loaded)  # a rule reading another segmentation's label reads its definition
    for located, path, text in derived + rules:
        value = _tree(text)
        if path[0] == "rules":
            value = exp.Case(ifs=[exp.If(this=_rule_tree(text, labels), true=exp.Literal.number(1))])
        if _refused(backend, _zero_rows(planned_metrics.copy(), value)) is not None:
            return _at(located, path)
    return None


def _zero_rows(relation: exp.Expression, value: exp.Expression | None = None, where: exp.Expression | None = None) -> exp.Select:
    """`relation`, `value` and `where` become part of the query (callers pass trees of their own)."""
    query = exp.select(value if value is not None else exp.Literal.number(1), copy=False).from_(relation, copy=False)
    if where is not None:
        query.where(where, copy=False)
    return query.limit(0, copy=False)


def _tree(text: str) -> exp.Expression:
    try:
        return parse_expression(text).copy()
    except ExpressionError:  # validated before plan; keep the probe total anyway
        return exp.null()


def _rule_tree(text: str, labels: dict[str, exp.Expression]) -> exp.Expression:
    try:
        return rule_condition(text, labels)
    except ExpressionError:
        return exp.null()


def _at(located: Located, path: tuple) -> Location:
    file, line = located.at(*path)
    return Location(f"{file}:{line}", f"fix the `{path[-1]}` there; nothing is applied until the target accepts it")


def planned_segments_fail(loaded: LoadedProject, backend: Backend) -> str | None:
    """The engine's message when the planned metrics and segments fail on the data (not only when
    bound: e.g. a zero divisor), else None. Tells a broken new view from a broken deployed one."""
    from engine.compile.segments import PLANNED_SEGMENTS, with_planned_views

    count = exp.select(exp.func("COUNT", exp.Star())).from_(exp.to_table(PLANNED_SEGMENTS))
    return _refused(backend, with_planned_views(count, loaded))


def failed_steps(steps: list[Step], reasons: dict[str, str]) -> list[Step]:
    """`steps` with each step named in `reasons` turned into an error that says why."""
    from dataclasses import replace

    return [replace(step, action=Action.ERROR, reason=reasons[step.qualified_name.upper()]) if step.qualified_name.upper() in reasons else step for step in steps]


def query_failure(loaded: LoadedProject, backend: Backend, what: str, message: str) -> str:
    """The reason for a plan query (impact, cost) the target refused, with the file:line behind it."""
    location = locate_expression(loaded, backend, message)
    if location is None:
        return f"{what} fails on the target: {message}; see the SQL with `rulectl compile`"
    return f"{location.where}: {what} fails on the target: {message}; {location.fix}"
