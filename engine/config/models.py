"""The project as frozen pydantic models: the shape of rulectl.yml, rules/*.yml and prompts/*.yml.

Shape checks live here; checks that need the whole project (names, expressions, placeholders)
live in engine.config.semantics.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.config.cortex import DEFAULT_MODEL, PROPERTY_NAME, PROPERTY_NAME_RULE
from engine.config.model_catalog import CATALOG

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
QUALIFIED_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){1,2}$")

# Words Snowflake reserves: a metric or column named like this would need quoting everywhere.
# https://docs.snowflake.com/en/sql-reference/reserved-keywords
RESERVED_WORDS = frozenset(
    """account all alter and any as between by case cast check column connect connection constraint
    create cross current current_date current_time current_timestamp current_user database delete
    distinct drop else exists false following for from full grant group gscluster having ilike in
    increment inner insert intersect into is issue join lateral left like localtime localtimestamp
    minus natural not null of on or order organization qualify regexp revoke right rlike row rows
    sample schema select set some start table tablesample then to trigger true try_cast union unique
    update using values view when whenever where with""".split()
)


def check_identifier(value: str, what: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(f"{what} `{value}` is not a valid identifier: use letters, digits and _ and start with a letter")
    if value.lower() in RESERVED_WORDS:
        raise ValueError(f"{what} `{value}` is a reserved SQL word; pick another name (e.g. `{value}_value`)")
    return value


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Environment variables the Snowflake connector / CLI or rulectl read for themselves.
# https://docs.snowflake.com/en/developer-guide/snowflake-cli/connecting/configure-connections
PROTECTED_ENV_PREFIXES = ("SNOWFLAKE_", "SF_", "RULECTL_")
PROTECTED_ENV_NAMES = frozenset({"PRIVATE_KEY_PASSPHRASE", "SNOWSQL_PWD", "SNOWSQL_PRIVATE_KEY_PASSPHRASE"})


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)


# ---------------------------------------------------------------- rulectl.yml


class LLMSettings(Model):
    """Who answers prompts on a local target, and how hard rulectl tries."""

    provider: Literal["offline", "openai", "local"] = Field("offline", description="Who answers prompts on this target: `offline` writes labelled stand-in text; `openai` calls an OpenAI-compatible endpoint (Ollama, vLLM, OpenAI); `local` runs a GGUF model in-process with llama.cpp (`pip install 'rulectl[local-llm]'`).")
    base_url: str | None = Field(None, description="Endpoint of an OpenAI-compatible API, e.g. http://localhost:11434/v1 (required for `openai`).")
    model: str | None = Field(None, description="Model the endpoint serves, used when `model_map` has no entry for the prompt's model; with `local`, a catalog name (`rulectl model list`) or the path of a GGUF file (relative to the project).")
    model_map: dict[str, str] = Field(default_factory=dict, description="Prompt model → endpoint model, e.g. `llama3.1-8b: llama3.1`.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Name of the environment variable holding the API key (never the key itself).")
    concurrency: int = Field(8, ge=1, le=256, description="Model calls in flight at once.")
    timeout_seconds: float = Field(60.0, gt=0, le=600, description="Seconds before a model call is abandoned (the row stays pending).")
    retries: int = Field(2, ge=0, le=10, description="Retries of a failed model call before the row is left for the next run.")
    threads: int | None = Field(None, ge=1, le=256, description="`local`: CPU threads llama.cpp uses (default: the cores not busy with other work when the run starts).")
    context: int = Field(4096, ge=512, le=131072, description="`local`: tokens of context per request (prompt plus reply).")
    parallel: int = Field(1, ge=1, le=64, description="`local`: requests the model answers at once (each gets `context` tokens of memory).")
    embedding_model: str | None = Field(None, description="Model the endpoint's /embeddings serves for semantic search (with `openai`); without it a local target embeds with rulectl's offline word-hashing embedder.")

    @field_validator("api_key_env")
    @classmethod
    def _key_variable(cls, value: str) -> str:
        """The key is sent as a bearer token to `base_url`: it must not be able to name a secret
        that belongs to Snowflake (the connector and the Snowflake CLI read SNOWFLAKE_* and
        PRIVATE_KEY_PASSPHRASE) or to rulectl itself (RULECTL_*)."""
        if not ENV_NAME.match(value):
            # the value is not echoed: it may be the key itself, pasted in by mistake
            raise ValueError("api_key_env is not an environment variable name (letters, digits, _): name the variable that holds the key, never the key itself")
        upper = value.upper()
        if upper.startswith(PROTECTED_ENV_PREFIXES) or upper in PROTECTED_ENV_NAMES:
            raise ValueError(
                f"api_key_env `{value}` names a Snowflake or rulectl setting, which would be sent to `base_url` as the LLM key; "
                "put the LLM key in its own variable (e.g. OPENAI_API_KEY)"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _local_concurrency(cls, data):
        """A local model answers `parallel` requests at once: more calls in flight would only queue
        inside llama.cpp and run into their timeouts, so concurrency follows parallel unless set."""
        if isinstance(data, dict) and data.get("provider") == "local" and "concurrency" not in data and isinstance(data.get("parallel", 1), int):
            return {**data, "concurrency": data.get("parallel", 1)}
        return data

    @model_validator(mode="after")
    def _openai_needs_endpoint(self) -> "LLMSettings":
        if self.provider == "openai" and not self.base_url:
            raise ValueError("provider `openai` needs `base_url` (e.g. http://localhost:11434/v1 for Ollama)")
        if self.provider == "local":
            if not self.model:
                raise ValueError("provider `local` needs `model`: a catalog name (e.g. qwen2.5-coder-0.5b; `rulectl model list`) or the path of a GGUF file")
            if self.base_url:
                raise ValueError("provider `local` serves the model itself: remove `base_url` (or use `provider: openai` for a server you run)")
            if self.model_map:
                raise ValueError("provider `local` answers every prompt with its one `model`: remove `model_map`")
            if not self.model.lower().endswith(".gguf") and not self.model in CATALOG:
                raise ValueError(f"model `{self.model}` is neither a catalog model ({', '.join(CATALOG)}) nor a path ending in .gguf")
        elif any(name in self.model_fields_set for name in ("threads", "context", "parallel")):
            raise ValueError("`threads`, `context` and `parallel` are settings of `provider: local`; remove them or set provider: local")
        if self.embedding_model and self.provider != "openai":
            raise ValueError("`embedding_model` is served by an endpoint: set `provider: openai` and `base_url` too, or remove it (the offline embedder needs no model)")
        return self


class Target(Model):
    """A place rulectl deploys to: a local DuckDB file or a Snowflake database."""

    engine: Literal["duckdb", "snowflake"] = Field(description="`duckdb`: a local file; `snowflake`: a Snowflake account.")
    path: str | None = Field(None, description="DuckDB file, relative to the project (default .rulectl/<target>.duckdb).")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="Who answers prompts on a local target.")
    connection: str | None = Field(None, description="Section of ~/.snowflake/connections.toml or config.toml, as the Snowflake CLI names it.")
    database: str | None = Field(None, description="Snowflake database rulectl deploys into (required for snowflake).")
    warehouse: str | None = Field(None, description="Warehouse the refresh tasks run on (default: the connection's).")
    role: str | None = Field(None, description="Snowflake role to use (default: the connection's).")
    task_state: Literal["started", "suspended"] = Field("started", description="State refresh tasks are left in after apply, unless a prompt says otherwise.")
    # Refresh tasks run on `warehouse`, else on the connection's warehouse. Serverless tasks bill
    # differently and need the EXECUTE MANAGED TASK privilege, so they are only used when asked for.
    # https://docs.snowflake.com/en/user-guide/tasks-intro (serverless vs user-managed compute)
    serverless_tasks: bool = Field(False, description="Run refresh tasks serverless instead of on a warehouse.")
    # Opt-in: a CREATE SEMANTIC VIEW needs the CREATE SEMANTIC VIEW privilege on the schema.
    # https://docs.snowflake.com/en/user-guide/views-semantic/sql (privileges)
    semantic_view: bool = Field(False, description="Also deploy a Snowflake semantic view (CUSTOMER_SEMANTICS) of the metrics and segmentations, for BI tools and Cortex Analyst.")

    @field_validator("database", "warehouse", "role")
    @classmethod
    def _snowflake_names(cls, value: str | None) -> str | None:
        if value is not None and not IDENTIFIER.match(value):
            raise ValueError(f"`{value}` is not a plain Snowflake name (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _engine_settings(self) -> "Target":
        if self.engine == "snowflake" and not self.database:
            raise ValueError("a snowflake target needs `database:` (the database rulectl deploys into)")
        if self.serverless_tasks and self.warehouse:
            raise ValueError("`serverless_tasks: true` and `warehouse:` contradict each other: tasks run either serverless or on a warehouse; remove one")
        if self.semantic_view and self.engine != "snowflake":
            raise ValueError("`semantic_view: true` needs a snowflake target (DuckDB has no semantic views); remove it here, or export for BI tools with `rulectl export`")
        return self


class Schemas(Model):
    """The schemas rulectl creates and manages."""

    analytics: str = Field("ANALYTICS", description="Schema of the metrics and segments views.")
    ai: str = Field("AI", description="Schema of the AI output tables and refresh tasks.")

    @field_validator("analytics", "ai")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return check_identifier(value, "schema")


class Sentiment(Model):
    """Sentiment of a text column, one score per source row, materialized by rulectl."""

    text: str = Field(description="The text column to score (e.g. a ticket body or a survey answer).")
    schedule: str = Field("USING CRON 0 6 * * * UTC", description="When the scoring task runs: `USING CRON <5 fields> <time zone>` or `<n> MINUTES`.")
    max_rows: int = Field(10_000, ge=1, le=10_000_000, description="Cost guard: most rows scored per run.")
    batch_rows: int = Field(500, ge=1, le=100_000, description="Rows per committed batch.")


class Enrichments(Model):
    """Row-level AI functions on a source; each becomes a table keyed like the source and a
    derived source (`<source>_<function>`) that metrics aggregate like any other."""

    sentiment: Sentiment | None = Field(None, description="Score a text column from −1 (negative) to 1 (positive): Cortex SENTIMENT on Snowflake, the local VADER analyser on DuckDB.")


class Search(Model):
    """Semantic customer search: an embedding of each customer's chosen text, kept by rulectl."""

    text: list[str] = Field(min_length=1, max_length=20, description="What is embedded per customer, in order: prompt fields (`account_summary.summary`), prompt replies (`account_summary`), metrics or customer columns.")
    model: str = Field("snowflake-arctic-embed-m-v1.5", description="Cortex AI_EMBED model (768 dimensions) on Snowflake; changing it re-embeds every customer.")
    schedule: str = Field("USING CRON 0 7 * * * UTC", description="When the embedding task runs: `USING CRON <5 fields> <time zone>` or `<n> MINUTES`.")
    max_rows: int = Field(10_000, ge=1, le=10_000_000, description="Cost guard: most customers embedded per run.")
    # Each batch re-reads the text query (the segments view) once, ~0.1 s at 20,000 customers: an
    # embedding is cheap, so batches are larger than a prompt's (bench/search.py: 500 → 5.5 s, 2,000 → 2.6 s).
    batch_rows: int = Field(2000, ge=1, le=100_000, description="Customers per committed batch.")
    demo_query: str | None = Field(None, min_length=1, max_length=500, description="A search `rulectl demo` runs to show what search finds, e.g. \"unhappy with support, may not renew\".")


