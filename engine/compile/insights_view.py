"""The wide, BI-ready insights view: one row per customer with its segments, the columns the project
chose to show (`display:`), and per prompt the latest output, when it was made, and whether it is
stale (made from inputs that have changed since).

`rulectl insights` reads it; a BI tool can read it directly.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from sqlglot import exp

from engine.compile.objects import DesiredObject, table
from engine.compile.prompts import CompiledPrompt, rendered_inputs_query, stored_outputs_query
from engine.compile.structured_outputs import output_columns
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.project import INSIGHTS_VIEW, LoadedProject, display_name_column, entity_key
from engine.core.expressions import DIALECT

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


def insights_view(loaded: LoadedProject, compiled_prompts: list[CompiledPrompt]) -> DesiredObject:
    """The wide view, built only when applied or shown: a plan fingerprints its settings (every
    prompt's settings, the customer columns) plus a stamp of how this compiler writes it."""
    schemas = loaded.config.schemas
    key, columns = entity_key(loaded), customer_columns(loaded)
    view = f"{schemas.ai}.{INSIGHTS_VIEW}"
    segments = f"{schemas.analytics}.{SEGMENTS_VIEW}".upper()
    settings = json.dumps(
        {"stamp": insights_stamp(), "view": view, "segments": segments, "key": key, "columns": columns,
         "prompts": [_view_settings(compiled) for compiled in compiled_prompts]},
        sort_keys=True,
    )
    depends = tuple(dict.fromkeys([segments] + [name for c in compiled_prompts for name in (c.output_table, c.input_view)]))
    return DesiredObject(
        "view", schemas.ai, INSIGHTS_VIEW, lambda: insights_view_statement(view, segments, key, columns, compiled_prompts), depends,
        fingerprint_source=settings,
    )


def _view_settings(compiled: CompiledPrompt) -> dict:
    """What of a prompt shapes the view: its rendered inputs (for staleness) and its output columns
    — not its schedule or cost guard, which only its task uses."""
    return {
        "name": compiled.prompt.name, "key": compiled.key, "input_view": compiled.input_view, "output_table": compiled.output_table,
        "variants": [vars(spec) for spec in compiled.variants], "fields": list(compiled.fields),
        "array_fields": sorted(compiled.array_fields), "salt": compiled.salt, "outputs": list(output_columns(compiled.prompt)),
    }


def insights_view_statement(view: str, segments_view: str, key: str, columns: list[str], compiled_prompts: list[CompiledPrompt]) -> exp.Create:
    query = exp.select(*(exp.column(name, table="s") for name in columns)).from_(exp.alias_(table(segments_view), "s", table=True), copy=False)
    for index, compiled in enumerate(compiled_prompts):
        stored, current = f"o{index}", f"c{index}"
        name = compiled.prompt.name
        query.select(*(exp.column(column, table=stored).as_(prompt_column(name, column)) for column in PROMPT_COLUMNS), copy=False)
        query.select(*(exp.column(field, table=stored).as_(prompt_column(name, field)) for field, _ in output_columns(compiled.prompt)), copy=False)
        # stale: an output exists but the prompt input it was made from is no longer the current one
        stale = exp.column("input_hash", table=stored).neq(exp.column("input_hash", table=current))
        query.select(exp.alias_(stale, prompt_column(name, "stale")), copy=False)
        query.join(_aliased(stored_outputs_query(compiled), stored), on=_same_key(compiled.key, stored, key), join_type="left", copy=False)
        current_hashes = exp.select(exp.column(compiled.key), exp.column("input_hash")).from_(
            exp.Subquery(this=rendered_inputs_query(compiled), alias=exp.TableAlias(this=exp.to_identifier("r"))), copy=False
        )
        query.join(_aliased(current_hashes, current), on=_same_key(compiled.key, current, key), join_type="left", copy=False)
    return exp.Create(this=table(view), kind="VIEW", expression=query)


@lru_cache(maxsize=1)
def insights_stamp() -> str:
    """A hash of the view this compiler writes for a sample prompt (see prompts.merge_stamp): it
    changes when a rulectl or sqlglot upgrade changes the view's SQL, so its fingerprint follows."""
    from engine.compile.prompts import DEFAULT_SYSTEM, VariantSpec
    from engine.config.models import Prompt

    prompt = Prompt.model_validate({
        "name": "stamp_prompt", "input": "customer_segments", "key": "id", "template": "A {x}", "output": "out",
        "outputs": {"f": {"type": "list", "max_items": 2}},
    })
    sample = CompiledPrompt(prompt, "id", "S.V", "S.O", "S.T", (VariantSpec("default", 100, "A {x}", DEFAULT_SYSTEM, "version"),), ("x",), frozenset(), "salt")
    statement = insights_view_statement("S.W", "S.SEG", "id", ["id", "name", "tier"], [sample])
    return hashlib.sha256(statement.sql(dialect=DIALECT).encode()).hexdigest()[:16]


def _aliased(query: exp.Select, alias: str) -> exp.Subquery:
    return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _same_key(prompt_key: str, alias: str, entity: str) -> exp.Expression:
    return exp.column(prompt_key, table=alias).eq(exp.column(entity, table="s"))
