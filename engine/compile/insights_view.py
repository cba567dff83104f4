"""The wide, BI-ready insights view: one row per customer with its segments, the columns the project
chose to show (`display:`), and per prompt the latest output, when it was made, and whether it is
stale (made from inputs that have changed since) — read from that prompt's own LATEST_<PROMPT> view.

`rulectl insights` reads it; a BI tool can read it directly.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from sqlglot import exp

from engine.compile.objects import DesiredObject, canonical_sql, table
from engine.compile.prompt_values import format_settings
from engine.compile.prompts import CompiledPrompt, rendered_inputs_query, stored_outputs_query
from engine.compile.structured_outputs import output_columns
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.project import INSIGHTS_VIEW, LATEST_VIEW_PREFIX, LoadedProject, display_name_column, entity_key

# Per prompt, these output-table columns (and its `outputs:` fields) appear as `<prompt>_<column>`.
PROMPT_COLUMNS = ("response", "variant", "provider", "model", "prompt_version", "generated_at")


def customer_columns(loaded: LoadedProject) -> list[str]:
    """Key, display name, size metric, display columns, then every segmentation — once each."""
    display = loaded.config.display
    names = [entity_key(loaded), display_name_column(loaded)]
    if display.size is not None:
        names.append(display.size.metric.lower())
    names += [column.lower() for column in display.columns]
    names += [located.item.name.lower() for located in loaded.segmentations]
    return list(dict.fromkeys(names))


def view_columns(loaded: LoadedProject) -> list[str]:
    """Every column of the wide view, as insights_view_statement selects them."""
    columns = customer_columns(loaded)
    for located in loaded.prompts:
        name = located.item.name
        columns += [prompt_column(name, c) for c in PROMPT_COLUMNS]
        columns += [prompt_column(name, field) for field, _ in output_columns(located.item)]
        columns.append(prompt_column(name, "stale"))
    return columns


def prompt_column(prompt: str, column: str) -> str:
    return f"{prompt.lower()}_{column}"


# https://docs.snowflake.com/en/sql-reference/sql/create-view: a view's definition is limited to
# 1 MB. Each prompt's latest output and staleness is a small view of its own (LATEST_<PROMPT>, one
# prompt's rendered-input query, ~6 KB), so the wide view only names their columns: ~0.3 KB per
# prompt instead of ~5.7 KB inlined, under the limit at any realistic number of prompts (plan
# reports the size and refuses a view over it: plan/planner.view_sizes).


def latest_view_name(schemas_ai: str, prompt_name: str) -> str:
    """SCHEMA.VIEW of one prompt's latest output with its stale flag."""
    return f"{schemas_ai}.{LATEST_VIEW_PREFIX}{prompt_name}".upper()


def insights_objects(loaded: LoadedProject, compiled_prompts: list[CompiledPrompt]) -> list[DesiredObject]:
    """Each prompt's LATEST_<PROMPT> view, then the wide view that joins them."""
    latest = [latest_view(loaded, compiled) for compiled in compiled_prompts]
    return latest + [insights_view(loaded, compiled_prompts)]


def latest_view(loaded: LoadedProject, compiled: CompiledPrompt) -> DesiredObject:
    """One prompt's latest output per customer, beside whether it is stale. Built only when applied
    or shown, fingerprinted from the prompt settings that shape it plus the compiler's stamp."""
    view = latest_view_name(loaded.config.schemas.ai, compiled.prompt.name)
    settings = json.dumps({"stamp": insights_stamp(), "view": view, "prompt": _view_settings(compiled)}, sort_keys=True)
    schema, name = view.split(".")
    return DesiredObject(
        "view", schema, name, lambda: latest_view_statement(view, compiled), (compiled.output_table, compiled.input_view),
        fingerprint_source=settings,
    )


def insights_view(loaded: LoadedProject, compiled_prompts: list[CompiledPrompt]) -> DesiredObject:
    """The wide view, built only when applied or shown: a plan fingerprints its settings (every
    prompt's name and output columns, the customer columns) plus a stamp of how this compiler writes it."""
    schemas = loaded.config.schemas
    key, columns = entity_key(loaded), customer_columns(loaded)
    view = f"{schemas.ai}.{INSIGHTS_VIEW}"
    segments = f"{schemas.analytics}.{SEGMENTS_VIEW}".upper()
    joined = [(latest_view_name(schemas.ai, c.prompt.name), c.prompt.name, c.key, latest_columns(c)) for c in compiled_prompts]
    settings = json.dumps(
        {"stamp": insights_stamp(), "view": view, "segments": segments, "key": key, "columns": columns, "prompts": joined},
        sort_keys=True,
    )
    depends = tuple(dict.fromkeys([segments] + [latest for latest, *_ in joined]))
    return DesiredObject(
        "view", schemas.ai, INSIGHTS_VIEW, lambda: insights_view_statement(view, segments, key, columns, joined), depends,
        fingerprint_source=settings,
    )


