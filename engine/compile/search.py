"""Semantic customer search → an embeddings table, the task that keeps it current, and the query
`rulectl search` runs.

Each customer's text is the `search.text` parts, each on its own `label: value` line (a part with no
value is left out). The task embeds only customers whose text or embedding model changed (the input
hash covers both), in bounded batches, the way prompt refreshes do: the pending rows are the
subquery aliased `p`, so refresh_batches, the local runner and the Snowflake task script run it
unchanged.

Snowflake: AI_EMBED(model, text) → VECTOR(FLOAT, 768) for the 768-dimension models, ranked with
VECTOR_COSINE_SIMILARITY. AI_EMBED rather than SNOWFLAKE.CORTEX.EMBED_TEXT_768: it is "the updated
version of EMBED_TEXT_1024 and EMBED_TEXT_768", which are to be deprecated by the end of 2026; the
models and the vectors are the same. https://docs.snowflake.com/en/sql-reference/functions/ai_embed
https://docs.snowflake.com/en/sql-reference/functions/embed_text-snowflake-cortex
https://docs.snowflake.com/en/sql-reference/data-types-vector
https://docs.snowflake.com/en/sql-reference/functions/vector_cosine_similarity
The text is cut at MAX_EMBED_CHARS: the 768 models read at most 512 tokens and Cortex fails a call
whose input exceeds a model's limit rather than truncating it.
https://docs.snowflake.com/en/user-guide/snowflake-cortex/vector-embeddings
On DuckDB rulectl's fixes call the local embedder instead (ai/local_embed.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlglot import exp

from engine.compile.cleanup import gone_rows, removal
from engine.compile.objects import DesiredObject, table
from engine.compile.prompts import output_table_name, stored_rows
from engine.compile.segments import SEGMENTS_VIEW
from engine.compile.structured_outputs import output_columns
from engine.config.models import Prompt, Target
from engine.config.project import LoadedProject, entity_key, spine_name
from engine.config.cortex import EMBED_MAX_CHARS
from engine.config.search import EMBEDDING_DIMENSIONS, SEARCH_TASK, SearchText, embedding_model, embeddings_table, search_task, search_texts, with_prompt_replies
from engine.core.expressions import DIALECT, utc_now

EMBED_FUNCTION = "AI_EMBED"
SIMILARITY_FUNCTION = "VECTOR_COSINE_SIMILARITY"
MAX_EMBED_CHARS = EMBED_MAX_CHARS  # ≈ 375 tokens of English at ~4 characters per token: inside the 512-token window (config/cortex.py)
VECTOR_TYPE = f"VECTOR(FLOAT, {EMBEDDING_DIMENSIONS})"
TEXT_COLUMN = "embedded_text"
PART_SEPARATOR = "\n"


def search_objects(loaded: LoadedProject, target: Target | None, task_state: str) -> list[DesiredObject]:
    """The embeddings table, then the task that fills it; nothing without `search:`."""
    search = loaded.config.search
    if search is None:
        return []
    project = loaded.config
    key = entity_key(loaded)
    key_type = project.sources[spine_name(loaded)].columns[key].upper()
    output = embeddings_table(project)
    columns = ((key, key_type), ("input_hash", "VARCHAR"), ("model", "VARCHAR"), (TEXT_COLUMN, "VARCHAR"), ("embedding", VECTOR_TYPE), ("embedded_at", "TIMESTAMP_NTZ"))
    schema, name = output.split(".")
    create = exp.Create(
        this=exp.Schema(this=table(output), expressions=[exp.ColumnDef(this=exp.to_identifier(c), kind=exp.DataType.build(t, dialect=DIALECT)) for c, t in columns]),
        kind="TABLE",
    )
    model = embedding_model(target, search)
    segments = f"{project.schemas.analytics}.{SEGMENTS_VIEW}".upper()
    texts = customer_text_query(loaded, table(segments))
    merge = embedding_merge(texts, output, key, model, search.max_rows)
    prompts = {p.item.name.lower(): p.item for p in loaded.prompts}
    reads = [segments] + sorted({_output_table(loaded, prompts[t.prompt]) for t in search_parts(loaded) if t.prompt})
    options = (
        ("schedule", search.schedule.strip()),
        ("warehouse", ((target.warehouse if target else None) or "").upper()),
        ("compute", "serverless" if target is not None and target.serverless_tasks else "warehouse"),
        ("batch_rows", str(search.batch_rows)),
        ("state", task_state),
    )
    task_schema, task = search_task(project).split(".")
    details = {"prompt": SEARCH_TASK, "enrichment": "embedding", "model": model, "max_rows": search.max_rows, "keys": ((key, key_type),)}
    return [
        DesiredObject("table", schema, name, create, (), columns),
        # a customer gone from the segments view (deleted from the entity source) loses its vector;
        # one whose text became blank is handled by the MERGE itself
        DesiredObject("task", task_schema, task, merge, (output, *reads), (), options, details=details,
                      removal=removal(output, [key], gone_rows(output, [key], table(segments)))),
    ]


def search_parts(loaded: LoadedProject) -> list[SearchText]:
    return with_prompt_replies(search_texts(loaded.config.search), {p.item.name.lower() for p in loaded.prompts})


def customer_text_query(loaded: LoadedProject, segments: exp.Expression, output_columns: Mapping[str, Collection[str]] | None = None) -> exp.Select:
    """Per customer: its key and the text to embed (`text_value`), from the segments relation and each
    named prompt's stored output. With `output_columns` (output table → its columns as deployed,
    for plan's estimate) a part whose table or column does not exist yet contributes nothing."""
    key = entity_key(loaded)
    prompts = {p.item.name.lower(): p.item for p in loaded.prompts}
    query = exp.select(exp.column(key, table="s")).from_(exp.alias_(segments, "s", table=True), copy=False)
    texts = [t for t in search_parts(loaded) if output_columns is None or not t.prompt or t.column in output_columns.get(_output_table(loaded, prompts[t.prompt]), ())]
    aliases: dict[str, str] = {}
    for text in texts:
        if text.prompt and text.prompt not in aliases:
            alias = aliases[text.prompt] = f"o{len(aliases)}"
            query.join(exp.Subquery(this=_stored_outputs(loaded, prompts[text.prompt]), alias=exp.TableAlias(this=exp.to_identifier(alias))),
                       on=exp.column(key, table=alias).eq(exp.column(key, table="s")), join_type="left", copy=False)
    parts = [_part(text, _value(loaded, text, prompts, aliases)) for text in texts]
    combined: exp.Expression = parts[0] if parts else exp.Literal.string("")
    for part in parts[1:]:
        combined = exp.DPipe(this=combined, expression=part, safe=True)
    return query.select(exp.alias_(exp.func("LEFT", combined, exp.Literal.number(MAX_EMBED_CHARS), dialect=DIALECT), "text_value"), copy=False)


