"""Row-level enrichments (`enrich:` on a source) seen as sources of their own.

`sentiment: {text: body}` on source `tickets` makes rulectl keep a table `<ai>.TICKETS_SENTIMENT`
keyed like `tickets` (its key or grain columns plus `sentiment`), and adds the derived source
`tickets_sentiment` over it, so metrics aggregate the score like any column
(`source: tickets_sentiment`, `expr: AVG(sentiment)`) and rules read those metrics.
"""

from __future__ import annotations

from engine.config.models import Project, Source

SENTIMENT_COLUMN = "sentiment"
SENTIMENT_TYPE = "float"


def sentiment_source_name(source: str) -> str:
    return f"{source}_{SENTIMENT_COLUMN}"


def sentiment_table(project: Project, source: str) -> str:
    return f"{project.schemas.ai}.{sentiment_source_name(source)}".upper()


def join_columns(source: Source) -> list[str]:
    """The columns that identify one row of `source`: its key, or its grain."""
    return [source.key] if source.key else list(source.grain or [])


def sentiment_sources(project: Project) -> dict[str, str]:
    """Derived source name → the source whose text it scores, for every `enrich: {sentiment: …}`."""
    return {sentiment_source_name(name): name for name, source in project.sources.items() if source.enrich and source.enrich.sentiment}


def enrichment_tasks(project: Project) -> dict[str, int]:
    """Refresh tasks that are not prompts, by the name `rulectl run` takes → rows per batch: each
    sentiment enrichment (`<source>_sentiment`) and the search embeddings (`customer_embeddings`)."""
    from engine.config.search import SEARCH_TASK

    tasks = {name: project.sources[parent].enrich.sentiment.batch_rows for name, parent in sentiment_sources(project).items()}
    if project.search is not None:
        tasks[SEARCH_TASK] = project.search.batch_rows
    return tasks


def run_stage(project: Project, task_name: str) -> int:
    """When a refresh task runs among those run together: sentiment scores first (prompts and
    metrics read them), prompts next, the search embeddings last (they embed prompt replies)."""
    from engine.config.search import SEARCH_TASK

    name = task_name.upper().removeprefix("REFRESH_").lower()
    return 2 if project.search is not None and name == SEARCH_TASK else 0 if name in sentiment_sources(project) else 1


def is_derived(project: Project, name: str) -> bool:
    """True for a source rulectl made from an enrichment (not declared in rulectl.yml)."""
    parent = sentiment_sources(project).get(name)
    return parent is not None and project.sources[name].table == sentiment_table(project, parent)


def declared_sources(project: Project) -> dict[str, Source]:
    """The sources written in rulectl.yml: the tables rulectl reads but does not make."""
    return {name: source for name, source in project.sources.items() if not is_derived(project, name)}


def derived_source(project: Project, name: str) -> Source:
    """The score table as a source. When the customer key is not among the columns that identify a
    row (a ticket source at its own grain [ticket_id] with an `account_id` column), the scores join
    their parent source on its one-column grain to find the customer at read time, so a ticket moved
    to another account counts for the new one without being scored again."""
    from engine.config.source_keys import customer_column, unique_key

    source = project.sources[name]
    columns = {column: source.columns[column] for column in join_columns(source)}
    columns[SENTIMENT_COLUMN] = SENTIMENT_TYPE
    customer = customer_column(project, name)
    through_parent = customer is not None and customer not in columns and customer in source.columns and unique_key(source) is not None
    return Source(
        table=sentiment_table(project, name),
        key=source.key,
        grain=source.grain,
        columns=columns,
        customer_key=customer if through_parent else None,
        join={name: unique_key(source)} if through_parent else {},
        description=f"Sentiment of `{source.enrich.sentiment.text}` per row of `{name}` (−1 negative … 1 positive), kept by rulectl",
    )


def with_enrichment_sources(project: Project) -> Project:
    """`project` with a derived source per enrichment (left alone when a source has that name already:
    validation reports the clash)."""
    derived = {name: derived_source(project, parent) for name, parent in sentiment_sources(project).items() if name not in project.sources}
    if not derived:
        return project
    return project.model_copy(update={"sources": {**project.sources, **derived}})
