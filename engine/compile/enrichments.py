"""Row-level enrichments → a table keyed like the source and a task whose MERGE scores only new or
changed rows (the MD5 of the text differs from the stored input hash), in bounded batches, the way
prompt refreshes do (the pending rows are the subquery aliased `p`, so refresh_batches, the local
runner and the Snowflake task script run it unchanged).

Snowflake: AI_SENTIMENT(text), whose overall label (positive / negative / neutral / mixed) becomes
a score of 1, −1 or 0, so rules can still average it and compare it with a threshold. Not the legacy
SNOWFLAKE.CORTEX.SENTIMENT (a −1 … 1 float): "This legacy function will be deprecated by the end of
2026", and BCR 2026_08 makes it fail in accounts marked inactive
(https://docs.snowflake.com/en/release-notes/bcr-bundles/2026_08/bcr-2432); docs/decisions.md
("Sentiment through AI_SENTIMENT"). Without categories "AI_SENTIMENT returns only the overall
sentiment", as `categories[0]`; it returns NULL on error (BCR 2184), and a NULL is never stored.
https://docs.snowflake.com/en/sql-reference/functions/ai_sentiment
The text sent is cut at SENTIMENT_MAX_CHARS (config/cortex.py): longer input is an error, which would
leave that row failing at every run.
On DuckDB rulectl's fixes turn the call into the local analyser's function (ai/local_sentiment.py).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from engine.compile.cleanup import gone_rows, removal
from engine.compile.objects import DesiredObject, table
from engine.config.cortex import SENTIMENT_MAX_CHARS
from engine.config.enrichments import SENTIMENT_COLUMN, join_columns, sentiment_sources, sentiment_table
from engine.config.project import LoadedProject
from engine.core.expressions import DIALECT, utc_now

SENTIMENT_FUNCTION = "AI_SENTIMENT"
# AI_SENTIMENT's labels → the score rules read; "unknown" (the text does not mention the category)
# stays NULL and is not stored.
LABEL_SCORES = (("positive", 1), ("negative", -1), ("neutral", 0), ("mixed", 0))
LABEL = "sentiment_label"
BOOKKEEPING = (("input_hash", "VARCHAR"), (SENTIMENT_COLUMN, "FLOAT"), ("scored_at", "TIMESTAMP_NTZ"))


def task_name(loaded: LoadedProject, derived: str) -> str:
    """`<ai>.REFRESH_<SOURCE>_SENTIMENT`: `rulectl run <source>_sentiment` runs it."""
    return f"{loaded.config.schemas.ai}.REFRESH_{derived}".upper()


def enrichment_objects(loaded: LoadedProject, warehouse: str | None, task_state: str, serverless: bool = False) -> list[DesiredObject]:
    """Per `enrich: {sentiment: …}`: its score table, then its scoring task."""
    objects: list[DesiredObject] = []
    for derived, parent in sentiment_sources(loaded.config).items():
        source = loaded.config.sources[parent]
        sentiment = source.enrich.sentiment
        output = sentiment_table(loaded.config, parent)
        keys = [(column.lower(), source.columns[column].upper()) for column in join_columns(source)]
        columns = tuple(keys) + BOOKKEEPING
        schema, name = output.split(".")
        objects.append(DesiredObject("table", schema, name, score_table_statement(output, columns), (), tuple((n, t) for n, t in columns)))
        merge = sentiment_merge(source.table, output, [k for k, _ in keys], sentiment.text.lower(), sentiment.max_rows)
        options = (
            ("schedule", sentiment.schedule.strip()),
            ("warehouse", (warehouse or "").upper()),
            ("compute", "serverless" if serverless else "warehouse"),
            ("batch_rows", str(sentiment.batch_rows)),
            ("state", task_state),
        )
        task_schema, task = task_name(loaded, derived).split(".")
        objects.append(DesiredObject(
            "task", task_schema, task, merge, (output,), (), options,
            details={"prompt": derived, "enrichment": "sentiment", "source": parent, "max_rows": sentiment.max_rows, "keys": tuple(keys)},
            removal=sentiment_removal(source.table, output, [k for k, _ in keys], sentiment.text.lower()),
        ))
    return objects


def score_table_statement(output: str, columns: tuple[tuple[str, str], ...]) -> exp.Create:
    column_defs = [exp.ColumnDef(this=exp.to_identifier(name), kind=exp.DataType.build(kind, dialect=DIALECT)) for name, kind in columns]
    return exp.Create(this=exp.Schema(this=table(output), expressions=column_defs), kind="TABLE")


def sentiment_merge(source_table: str, output: str, keys: list[str], text: str, max_rows: int) -> exp.Merge:
    """MERGE INTO the score table the sentiment of source rows whose text is new or changed.

    A row with empty text is never sent; a NULL score (a failed call) is never stored, so the row
    stays pending for the next run."""
    text_column = exp.column(text, table="s")
    text_hash = exp.func("MD5", text_column.copy())
    stored = exp.column("input_hash", table="o")
    pending = (
        exp.select(*(exp.column(k, table="s") for k in keys), exp.alias_(text_hash, "input_hash"), exp.alias_(capped_text(text_column.copy()), "text_value"))
        .from_(exp.alias_(table(source_table), "s", table=True))
        .join(exp.alias_(table(output), "o", table=True), on=_same_keys(keys, "o", "s"), join_type="left")
        .where(exp.and_(
            text_column.copy().is_(exp.null()).not_(),
            exp.func("TRIM", text_column.copy()).neq(exp.Literal.string("")),
            exp.or_(stored.is_(exp.null()), stored.copy().neq(text_hash.copy())),
        ))
        .order_by(*(exp.column(k, table="s") for k in keys))
        .limit(max_rows)
    )
    # the label is taken once per row, in its own layer: a CASE over the call would be expanded into
    # one call per WHEN by engines that rewrite a simple CASE (DuckDB does), paying several times
    scored = exp.select(*(exp.column(k, table="p") for k in keys), exp.column("input_hash", table="p"), exp.alias_(sentiment_label(exp.column("text_value", table="p")), LABEL)).from_(
        exp.Subquery(this=pending, alias=exp.TableAlias(this=exp.to_identifier("p")))
    )
    label = exp.column(LABEL, table="r")
    kept = exp.select(*(exp.column(k, table="r") for k in keys), exp.column("input_hash", table="r"), exp.alias_(label_score(label), SENTIMENT_COLUMN)).from_(
        exp.Subquery(this=scored, alias=exp.TableAlias(this=exp.to_identifier("r")))
    ).where(exp.In(this=label.copy(), expressions=[exp.Literal.string(name) for name, _ in LABEL_SCORES]))
    updates = [exp.EQ(this=exp.column(c, table="t"), expression=exp.column(c, table="x")) for c in ("input_hash", SENTIMENT_COLUMN)]
    updates.append(exp.EQ(this=exp.column("scored_at", table="t"), expression=utc_now()))
    inserted = keys + ["input_hash", SENTIMENT_COLUMN, "scored_at"]
    values = [exp.column(c, table="x") for c in keys + ["input_hash", SENTIMENT_COLUMN]] + [utc_now()]
    return exp.Merge(
        this=exp.alias_(table(output), "t", table=True),
        using=exp.Subquery(this=kept, alias=exp.TableAlias(this=exp.to_identifier("x"))),
        on=_same_keys(keys, "t", "x"),
        whens=exp.Whens(expressions=[
            exp.When(matched=True, then=exp.Update(expressions=updates)),
            exp.When(matched=False, then=exp.Insert(this=exp.Tuple(expressions=[exp.column(c) for c in inserted]), expression=exp.Tuple(expressions=values))),
        ]),
    )


def sentiment_removal(source_table: str, output: str, keys: list[str], text: str) -> exp.Delete:
    """Removes the score of a source row that was deleted or whose text became empty (the MERGE
    never sends such a row, so its old score would stay in every metric over it)."""
    text_column = exp.column(text, table="s")
    has_text = exp.and_(text_column.is_(exp.null()).not_(), exp.func("TRIM", text_column.copy()).neq(exp.Literal.string("")))
    return removal(output, keys, gone_rows(output, keys, table(source_table), present=has_text))


def capped_text(text: exp.Expression) -> exp.Expression:
    """The text as sent: at most SENTIMENT_MAX_CHARS characters."""
    return exp.func("LEFT", text, exp.Literal.number(SENTIMENT_MAX_CHARS), dialect=DIALECT)


def sentiment_label(text: exp.Expression) -> exp.Expression:
    """AI_SENTIMENT(text):categories[0]:sentiment::VARCHAR — the overall label."""
    label = sqlglot.parse_one("x:categories[0]:sentiment::VARCHAR", read=DIALECT)
    label.this.set("this", exp.Anonymous(this=SENTIMENT_FUNCTION, expressions=[text]))
    return label


def label_score(label: exp.Expression) -> exp.Expression:
    """CASE label WHEN 'positive' THEN 1 … END"""
    return exp.Case(this=label, ifs=[exp.If(this=exp.Literal.string(name), true=exp.Literal.number(score)) for name, score in LABEL_SCORES])


def _same_keys(keys: list[str], left: str, right: str) -> exp.Expression:
    return exp.and_(*(exp.column(k, table=left).eq(exp.column(k, table=right)) for k in keys))
