"""`rulectl doctor` on a local target: the LLM endpoint that stands in for Cortex, checked the way the
Snowflake target checks Cortex — one real completion per distinct (model, options, response_format)
the prompts send, with exactly those settings, one embedding when search embeds through the
endpoint, and the local sentiment analyser. The offline provider needs no check: it is a labelled
stand-in, and doctor says so.
"""

from __future__ import annotations

from engine.ai.providers import make_provider
from engine.ai.providers.base import CompletionFailed, CompletionRequest, schema_problem, structured_schema
from engine.backends.base import DoctorCheck
from engine.compile.cortex_calls import CHECK_PROMPT, completion_calls
from engine.config.models import Target
from engine.config.project import LoadedProject


def endpoint_checks(loaded: LoadedProject, target: Target) -> list[DoctorCheck]:
    """The local provider's answers to the project's calls (inside `local_models_served`)."""
    from engine.config.enrichments import sentiment_sources

    settings = target.llm
    checks: list[DoctorCheck] = []
    if settings.provider == "offline":
        checks.append(DoctorCheck("LLM provider", True, "offline: labelled stand-in text, not AI (set `llm: {provider: openai, …}` or `provider: local` for a real model)"))
    else:
        provider = make_provider(settings)
        where = settings.base_url if settings.provider == "openai" else "llama.cpp in this process"
        checks += [_completion_check(provider, call.label, call.model or "", call.option_values, where) for call in completion_calls(loaded)]
        if loaded.config.search is not None and settings.embedding_model and hasattr(provider, "embed"):
            checks.append(_embedding_check(provider, settings.embedding_model, where))
    if sentiment_sources(loaded.config):
        checks.append(_sentiment_check())
    return checks


def _completion_check(provider, label: str, model: str, sent: dict, where: str | None) -> DoctorCheck:
    options = dict(sent.get("model_parameters") or {})
    if "response_format" in sent:
        options["response_format"] = sent["response_format"]
    try:
        completion = provider.complete(CompletionRequest(model, "", CHECK_PROMPT, options))
    except CompletionFailed as error:
        return DoctorCheck(label, False, f"{where}: {error}", _endpoint_fix(error, where))
    schema = structured_schema(options)
    problem = schema_problem(completion.text, schema) if schema is not None else None
    if problem is not None:
        return DoctorCheck(label, False, f"{where} answered, but not in the outputs schema ({problem})", "use a model that follows JSON schemas (structured outputs), or an endpoint that enforces them")
    return DoctorCheck(label, True, f"{where} answered as {completion.model}")


def _embedding_check(provider, model: str, where: str | None) -> DoctorCheck:
    label = f"search: embeddings with model {model}"
    try:
        vectors = provider.embed(model, [CHECK_PROMPT])
    except CompletionFailed as error:
        return DoctorCheck(label, False, f"{where}: {error}", _endpoint_fix(error, where))
    return DoctorCheck(label, True, f"{where} answered with {len(vectors[0])} dimensions")


def _sentiment_check() -> DoctorCheck:
    from engine.ai.local_sentiment import ANALYSER, LANGUAGES, sentiment_label

    try:
        label = sentiment_label(CHECK_PROMPT)
    except Exception as error:  # the analyser's word list missing or broken
        return DoctorCheck("sentiment: local analyser", False, f"{type(error).__name__}: {error}", "reinstall rulectl (`pip install -e .`): the vaderSentiment package is missing or broken")
    return DoctorCheck("sentiment: local analyser", True, f"{ANALYSER} answers ({label}); it reads {LANGUAGES}: `rulectl run` and `status` count the texts it scored that look non-English")


def _endpoint_fix(error: CompletionFailed, where: str | None) -> str:
    if error.unreachable:
        return f"start the server at {where}, or correct `base_url:` on the target"
    return "check the model name (`model:` / `model_map:` on the target's `llm:`) and the API key environment variable (`api_key_env:`)"
