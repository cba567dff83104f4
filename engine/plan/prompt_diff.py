"""What changed in a prompt, in the analyst's terms: a diff of its model, options, and each variant's
system text and template — rather than a hash inside the refresh task's MERGE.

The deployed side is read back from the MERGE rulectl recorded when it applied the task (the
template, system text and options enter that SQL only as literals, so they can be found again);
the planned side comes from the compiled prompt. Pure: nothing is sent to the target."""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

from engine.compile.prompts import DATA_RULE, CompiledPrompt, sent_options
from engine.compile.structured_outputs import literal_value
from engine.core.expressions import DIALECT

ALL_CUSTOMERS = "(every customer)"  # the one "variant" of a prompt without an experiment


def prompt_text(model: str, options: dict[str, Any], variants: dict[str, tuple[str, str]]) -> str:
    """A prompt as plain text, one block per variant: what the diff compares."""
    options = dict(options)
    schema = (options.pop("response_format", None) or {}).get("schema") or {}
    lines = [f"model: {model}", f"options: {json.dumps(options, sort_keys=True)}"]
    if schema:  # one line per output field, so a changed field reads as one changed line
        lines.append("outputs:")
        lines += [f"  {name}: {json.dumps(field, sort_keys=True)}" for name, field in schema.get("properties", {}).items()]
    for name, (system, template) in variants.items():
        lines.append(f"variant {name}:")
        lines += ["  system:"] + [f"    {line}" for line in system.splitlines()]
        lines += ["  template:"] + [f"    {line}" for line in template.splitlines()]
    return "\n".join(lines)


def planned_prompt_text(compiled: CompiledPrompt) -> str:
    prompt = compiled.prompt
    single = len(compiled.variants) == 1
    variants = {ALL_CUSTOMERS if single else spec.name: (spec.system, spec.template) for spec in compiled.variants}
    return prompt_text(prompt.model, sent_options(prompt), variants)


@lru_cache(maxsize=256)  # pure; plan asks once per prompt, apply again, each parse of a MERGE ~80 ms
def deployed_prompt_text(applied_sql: str) -> str | None:
    """The prompt as a recorded MERGE says it was; None when the SQL is not a MERGE rulectl wrote."""
    try:
        tree = sqlglot.parse_one(applied_sql, read=DIALECT)
    except Exception:
        return None
    aliases: dict[str, exp.Expression] = {}
    for alias in tree.find_all(exp.Alias):
        aliases.setdefault(alias.alias, alias.this)
    prompt, system = aliases.get("prompt_text"), aliases.get("system_text")
    if not isinstance(prompt, exp.DPipe) or system is None:
        return None
    templates, systems = _by_variant(prompt.expression), _by_variant(system)
    model, options = _model_and_options(tree)
    if templates is None or systems is None or model is None or templates.keys() != systems.keys():
        return None
    suffix = "\n\n" + DATA_RULE
    variants = {name: (systems[name].removesuffix(suffix), templates[name]) for name in templates}
    return prompt_text(model, options, variants)


def _by_variant(node: exp.Expression) -> dict[str, str] | None:
    """A literal (one variant) or CASE v.variant WHEN 'name' THEN 'text' … (an experiment)."""
    if isinstance(node, exp.Literal) and node.is_string:
        return {ALL_CUSTOMERS: node.this}
    if isinstance(node, exp.Case):
        values = {}
        for branch in node.args.get("ifs") or []:
            when, then = branch.this, branch.args.get("true")
            if not (isinstance(when, exp.Literal) and isinstance(then, exp.Literal)):
                return None
            values[when.this] = then.this
        return values
    return None


def _model_and_options(tree: exp.Expression) -> tuple[str | None, dict[str, Any]]:
    """The AI_COMPLETE call's model and options: its `model_parameters` merged with its
    `response_format` (as sent). A MERGE recorded by an older rulectl called the legacy
    SNOWFLAKE.CORTEX.TRY_COMPLETE(model, messages, options): read that form too."""
    for call in tree.find_all(exp.Anonymous):
        if call.name.upper() != "AI_COMPLETE":
            continue
        named = {k.this.name.lower(): k.expression for k in call.expressions if isinstance(k, exp.Kwarg)}
        model = named.get("model")
        options = literal_value(named["model_parameters"]) if "model_parameters" in named else {}
        if "response_format" in named:
            options["response_format"] = literal_value(named["response_format"])
        return (model.this if isinstance(model, exp.Literal) else None), options
    for struct in tree.find_all(exp.Struct):
        pairs = [p for p in struct.expressions if isinstance(p, exp.PropertyEQ)]
        keys = [p.this.this if isinstance(p.this, exp.Literal) else p.this.name for p in pairs]
        if "role" in keys:
            continue
        call = struct.parent
        arguments = call.expressions if call is not None else []
        model = arguments[0].this if arguments and isinstance(arguments[0], exp.Literal) else None
        return model, literal_value(struct)
    return None, {}


def prompt_diff(applied_sql: str | None, compiled: CompiledPrompt) -> str | None:
    """Unified diff of the prompt as deployed vs as planned; None when unknown or unchanged."""
    if not applied_sql:
        return None
    before = deployed_prompt_text(applied_sql)
    after = planned_prompt_text(compiled)
    if before is None or before == after:
        return None
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "deployed prompt", "planned prompt", lineterm="", n=2)
    return "\n".join(lines)