class ValueRange(Model):
    """The values a column can hold, as the analyst knows them; lint's solver keeps its example
    customers inside them (rulectl does not check the data against them)."""

    min: float | None = Field(None, description="Smallest value the column holds, e.g. 0 for seats.")
    max: float | None = Field(None, description="Largest value the column holds.")

    @model_validator(mode="after")
    def _ordered(self) -> "ValueRange":
        if self.min is None and self.max is None:
            raise ValueError("give `min:`, `max:` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"`min` {self.min:g} is above `max` {self.max:g}")
        return self


class LoadChecks(Model):
    """What a load does with rows it would change or lose silently: warn (the default) or refuse."""

    truncated: Literal["warn", "refuse"] = Field("warn", description="A value cut to the declared type (753.15 into an integer column).")
    orphans: Literal["warn", "refuse"] = Field("warn", description="Rows whose customer key matches no customer (they count in no metric).")


class Lookup(Model):
    """A table with no customer in it (currency rates, a calendar, a price list): one row per value
    of `key`, read by the sources that `join:` it."""

    key: str = Field(description="The column with one row per value (e.g. `currency`); sources join the lookup on it.")


class Source(Model):
    """A table rulectl reads, its grain and its columns."""

    table: str = Field(description="SCHEMA.TABLE or DATABASE.SCHEMA.TABLE the source reads.")
    key: str | None = Field(None, description="Customer key column when the table has one row per customer.")
    grain: list[str] | None = Field(None, description="Columns of a finer grain, e.g. [customer_id, module] or a table's own [ticket_id]: aggregated to the customer before any join.")
    customer_key: str | None = Field(None, description="Grain source: the column that holds the customer's key when it is not named like the entity's key (e.g. `account_id`); may be a column a `join:` brings.")
    lookup: Lookup | None = Field(None, description="A table without customers, one row per `key` value (e.g. `{key: currency}`), that other sources `join:`.")
    join: dict[str, str] = Field(default_factory=dict, description="Lookups (or sources with a one-column grain) this source joins, as `source: column of this source that holds its key`, e.g. `{rates: currency}`: their columns become columns of this source.")
    columns: dict[str, str] = Field(description="Column name → Snowflake type (varchar, integer, number(12,2), date, …).")
    sample: str | None = Field(None, description="CSV file with sample rows that `rulectl load` puts into a local target.")
    description: str | None = Field(None, description="What this is, for the people who read the YAML.")
    ranges: dict[str, ValueRange] = Field(default_factory=dict, description="Column → the values it can hold, e.g. `seats: {min: 0}`: lint's example customers stay inside them (sums of a column that is never negative are never negative).")
    checks: LoadChecks = Field(default_factory=LoadChecks, description="`rulectl load`: warn or refuse when a value is cut to its declared type or a row matches no customer.")
    enrich: Enrichments | None = Field(None, description="Row-level AI functions rulectl materializes for this source, e.g. `sentiment: {text: body}`; metrics read them from the source `<name>_sentiment`.")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        if not QUALIFIED_TABLE.match(value):
            raise ValueError(f"table `{value}` must be SCHEMA.TABLE or DATABASE.SCHEMA.TABLE")
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("a source needs at least one column")
        for name in value:
            check_identifier(name, "column")
        return value

    @model_validator(mode="after")
    def _grain(self) -> "Source":
        if [self.key, self.grain, self.lookup].count(None) != 2:
            raise ValueError("give a source exactly one of `key:` (one row per customer), `grain:` (e.g. [customer_id, module] or [ticket_id]) "
                             "or `lookup: {key: …}` (a table without customers, e.g. currency rates)")
        what = "lookup key" if self.lookup else "key" if self.key else "grain column"
        for column in [self.key] if self.key else [self.lookup.key] if self.lookup else list(self.grain or []):
            if column not in self.columns:
                raise ValueError(f"{what} `{column}` is not one of the source's columns ({', '.join(self.columns)})")
        if self.customer_key is not None and self.grain is None:
            raise ValueError("`customer_key:` names the customer column of a `grain:` source; " + (
                "a lookup has no customers: remove it" if self.lookup else "on a `key:` source the key is the customer key: remove `customer_key:`"))
        if self.lookup is not None and self.enrich is not None:
            raise ValueError("`enrich:` scores rows per customer; a lookup has no customers: enrich the source that joins it")
        return self


class SizeMetric(Model):
    """The metric that sizes and orders segments (e.g. revenue), and how to print it."""

    metric: str = Field(description="Metric that sizes and orders segments (e.g. revenue).")
    format: Literal["currency", "number", "percent"] = Field("number", description="How the metric is printed.")
    currency: str = Field("USD", pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code for `format: currency` (USD, EUR, GBP, …): $, €, £ … or the code after the amount.")
    label: str | None = Field(None, description="Column heading (default: the metric name).")


class Display(Model):
    """How customers are shown in insights, summaries and plans. Every name is validated against the
    project (a column of the entity source or a metric); nothing here is ever assumed by the engine."""

    name: str | None = Field(None, description="Column of the entity source that names a customer (default: the key).")
    size: SizeMetric | None = Field(None, description="Metric that sizes segments (default: customer count only).")
    columns: list[str] = Field(default_factory=list, description="Columns or metrics shown beside each insight.")


class ModelPrice(Model):
    """What a model costs, for plan's estimate."""

    credits_per_million_tokens: float = Field(gt=0, description="Snowflake credits per million tokens for this model.")


class Project(Model):
    """rulectl.yml: targets, schemas, sources, display and pricing."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$", description="Project name; part of the ownership tag on every object rulectl manages.")
    default_target: str = Field("local", description="Target used when a command gets no --target.")
    entity: str | None = Field(None, description="Key-grain source that lists every customer once (default: the first with `key:`).")
    targets: dict[str, Target] = Field(description="Where rulectl deploys: name → target.")
    schemas: Schemas = Field(default_factory=Schemas, description="Schemas rulectl creates and manages.")
    sources: dict[str, Source] = Field(description="Tables rulectl reads: name → source.")
    display: Display = Field(default_factory=Display, description="How customers are shown in insights, summaries and plans.")
    search: Search | None = Field(None, description="Semantic customer search (`rulectl search`): which text of each customer is embedded, and by which model.")
    pricing: dict[str, ModelPrice] = Field(default_factory=dict, description="Model → price, for the AI cost estimate in plan.")
    credit_price_usd: float = Field(3.0, gt=0, description="US dollars per Snowflake credit, for cost estimates.")

    @field_validator("sources")
    @classmethod
    def _source_names(cls, value: dict[str, Source]) -> dict[str, Source]:
        for name in value:
            check_identifier(name, "source")
        if not any(source.key for source in value.values()):
            raise ValueError("at least one source needs `key:`: the first such source lists every customer")
        return value


# ---------------------------------------------------------------- rules/*.yml


class Metric(Model):
    """A per-customer figure: an aggregate of a source, or a formula of other metrics."""

    name: str = Field(description="Metric name: a column of the customer_metrics view, usable in rules and prompts.")
    description: str | None = Field(None, description="What this is, for the people who read the YAML.")
    source: str | None = Field(None, description="Source the metric aggregates; leave out for a metric derived from other metrics.")
    expr: str = Field(description="SQL expression (Snowflake dialect): an aggregate over a grain source, a row expression over a key source, or a formula of other metrics.")
    filter: str | None = Field(None, description="Row condition applied before aggregating, e.g. status = 'active'.")
    default: float | int | None = Field(None, description="Value for customers with no rows in the source (counts default to 0).")
    format: Literal["number", "percent", "currency"] | None = Field(None, description="How the metric is written into prompts: `number` (trailing zeros dropped), `percent` (a ratio: 0.25 → 25%), `currency` (fixed cents, with `currency:`'s sign or code).")
    decimals: int | None = Field(None, ge=0, le=9, description="Decimals the metric is rounded to in prompts (default: 2; percent 1; currency its minor units).")
    currency: str | None = Field(None, description="ISO 4217 code for `format: currency` (default USD): $, €, £ … or the code after the amount.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier(value, "metric name")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None, info) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]{3}", value):
            raise ValueError(f"`{value}` is not a currency code; write the three-letter ISO 4217 code (USD, EUR, GBP, CHF, JPY …)")
        if value is not None and info.data.get("format") != "currency":
            raise ValueError(f"`currency: {value}` only applies to `format: currency`; add `format: currency` or remove `currency:`")
        return value


class SegmentRule(Model):
    """One rule: a label and the condition that earns it."""

    segment: str = Field(min_length=1, max_length=200, description="Label a matching customer gets.")
    when: str = Field(description="SQL condition over metrics, customer columns and the labels of other `match: first` segmentations (e.g. `risk <> 'Churn risk'`); NULL counts as not matching.")
    action: str | None = Field(None, description="Recommended action for customers in this segment (match: first).")
    overlaps: list[str] = Field(default_factory=list, description="Labels of earlier rules this one deliberately shares customers with (match: first: the earlier rule takes them); lint reports those overlaps as known, not as warnings.")
    description: str | None = Field(None, description="What this is, for the people who read the YAML.")


class Segmentation(Model):
    """Ordered rules that label customers."""

    name: str = Field(description="Segmentation name: a column of the customer_segments view.")
    description: str | None = Field(None, description="What this is, for the people who read the YAML.")
    match: Literal["first", "all"] = Field("first", description="`first`: the first matching rule wins (one label); `all`: every matching rule applies (a list).")
    rules: list[SegmentRule] = Field(min_length=1, description="Rules in order.")
    default: str | None = Field(None, description="Label when no rule matches (match: first only).")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier(value, "segmentation name")

    @model_validator(mode="after")
    def _default_only_for_first(self) -> "Segmentation":
        if self.match == "all" and self.default is not None:
            raise ValueError("`default:` applies to `match: first` only; `match: all` gives an empty list when nothing matches")
        return self


class RulesFile(Model):
    """rules/*.yml: metrics and segmentations."""

    metrics: list[Metric] = Field(default_factory=list, description="Per-customer metrics.")
    segmentations: list[Segmentation] = Field(default_factory=list, description="Segmentations: ordered rules that label customers.")


# ---------------------------------------------------------------- prompts/*.yml


class CompletionOptions(Model):
    """Options sent with every completion."""

    temperature: float | None = Field(None, ge=0, le=1, description="Sampling temperature (0–1).")
    top_p: float | None = Field(None, ge=0, le=1, description="Nucleus sampling share (0–1).")
    max_tokens: int | None = Field(None, ge=1, le=8192, description="Longest reply, in tokens.")


class Refresh(Model):
    """When the refresh task runs and how many rows it may enrich."""

    schedule: str = Field("USING CRON 0 6 * * * UTC", description="Task schedule: `USING CRON <5 fields> <time zone>` or `<n> MINUTES`.")
    only_changed: bool = Field(True, description="Enrich only rows whose inputs or prompt version changed.")
    max_rows: int = Field(1000, ge=1, le=10_000_000, description="Cost guard: most rows enriched per run.")
    batch_rows: int = Field(50, ge=1, le=100_000, description="Rows per committed batch: an interrupted or failing run keeps every batch before it.")
    state: Literal["started", "suspended"] | None = Field(None, description="Task state after apply (default: the target's task_state).")
    # What decides re-enrichment (issue 22): the model still sees every placeholder; only the input
    # hash, which `only_changed` compares with the stored one, is made of these inputs.
    when_changed: list[str] | None = Field(None, min_length=1, description="Input columns whose change re-enriches a row (e.g. [account_tier, opportunities, total_arr]); other placeholders are still sent but a change in them alone re-enriches nobody.")
    ignore_changes: list[str] | None = Field(None, min_length=1, description="Placeholders whose change alone never re-enriches a row (e.g. [days_to_renewal], which changes every day); the inverse of `when_changed`.")
    max_age: int | None = Field(None, ge=1, le=3650, description="Re-enrich a row anyway when its stored reply is older than this many days.")
    max_credits: float | None = Field(None, gt=0, le=1_000_000, description="Budget per run in Snowflake credits: pending rows are taken in order while their estimated cost (input at 4 characters a token plus max_tokens of output, priced by the cost table or `pricing:`) fits; the rest wait for the next run.")

    @model_validator(mode="after")
    def _one_decision_list(self) -> "Refresh":
        if self.when_changed is not None and self.ignore_changes is not None:
            raise ValueError("give `when_changed` (the inputs that decide) or `ignore_changes` (the inputs that do not), not both")
        return self


class Variant(Model):
    """One variant of a prompt experiment."""

    name: str = Field(description="Variant name, stored with every reply.")
    weight: int = Field(ge=0, le=100, description="Share of customers (percent); the weights add up to 100.")
    template: str | None = Field(None, description="This variant's template (default: the prompt's).")
    system: str | None = Field(None, description="This variant's system text (default: the prompt's).")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier(value, "variant name")


class Experiment(Model):
    """A/B test of prompt variants, assigned by a salted hash of the key."""

    salt: str = Field(min_length=1, description="Salt of the variant hash; a new salt reshuffles customers between variants.")
    variants: list[Variant] = Field(min_length=1, description="Variants and their weights.")
    outcome: str | None = Field(None, description="Boolean column of the input compared per variant in `experiment report`.")

    @field_validator("variants")
    @classmethod
    def _weights(cls, variants: list[Variant]) -> list[Variant]:
        total = sum(variant.weight for variant in variants)
        if total != 100:
            raise ValueError(f"variant weights add up to {total}; they must add up to 100")
        return variants


class OutputField(Model):
    """One typed field of a structured reply: a column of the output table, checked before storing."""

    type: Literal["text", "number", "integer", "boolean", "label", "list"] = Field(
        description="text, number, integer, boolean, label (one of `labels`) or list (of text)."
    )
    description: str | None = Field(None, max_length=1000, description="What the model should put here (sent in the JSON schema).")
    max_length: int | None = Field(None, ge=1, le=100_000, description="text: at most this many characters.")
    minimum: float | None = Field(None, description="number, integer: the smallest allowed value.")
    maximum: float | None = Field(None, description="number, integer: the largest allowed value.")
    labels: list[str] | None = Field(None, min_length=1, description="label: the allowed values.")
    max_items: int | None = Field(None, ge=1, le=1000, description="list: at most this many items.")

    @model_validator(mode="after")
    def _settings_fit_the_type(self) -> "OutputField":
        allowed = {"text": {"max_length"}, "number": {"minimum", "maximum"}, "integer": {"minimum", "maximum"}, "label": {"labels"}, "list": {"max_items"}, "boolean": set()}[self.type]
        for setting in ("max_length", "minimum", "maximum", "labels", "max_items"):
            if getattr(self, setting) is not None and setting not in allowed:
                raise ValueError(f"`{setting}` does not apply to a {self.type} field" + (f" (it takes {', '.join(sorted(allowed))})" if allowed else ""))
        if self.type == "label" and not self.labels:
            raise ValueError("a label field needs `labels:` (the values the model may choose from)")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("`labels` lists a value twice")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"`minimum` {self.minimum} is above `maximum` {self.maximum}")
        return self


class Prompt(Model):
    """prompts/*.yml: one prompt template, its model, output table, refresh schedule and experiment."""

    name: str = Field(description="Prompt name, stored with every reply.")
    description: str | None = Field(None, description="What this is, for the people who read the YAML.")
    input: str = Field(description="View the prompt reads: customer_metrics or customer_segments.")
    key: str = Field(description="Column of the input that identifies a customer.")
    model: str = Field(DEFAULT_MODEL, description="Cortex model name for AI_COMPLETE (mapped by the local provider's model_map); a retired or legacy model is a validate warning.")
    options: CompletionOptions = Field(default_factory=CompletionOptions, description="Completion options.")
    system: str | None = Field(None, description="System text sent before the template.")
    template: str = Field(min_length=1, description="Prompt text; {column} placeholders name columns of the input.")
    output: str = Field(description="Table in the ai schema that keeps the replies.")
    refresh: Refresh = Field(default_factory=Refresh, description="When and how much to enrich.")
    experiment: Experiment | None = Field(None, description="A/B variants of the prompt.")
    outputs: dict[str, OutputField] | None = Field(
        None, description="Structured reply: field name → type. Sent as a JSON schema; each field becomes a typed column."
    )

    @field_validator("outputs")
    @classmethod
    def _output_names(cls, value: dict[str, OutputField] | None) -> dict[str, OutputField] | None:
        if value is not None and not value:
            raise ValueError("`outputs:` needs at least one field (or leave it out for a free-text reply)")
        for name in value or {}:
            check_identifier(name, "output field")
            # Cortex's property-name rule (config/cortex.py): a longer name fails every call
            if not PROPERTY_NAME.match(name):
                raise ValueError(f"output field `{name}` is not a name Cortex structured outputs accept ({PROPERTY_NAME_RULE})")
        return value

    @field_validator("name", "output", "key")
    @classmethod
    def _identifiers(cls, value: str) -> str:
        return check_identifier(value, "name")


# ---------------------------------------------------------------- tests/*.yml

Scalar = str | int | float | bool | datetime | date | None


class RuleTest(Model):
    """One rule test: given source rows, the metrics and segments expected for some customers."""

    name: str = Field(min_length=1, description="What the test shows, in a sentence.")
    description: str | None = Field(None, description="What this is, for the people who read the YAML.")
    today: date | None = Field(None, description="Date CURRENT_DATE stands for in the test (default: the file's `today:`, else the real date).")
    given: dict[str, list[dict[str, Scalar]]] = Field(default_factory=dict, description="Source name → its rows (column: value); sources left out are empty.")
    expect: list[dict[str, Scalar | list[str]]] = Field(min_length=1, description="Expected customers: the key, then metric, column or segmentation → value (a list for match: all).")


class RuleTestsFile(Model):
    """tests/*.yml: rule tests that `rulectl test` runs on an in-memory DuckDB."""

    today: date | None = Field(None, description="Date CURRENT_DATE stands for in the test (default: the file's `today:`, else the real date).")
    tests: list[RuleTest] = Field(min_length=1, description="Rule tests.")
