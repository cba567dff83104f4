"""The single Cortex calls that prove a project's AI will work before a refresh pays for nothing:
one AI_COMPLETE per distinct (model, options, response_format) the prompts send, with exactly those
settings (a free-text check's max_tokens kept small), one AI_EMBED per search model, one AI_SENTIMENT.

Each asks for Snowflake's own error instead of a NULL: "All syntax variations accept an optional
return_error_details BOOLEAN argument as the final parameter. When set to TRUE, the function returns
an OBJECT that contains the value and the error message, one of which is NULL depending on whether
the function succeeded or failed." (https://docs.snowflake.com/en/sql-reference/functions/ai_complete)
The apply preflight, `rulectl run` and `rulectl doctor` send these same statements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlglot import exp

from engine.compile.prompts import options_object, sent_options
from engine.config.project import LoadedProject
from engine.core.expressions import DIALECT

CHECK_PROMPT = "Reply with the single word OK."
CHECK_MAX_TOKENS = 50  # a free-text check's reply: a check costs almost nothing


@dataclass(frozen=True)
class CortexCall:
    """One check call: what it is for (`label`), the function, the model and the options sent."""

    label: str
    function: str  # AI_COMPLETE, AI_EMBED or AI_SENTIMENT
    model: str | None
    options: tuple[tuple[str, str], ...] = ()  # (name, JSON) of model_parameters / response_format

    @property
    def option_values(self) -> dict:
        return {name: json.loads(value) for name, value in self.options}


def completion_calls(loaded: LoadedProject, prompts: set[str] | None = None) -> list[CortexCall]:
    """One AI_COMPLETE per distinct (model, options) among the prompts (all, or those named)."""
    calls: dict[tuple, CortexCall] = {}
    for located in loaded.prompts:
        prompt = located.item
        if prompts is not None and prompt.name.lower() not in prompts:
            continue
        options = sent_options(prompt)
        response_format = options.pop("response_format", None)
        if response_format is None:  # a structured reply keeps its own max_tokens: cut short, it would not parse
            options["max_tokens"] = min(options.get("max_tokens") or CHECK_MAX_TOKENS, CHECK_MAX_TOKENS)
        sent = (("model_parameters", json.dumps(options, sort_keys=True)),) + ((("response_format", json.dumps(response_format, sort_keys=True)),) if response_format else ())
        key = (prompt.model, sent)
        if key not in calls:
            calls[key] = CortexCall(f"prompt {prompt.name}: AI_COMPLETE with model {prompt.model}", "AI_COMPLETE", prompt.model, sent)
    return list(calls.values())


def embedding_call(model: str) -> CortexCall:
    return CortexCall(f"search: AI_EMBED with model {model}", "AI_EMBED", model)


def sentiment_call() -> CortexCall:
    return CortexCall("sentiment: AI_SENTIMENT", "AI_SENTIMENT", None)


def project_calls(loaded: LoadedProject) -> list[CortexCall]:
    """Every Cortex call the project's tasks make, once each: the prompts' AI_COMPLETEs, the search
    model's AI_EMBED, AI_SENTIMENT when a source is enriched with sentiment."""
    from engine.config.enrichments import sentiment_sources

    calls = completion_calls(loaded)
    if loaded.config.search is not None:
        calls.append(embedding_call(loaded.config.search.model))
    if sentiment_sources(loaded.config):
        calls.append(sentiment_call())
    return calls


def check_query(call: CortexCall) -> exp.Select:
    """The statement of one check. AI_COMPLETE asks for `return_error_details` (one row, an OBJECT of
    value and error); AI_EMBED and AI_SENTIMENT are called plainly (an error raises, or comes back
    as NULL once BCR 2358 / 2184 is enabled in the account)."""
    text = exp.Literal.string(CHECK_PROMPT)
    if call.function == "AI_COMPLETE":
        arguments: list[exp.Expression] = [_kwarg("model", exp.Literal.string(call.model or "")), _kwarg("prompt", text)]
        arguments += [_kwarg(name, options_object(value)) for name, value in call.option_values.items()]
        arguments += [_kwarg("show_details", exp.true()), _kwarg("return_error_details", exp.true())]  # as the MERGE sends it
    elif call.function == "AI_EMBED":
        arguments = [exp.Literal.string(call.model or ""), text]
    else:
        arguments = [text]
    return exp.select(exp.Anonymous(this=call.function, expressions=arguments))


def _kwarg(name: str, value: exp.Expression) -> exp.Kwarg:
    return exp.Kwarg(this=exp.var(name), expression=value)


def check_error(reply: object) -> str | None:
    """Snowflake's error from a check's reply (the OBJECT as dict or JSON text); None when it answered."""
    if isinstance(reply, str):
        try:
            reply = json.loads(reply)
        except ValueError:
            return None
    if isinstance(reply, dict):
        error = reply.get("error")
        if error:
            return str(error).splitlines()[0]
        if reply.get("value") is None:
            return "no reply (NULL) and no error"
        return None
    return None if reply is not None else "no reply (NULL) and no error"


def render(call: CortexCall) -> str:
    """The check's SQL as Snowflake receives it."""
    return check_query(call).sql(dialect=DIALECT)


ERROR_ALIAS = "rulectl_error"


def first_pending_error_query(merge: exp.Expression) -> exp.Select | None:
    """For a refresh that enriched none of its pending rows: the MERGE's own AI_COMPLETE call on its
    first still-pending row, asking for the error — Snowflake's reason, for the run log (None when
    the MERGE calls no AI_COMPLETE). `SELECT CAST(GET_PATH(AI_COMPLETE(…, return_error_details =>
    TRUE), 'error') AS VARCHAR) AS rulectl_error FROM (<pending rows>) AS p LIMIT 1`."""
    from engine.compile.refresh_batches import PENDING_ALIAS, pending_subquery

    call = next((node for node in merge.find_all(exp.Anonymous) if node.name.upper() == "AI_COMPLETE"), None)
    if call is None:
        return None
    call = call.copy()
    call.append("expressions", _kwarg("return_error_details", exp.true()))
    error = exp.cast(exp.func("GET_PATH", call, exp.Literal.string("error"), dialect=DIALECT), "VARCHAR")
    pending = exp.Subquery(this=pending_subquery(merge).this.copy(), alias=exp.TableAlias(this=exp.to_identifier(PENDING_ALIAS)))
    return exp.select(exp.alias_(error, ERROR_ALIAS)).from_(pending).limit(1)