def _output_table(loaded: LoadedProject, prompt: Prompt) -> str:
    return output_table_name(loaded.config.schemas, prompt)


def prompt_output_table(loaded: LoadedProject, prompt_name: str) -> str:
    return _output_table(loaded, next(p.item for p in loaded.prompts if p.item.name.lower() == prompt_name))


def _stored_outputs(loaded: LoadedProject, prompt: Prompt) -> exp.Select:
    return stored_rows(_output_table(loaded, prompt), prompt.name)


def _value(loaded: LoadedProject, text: SearchText, prompts: dict[str, Prompt], aliases: dict[str, str]) -> exp.Expression:
    """The part's value as text: lists joined with commas, anything else cast to VARCHAR."""
    column = exp.column(text.column, table=aliases[text.prompt] if text.prompt else "s")
    if _is_list(loaded, text, prompts):
        return exp.func("ARRAY_TO_STRING", column, exp.Literal.string(", "), dialect=DIALECT)
    return exp.cast(column, exp.DataType.build("VARCHAR"))


def _is_list(loaded: LoadedProject, text: SearchText, prompts: dict[str, Prompt]) -> bool:
    if text.prompt:
        return dict(output_columns(prompts[text.prompt])).get(text.column) == "ARRAY"
    return any(s.item.name.lower() == text.column and s.item.match == "all" for s in loaded.segmentations)


def _part(text: SearchText, value: exp.Expression) -> exp.Expression:
    """`label: value` and a line break, or '' when the value is NULL or blank (|| gives NULL on a NULL
    operand on both engines; CONCAT_WS would not: Snowflake's returns NULL if any argument is NULL,
    DuckDB's skips it). https://docs.snowflake.com/en/sql-reference/functions/concat_ws"""
    line = exp.DPipe(this=exp.DPipe(this=exp.Literal.string(f"{text.label}: "), expression=value.copy(), safe=True),
                     expression=exp.Literal.string(PART_SEPARATOR), safe=True)
    blank = exp.func("TRIM", value.copy()).eq(exp.Literal.string(""))
    return exp.Case(ifs=[exp.If(this=blank, true=exp.Literal.string(""))], default=exp.func("COALESCE", line, exp.Literal.string("")))


