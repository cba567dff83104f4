"""A local model decodes under a grammar built from the reply schema, so the bounds Cortex refuses
(maxLength, maxItems, minimum, maximum) go back into the schema a local provider is sent: the
deployed SQL carries Cortex's form, the prompt the full one. A deployed task of another prompt
version keeps what it was deployed with."""

from __future__ import annotations

import json

import duckdb

from engine.ai.local_complete import LocalComplete
from engine.ai.providers.base import Completion, CompletionRequest, Provider
from engine.compile.structured_outputs import json_schema, sent_response_format
from engine.config.models import OutputField

OUTPUTS = {
    "summary": OutputField(type="text", max_length=40),
    "actions": OutputField(type="list", max_items=2),
    "score": OutputField(type="integer", minimum=0, maximum=10),
}


class Recording(Provider):
    name = "recording"
    takes_schema_bounds = True  # as the local (llama.cpp) provider

    def __init__(self) -> None:
        self.requests: list[CompletionRequest] = []

    def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        return Completion(json.dumps({"summary": "ok", "actions": ["call"], "score": 3}), "m", 1, 1)


def sent_schema(full_schemas: tuple[dict, ...], deployed: dict, takes_bounds: bool = True) -> dict:
    provider = Recording()
    provider.takes_schema_bounds = takes_bounds
    connection = duckdb.connect()
    LocalComplete(provider, 1, full_schemas=full_schemas).register(connection)
    options = json.dumps({"max_tokens": 50, "response_format": deployed})
    answer = connection.execute("SELECT rulectl_complete('m', 'sys', 'hello', ?)", [options]).fetchone()[0]
    assert answer is not None
    return provider.requests[0].options["response_format"]["schema"]


def test_the_prompts_bounds_are_sent_to_a_local_model():
    deployed = sent_response_format(OUTPUTS)
    assert "maxLength" not in json.dumps(deployed)  # what the SQL carries: Cortex's form
    schema = sent_schema((json_schema(OUTPUTS),), deployed)
    assert schema["properties"]["summary"]["maxLength"] == 40
    assert schema["properties"]["actions"]["maxItems"] == 2
    assert (schema["properties"]["score"]["minimum"], schema["properties"]["score"]["maximum"]) == (0, 10)


def test_a_task_deployed_from_another_prompt_version_keeps_its_own_schema():
    edited = {**OUTPUTS, "risk": OutputField(type="label", labels=["low", "high"])}  # the YAML moved on, apply not run
    deployed = sent_response_format(OUTPUTS)
    assert sent_schema((json_schema(edited),), deployed) == deployed["schema"]
    assert sent_schema((), deployed) == deployed["schema"]


def test_an_endpoint_not_known_to_take_bounds_gets_the_sqls_schema():
    deployed = sent_response_format(OUTPUTS)
    assert sent_schema((json_schema(OUTPUTS),), deployed, takes_bounds=False) == deployed["schema"]