def _view_settings(compiled: CompiledPrompt) -> dict:
    """What of a prompt shapes its latest view: its rendered inputs (for staleness) and its output
    columns — not its schedule or cost guard, which only its task uses."""
    return {
        "name": compiled.prompt.name, "key": compiled.key, "input_view": compiled.input_view, "output_table": compiled.output_table,
        "variants": [vars(spec) for spec in compiled.variants], "fields": list(compiled.fields),
        "array_fields": sorted(compiled.array_fields), "salt": compiled.salt, "outputs": list(output_columns(compiled.prompt)),
        **({"formats": format_settings(compiled.formats)} if compiled.formats else {}),
    }


def latest_columns(compiled: CompiledPrompt) -> list[str]:
    """The columns a prompt adds to the wide view, `<prompt>_<column>`, in order."""
    name = compiled.prompt.name
    fields = [field for field, _ in output_columns(compiled.prompt)]
    return [prompt_column(name, column) for column in (*PROMPT_COLUMNS, *fields, "stale")]


def latest_view_statement(view: str, compiled: CompiledPrompt) -> exp.Create:
    """Every input row's key, the stored output made for it (if any) and whether that output is stale
    (made from an input that is no longer the current one)."""
    name, key = compiled.prompt.name, compiled.key
    stored, current = "o", "c"
    query = exp.select(exp.column(key, table=current).as_(key))
    query.select(*(exp.column(column, table=stored).as_(prompt_column(name, column)) for column in PROMPT_COLUMNS), copy=False)
    query.select(*(exp.column(field, table=stored).as_(prompt_column(name, field)) for field, _ in output_columns(compiled.prompt)), copy=False)
    stale = exp.column("input_hash", table=stored).neq(exp.column("input_hash", table=current))
    query.select(exp.alias_(stale, prompt_column(name, "stale")), copy=False)
    current_hashes = exp.select(exp.column(key), exp.column("input_hash")).from_(
        exp.Subquery(this=rendered_inputs_query(compiled), alias=exp.TableAlias(this=exp.to_identifier("r"))), copy=False
    )
    query.from_(_aliased(current_hashes, current), copy=False)
    query.join(_aliased(stored_outputs_query(compiled), stored), on=exp.column(key, table=stored).eq(exp.column(key, table=current)), join_type="left", copy=False)
    return exp.Create(this=table(view), kind="VIEW", expression=query)


def insights_view_statement(view: str, segments_view: str, key: str, columns: list[str], joined: list[tuple[str, str, str, list[str]]]) -> exp.Create:
    """`joined`: per prompt (its latest view, name, key, columns). Column names only, per prompt."""
    query = exp.select(*(exp.column(name, table="s") for name in columns)).from_(exp.alias_(table(segments_view), "s", table=True), copy=False)
    for index, (latest, _, prompt_key, prompt_columns) in enumerate(joined):
        alias = f"l{index}"
        query.select(*(exp.column(column, table=alias) for column in prompt_columns), copy=False)
        query.join(exp.alias_(table(latest), alias, table=True), on=_same_key(prompt_key, alias, key), join_type="left", copy=False)
    return exp.Create(this=table(view), kind="VIEW", expression=query)


@lru_cache(maxsize=1)
def insights_stamp() -> str:
    """A hash of the views this compiler writes for a sample prompt (see prompts.merge_stamp): it
    changes when a rulectl or sqlglot upgrade changes their SQL, so their fingerprints follow."""
    from engine.compile.prompts import DATE_FORMAT, DEFAULT_SYSTEM, VariantSpec
    from engine.config.models import Prompt

    prompt = Prompt.model_validate({
        "name": "stamp_prompt", "input": "customer_segments", "key": "id", "template": "A {x}", "output": "out",
        "outputs": {"f": {"type": "list", "max_items": 2}},
    })
    sample = CompiledPrompt(prompt, "id", "S.V", "S.O", "S.T", (VariantSpec("default", 100, "A {x}", DEFAULT_SYSTEM, "version"),), ("x",), frozenset(), "salt", formats=(("x", DATE_FORMAT),))
    latest = latest_view_statement("S.LATEST_STAMP_PROMPT", sample)
    wide = insights_view_statement("S.W", "S.SEG", "id", ["id", "name", "tier"], [("S.LATEST_STAMP_PROMPT", "stamp_prompt", "id", latest_columns(sample))])
    return hashlib.sha256((canonical_sql(latest) + canonical_sql(wide)).encode()).hexdigest()[:16]  # = .sql(): no comments


def _aliased(query: exp.Select, alias: str) -> exp.Subquery:
    return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _same_key(prompt_key: str, alias: str, entity: str) -> exp.Expression:
    return exp.column(prompt_key, table=alias).eq(exp.column(entity, table="s"))