def text_hash(model: str, text: exp.Expression) -> exp.Expression:
    """The version of an embedding: its model and its text (a new model re-embeds everyone)."""
    return exp.func("MD5", exp.DPipe(this=exp.Literal.string(f"{model}|"), expression=text, safe=True))


def embed_call(model: str, text: exp.Expression) -> exp.Expression:
    return exp.func(EMBED_FUNCTION, exp.Literal.string(model), text, dialect=DIALECT)


def embedding_merge(texts: exp.Select, output: str, key: str, model: str, max_rows: int) -> exp.Merge:
    """MERGE INTO the embeddings table the embedding of customers whose text or model changed, and
    drop the vector of a customer whose text became blank (search would otherwise still find it by
    text it no longer has).

    Blank text is never sent; a NULL embedding (a failed call) is never stored, so the customer
    stays pending for the next run."""
    text = exp.column("text_value", table="t")
    stored = exp.column("input_hash", table="o")
    changed = exp.and_(_blank(text).not_(), exp.or_(stored.is_(exp.null()), stored.copy().neq(text_hash(model, text.copy()))))
    emptied = exp.and_(_blank(text), stored.copy().is_(exp.null()).not_())
    pending = (
        exp.select(exp.column(key, table="t"), exp.alias_(text_hash(model, text.copy()), "input_hash"), exp.column("text_value", table="t"))
        .from_(exp.Subquery(this=texts, alias=exp.TableAlias(this=exp.to_identifier("t"))))
        .join(exp.alias_(table(output), "o", table=True), on=exp.column(key, table="o").eq(exp.column(key, table="t")), join_type="left")
        .where(exp.or_(changed, emptied))
        .order_by(exp.column(key, table="t"))
        .limit(max_rows)
    )
    vector = exp.Case(ifs=[exp.If(this=_blank(exp.column("text_value", table="p")), true=exp.null())], default=embed_call(model, exp.column("text_value", table="p")))
    embedded = exp.select(
        exp.column(key, table="p"), exp.column("input_hash", table="p"), exp.column("text_value", table="p"), exp.alias_(vector, "embedding"),
    ).from_(exp.Subquery(this=pending, alias=exp.TableAlias(this=exp.to_identifier("p"))))
    kept = exp.select(exp.Star()).from_(exp.Subquery(this=embedded, alias=exp.TableAlias(this=exp.to_identifier("r")))).where(
        exp.or_(exp.column("embedding", table="r").is_(exp.null()).not_(), _blank(exp.column("text_value", table="r")))
    )
    model_literal = exp.Literal.string(model)
    updates = [
        exp.EQ(this=exp.column("input_hash", table="e"), expression=exp.column("input_hash", table="x")),
        exp.EQ(this=exp.column("model", table="e"), expression=model_literal.copy()),
        exp.EQ(this=exp.column(TEXT_COLUMN, table="e"), expression=exp.column("text_value", table="x")),
        exp.EQ(this=exp.column("embedding", table="e"), expression=exp.column("embedding", table="x")),
        exp.EQ(this=exp.column("embedded_at", table="e"), expression=utc_now()),
    ]
    inserted = [key, "input_hash", "model", TEXT_COLUMN, "embedding", "embedded_at"]
    values = [exp.column(key, table="x"), exp.column("input_hash", table="x"), model_literal.copy(), exp.column("text_value", table="x"), exp.column("embedding", table="x"), utc_now()]
    blank = _blank(exp.column("text_value", table="x"))
    return exp.Merge(
        this=exp.alias_(table(output), "e", table=True),
        using=exp.Subquery(this=kept, alias=exp.TableAlias(this=exp.to_identifier("x"))),
        on=exp.column(key, table="e").eq(exp.column(key, table="x")),
        whens=exp.Whens(expressions=[
            exp.When(matched=True, condition=blank.copy(), then=exp.var("DELETE")),
            exp.When(matched=True, then=exp.Update(expressions=updates)),
            exp.When(matched=False, condition=blank.copy().not_(), then=exp.Insert(this=exp.Tuple(expressions=[exp.column(c) for c in inserted]), expression=exp.Tuple(expressions=values))),
        ]),
    )


def _blank(text: exp.Expression) -> exp.Expression:
    return exp.func("TRIM", text.copy()).eq(exp.Literal.string(""))
