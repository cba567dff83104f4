"""`rulectl search`: the customers whose embedded text is nearest a query in meaning (or, with the
offline embedder, in wording), with their segments and the text that matched."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlglot import exp

from engine.ai.insights import in_segment
from engine.ai.local_embed import LOCAL_LABEL, OFFLINE_LABEL, LocalEmbed
from engine.ai.providers import make_provider
from engine.backends.base import Backend
from engine.compile.insights_view import customer_columns
from engine.compile.objects import table
from engine.compile.refresh_batches import pending_subquery
from engine.compile.search import TEXT_COLUMN, embed_call, search_objects
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.models import Target
from engine.config.project import LoadedProject, display_name_column, entity_key
from engine.config.search import LOCAL_EMBEDDER, OFFLINE_EMBEDDER, SEARCH_TASK, embedding_model, embeddings_table, served_in_process
from engine.core.errors import RulectlError
from engine.core.expressions import sf_func

MAX_QUERY_CHARS = 1500  # the query is embedded like a customer's text, within the model's window


@dataclass(frozen=True)
class SearchMatch:
    key: str
    name: str | None
    similarity: float
    segments: dict[str, Any]  # match: first → label; match: all → list of labels
    shown: dict[str, Any]  # the size metric and display columns, by name
    text: str  # the embedded text that matched
    embedded_at: datetime | None


@dataclass(frozen=True)
class SearchResult:
    query: str
    model: str
    embedder: str  # who embedded: the model, or the offline stand-in's label
    matches: list[SearchMatch] = field(default_factory=list)
    not_embedded: int | None = 0  # customers with text but no embedding of it by this model yet (None: count failed)
    embedded: int = 0  # customers with a vector from this model


def search_customers(loaded: LoadedProject, backend: Backend, target: Target, query: str, limit: int = 10, segment: str | None = None) -> SearchResult:
    search = loaded.config.search
    if search is None:
        raise RulectlError("the project has no `search:` section in rulectl.yml, so nothing is embedded; add one (see README: Semantic search)")
    if not query.strip():
        raise RulectlError("give a query: what the customers you are looking for say or need, e.g. \"budget cuts, worried about renewal\"")
    if len(query) > MAX_QUERY_CHARS:
        raise RulectlError(f"the query is {len(query):,} characters; keep it under {MAX_QUERY_CHARS:,}")
    model = embedding_model(target, search)
    embedder = LocalEmbed(None if served_in_process(model) else make_provider(target.llm))
    backend.serve_locally(embedder)
    embedded = _embedded_count(loaded, backend, model)
    try:
        rows = backend.query(nearest_query(loaded, model, query, limit, segment))
    except Exception as error:
        raise RulectlError(f"the search failed: {str(error).splitlines()[0]}") from None
    if embedder.stats.failures:
        raise RulectlError(f"the query could not be embedded with `{model}`: {'; '.join(embedder.stats.errors[:1]) or 'no vector came back'}")
    label = {OFFLINE_EMBEDDER: OFFLINE_LABEL, LOCAL_EMBEDDER: LOCAL_LABEL}.get(model, model)
    return SearchResult(query, model, label, [_match(loaded, backend, row) for row in rows], _not_embedded(loaded, backend, target), embedded)


def _embedded_count(loaded: LoadedProject, backend: Backend, model: str) -> int:
    """Customers with a vector from `model`; a missing table is the one case where the advice is
    to apply and run (any other failure is the search's own, reported as it is)."""
    output = embeddings_table(loaded.config)
    count = exp.select(sf_func("COUNT", exp.Star())).from_(table(output)).where(exp.column("model").eq(exp.Literal.string(model)))
    try:
        return int(backend.query(count)[0][0] or 0)
    except Exception as error:
        raise RulectlError(f"cannot read {output} ({str(error).splitlines()[0]}); run `rulectl apply`, then `rulectl run {SEARCH_TASK}`") from None


def nearest_query(loaded: LoadedProject, model: str, query: str, limit: int, segment: str | None) -> exp.Select:
    """The `limit` customers nearest the query. The query is embedded once (a one-row subquery
    cross-joined, not a call per customer) as a literal sqlglot quotes, never pasted; only vectors of
    `model` are compared, since two models' vectors live in different spaces."""
    key = entity_key(loaded)
    project = loaded.config
    query_vector = exp.select(exp.alias_(embed_call(model, exp.Literal.string(query)), "v"))
    similarity = exp.Anonymous(this="VECTOR_COSINE_SIMILARITY", expressions=[exp.column("embedding", table="e"), exp.column("v", table="q")])
    nearest = (
        exp.select(*(exp.column(c, table="s") for c in customer_columns(loaded)), exp.column(TEXT_COLUMN, table="e"), exp.alias_(similarity, "similarity"), exp.column("embedded_at", table="e"))
        .from_(exp.alias_(table(embeddings_table(project)), "e", table=True))
        .join(exp.Subquery(this=query_vector, alias=exp.TableAlias(this=exp.to_identifier("q"))), join_type="cross")
        .join(exp.alias_(table(f"{project.schemas.analytics}.{SEGMENTS_VIEW}"), "s", table=True), on=exp.column(key, table="s").eq(exp.column(key, table="e")))
        .where(exp.column("model", table="e").eq(exp.Literal.string(model)))
        .order_by(exp.Ordered(this=exp.column("similarity"), desc=True, nulls_first=False), exp.column(key, table="s"))
        .limit(limit)
    )
    if segment is not None:
        nearest = nearest.where(in_segment(loaded, segment, alias="s"), copy=False)
    return nearest


def _match(loaded: LoadedProject, backend: Backend, row: tuple) -> SearchMatch:
    columns = customer_columns(loaded)
    values = dict(zip(columns, row))
    text, similarity, embedded_at = row[len(columns):]
    match = {s.item.name.lower(): s.item.match for s in loaded.segmentations}
    segments = {name: backend.array_value(values[name]) if how == "all" else values[name] for name, how in match.items()}
    display = loaded.config.display
    shown_names = ([display.size.metric.lower()] if display.size else []) + [c.lower() for c in display.columns]
    shown = {c: values[c] for c in dict.fromkeys(shown_names) if c not in match}
    key, name = entity_key(loaded), display_name_column(loaded)
    return SearchMatch(str(values[key]), str(values[name]) if values[name] is not None else None, float(similarity or 0.0), segments, shown, text or "", embedded_at)


def _not_embedded(loaded: LoadedProject, backend: Backend, target: Target) -> int | None:
    """Customers the embedding task would (re-)embed now: new, changed text, or another model."""
    task = next(obj for obj in search_objects(loaded, target, "started") if obj.kind == "task")
    pending = pending_subquery(task.statement).this.copy()
    pending.set("limit", None)
    pending.set("order", None)
    count = exp.select(sf_func("COUNT", exp.Star())).from_(exp.Subquery(this=pending, alias=exp.TableAlias(this=exp.to_identifier("x"))))
    try:
        return int(backend.query(count)[0][0] or 0)
    except Exception:
        return None  # shown as "unknown": the count is a hint beside results the search did find
