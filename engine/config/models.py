"""The project as frozen pydantic models: the shape of rulectl.yml, rules/*.yml and prompts/*.yml.

Shape checks live here; checks that need the whole project (names, expressions, placeholders)
live in engine.config.semantics.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    provider: Literal["offline", "openai"] = "offline"
    base_url: str | None = None
    model: str | None = None  # model the endpoint serves, used when model_map has no entry
    model_map: dict[str, str] = Field(default_factory=dict)  # e.g. snowflake-arctic: llama3.1
    api_key_env: str = "OPENAI_API_KEY"  # name of the environment variable, never the key itself
    concurrency: int = Field(8, ge=1, le=256)
    timeout_seconds: float = Field(60.0, gt=0, le=600)
    retries: int = Field(2, ge=0, le=10)

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

    @model_validator(mode="after")
    def _openai_needs_endpoint(self) -> "LLMSettings":
        if self.provider == "openai" and not self.base_url:
            raise ValueError("provider `openai` needs `base_url` (e.g. http://localhost:11434/v1 for Ollama)")
        return self


class Target(Model):
    engine: Literal["duckdb", "snowflake"]
    path: str | None = None  # duckdb file
    llm: LLMSettings = Field(default_factory=LLMSettings)
    connection: str | None = None  # section of connections.toml / config.toml
    database: str | None = None
    warehouse: str | None = None
    role: str | None = None
    task_state: Literal["started", "suspended"] = "started"
    # Refresh tasks run on `warehouse`, else on the connection's warehouse. Serverless tasks bill
    # differently and need the EXECUTE MANAGED TASK privilege, so they are only used when asked for.
    # https://docs.snowflake.com/en/user-guide/tasks-intro (serverless vs user-managed compute)
    serverless_tasks: bool = False

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
        return self


class Schemas(Model):
    analytics: str = "ANALYTICS"
    ai: str = "AI"

    @field_validator("analytics", "ai")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return check_identifier(value, "schema")


class Source(Model):
    table: str
    key: str | None = None  # key grain: one row per customer
    grain: list[str] | None = None  # finer grain, e.g. [customer_id, module]
    columns: dict[str, str]
    sample: str | None = None
    description: str | None = None

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
        if (self.key is None) == (self.grain is None):
            raise ValueError("give a source exactly one of `key:` (one row per customer) or `grain:` (e.g. [customer_id, module])")
        for column in [self.key] if self.key else list(self.grain or []):
            if column not in self.columns:
                raise ValueError(f"grain column `{column}` is not one of the source's columns ({', '.join(self.columns)})")
        return self


class SizeMetric(Model):
    """The metric that sizes and orders segments (e.g. revenue), and how to print it."""

    metric: str
    format: Literal["currency", "number", "percent"] = "number"
    label: str | None = None  # column heading; default: the metric name


class Display(Model):
    """How customers are shown in insights, summaries and plans. Every name is validated against the
    project (a column of the entity source or a metric); nothing here is ever assumed by the engine."""

    name: str | None = None  # column that names a customer; default: the key
    size: SizeMetric | None = None  # default: segments are sized by customer count only
    columns: list[str] = Field(default_factory=list)  # shown beside each insight


class ModelPrice(Model):
    credits_per_million_tokens: float = Field(gt=0)


class Project(Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")  # goes into every ownership tag
    default_target: str = "local"
    entity: str | None = None  # the key-grain source that lists every customer (default: the first)
    targets: dict[str, Target]
    schemas: Schemas = Field(default_factory=Schemas)
    sources: dict[str, Source]
    display: Display = Field(default_factory=Display)
    pricing: dict[str, ModelPrice] = Field(default_factory=dict)
    credit_price_usd: float = Field(3.0, gt=0)

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
    name: str
    description: str | None = None
    source: str | None = None  # None: derived from other metrics
    expr: str
    filter: str | None = None
    default: float | int | None = None  # value for customers with no rows in the source

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier(value, "metric name")


class SegmentRule(Model):
    segment: str = Field(min_length=1, max_length=200)
    when: str
    action: str | None = None
    description: str | None = None


class Segmentation(Model):
    name: str
    description: str | None = None
    match: Literal["first", "all"] = "first"
    rules: list[SegmentRule] = Field(min_length=1)
    default: str | None = None

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
    metrics: list[Metric] = Field(default_factory=list)
    segmentations: list[Segmentation] = Field(default_factory=list)


# ---------------------------------------------------------------- prompts/*.yml


class CompletionOptions(Model):
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=8192)


class Refresh(Model):
    schedule: str = "USING CRON 0 6 * * * UTC"
    only_changed: bool = True
    max_rows: int = Field(1000, ge=1, le=10_000_000)
    state: Literal["started", "suspended"] | None = None  # None: the target's task_state


class Variant(Model):
    name: str
    weight: int = Field(ge=0, le=100)
    template: str | None = None
    system: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier(value, "variant name")


class Experiment(Model):
    salt: str = Field(min_length=1)
    variants: list[Variant] = Field(min_length=1)
    outcome: str | None = None  # a boolean column of the input, compared per variant in the report

    @field_validator("variants")
    @classmethod
    def _weights(cls, variants: list[Variant]) -> list[Variant]:
        total = sum(variant.weight for variant in variants)
        if total != 100:
            raise ValueError(f"variant weights add up to {total}; they must add up to 100")
        return variants


class Prompt(Model):
    name: str
    description: str | None = None
    input: str
    key: str
    model: str = "snowflake-arctic"
    options: CompletionOptions = Field(default_factory=CompletionOptions)
    system: str | None = None
    template: str = Field(min_length=1)
    output: str
    refresh: Refresh = Field(default_factory=Refresh)
    experiment: Experiment | None = None

    @field_validator("name", "output", "key")
    @classmethod
    def _identifiers(cls, value: str) -> str:
        return check_identifier(value, "name")


# ---------------------------------------------------------------- tests/*.yml

Scalar = str | int | float | bool | datetime | date | None


class RuleTest(Model):
    name: str = Field(min_length=1)
    description: str | None = None
    today: date | None = None
    given: dict[str, list[dict[str, Scalar]]] = Field(default_factory=dict)
    expect: list[dict[str, Scalar | list[str]]] = Field(min_length=1)


class RuleTestsFile(Model):
    today: date | None = None
    tests: list[RuleTest] = Field(min_length=1)
