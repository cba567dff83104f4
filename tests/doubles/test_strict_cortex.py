"""The strict Cortex double refuses what Snowflake documents as refused (each rule's page is cited in
tests/doubles/cortex.py) and answers in the documented shape for the arguments sent."""

from __future__ import annotations

import json

import pytest

from engine.compile.cortex_calls import CortexCall, check_query, completion_calls, render
from engine.compile.structured_outputs import json_schema, response_format, sent_response_format
from engine.config.loader import load_project
from engine.config.models import OutputField
from tests.doubles.cortex import CortexRefused, StrictCortex, refuse_legacy_functions, schema_problems
from tests.doubles.recording import RecordingConnection

OUTPUTS = {
    "summary": OutputField(type="text", max_length=1500),
    "score": OutputField(type="number", minimum=0, maximum=1),
    "actions": OutputField(type="list", max_items=3),
    "risk": OutputField(type="label", labels=["low", "high"]),
}


def complete(cortex: StrictCortex, model: str = "llama3.1-8b", schema: dict | None = None, show_details: bool = True, answer: object = "OK"):
    return cortex.complete(model, "Reply OK", {"temperature": 0}, {"type": "json", "schema": schema} if schema is not None else None, show_details, answer)


@pytest.mark.parametrize("keyword", ["maxLength", "minLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxItems", "minItems", "format", "pattern"])
def test_a_schema_with_an_unsupported_constraint_keyword_gets_null_and_the_error(keyword: str):
    schema = {"type": "object", "properties": {"x": {"type": "string", keyword: 3}}, "required": ["x"]}
    reply, error = complete(StrictCortex(), schema=schema, answer={"x": "a"})
    assert reply is None and f"unsupported constraint keyword '{keyword}'" in error


def test_a_property_name_cortex_does_not_accept_is_refused():
    assert schema_problems({"type": "object", "properties": {"a" * 65: {"type": "string"}, "ok-name_1": {"type": "string"}}}) == [f"invalid property name '{'a' * 65}' at schema.properties"]
    assert schema_problems({"type": "object", "properties": {"has space": {"type": "string"}}})


def test_rulectls_full_schema_is_refused_and_the_schema_it_sends_is_accepted():
    """The schema rulectl's gate enforces carries maxLength/minimum/maximum/maxItems: sent as it is,
    every reply would be NULL. The schema sent keeps only supported keywords."""
    assert len(schema_problems(response_format(OUTPUTS)["schema"])) == 4
    assert schema_problems(sent_response_format(OUTPUTS)["schema"]) == []
    assert json_schema(OUTPUTS)["properties"]["summary"]["maxLength"] == 1500  # the gate keeps it


@pytest.mark.parametrize("model", ["mistral-large2", "llama3.1-405b", "llama4-maverick", "snowflake-llama-3.3-70b", "llama3.2-3b", "claude-4-opus", "not-a-model"])
def test_retired_and_unknown_models_fail(model: str):
    reply, error = complete(StrictCortex(), model=model)
    assert reply is None and model in error


def test_a_legacy_model_answers_only_for_an_account_that_used_it():
    cortex = StrictCortex()
    assert complete(cortex, model="snowflake-arctic")[0] is None
    cortex.legacy_models_used.add("snowflake-arctic")
    assert complete(cortex, model="snowflake-arctic")[1] is None


@pytest.mark.parametrize("sql", [
    "SELECT SNOWFLAKE.CORTEX.COMPLETE('llama3.1-8b', 'hi')",
    "SELECT SNOWFLAKE.CORTEX.TRY_COMPLETE('llama3.1-8b', 'hi')",
    "SELECT snowflake.cortex.sentiment(body) FROM t",
    "SELECT SNOWFLAKE.CORTEX.EMBED_TEXT_768('e5-base-v2', body) FROM t",
    "CREATE TASK AI.T SCHEDULE='5 MINUTES' AS MERGE INTO x USING (SELECT SNOWFLAKE.CORTEX.TRY_COMPLETE('m', p) AS r FROM y) s ON 1=1 WHEN MATCHED THEN DELETE",
])
def test_legacy_cortex_functions_are_refused(sql: str):
    with pytest.raises(CortexRefused, match="Unknown function SNOWFLAKE.CORTEX"):
        refuse_legacy_functions(sql)
    with pytest.raises(CortexRefused):
        RecordingConnection().cursor().execute(sql)


def test_sentiment_and_embedding_input_over_512_tokens_is_refused():
    cortex = StrictCortex()
    assert cortex.sentiment("x" * 2048)["categories"][0]["name"] == "overall"
    with pytest.raises(CortexRefused, match="512-token limit"):
        cortex.sentiment("x" * 2049)
    assert len(cortex.embed("e5-base-v2", "x" * 2048)) == 768
    with pytest.raises(CortexRefused, match="512-token limit"):
        cortex.embed("e5-base-v2", "x" * 2049)
    with pytest.raises(CortexRefused, match="Unknown model"):
        cortex.embed("llama3.1-8b", "x")  # not an embedding model


def test_reply_shapes_follow_the_arguments_sent():
    """https://docs.snowflake.com/en/sql-reference/functions/ai_complete-single-string (Returns)."""
    cortex = StrictCortex()
    assert complete(cortex, show_details=False, answer="hello") == ("hello", None)
    text, _ = complete(cortex, answer="hello")
    assert text["choices"] == [{"messages": "hello"}] and set(text["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert complete(cortex, schema=schema, show_details=False, answer={"a": "x"}) == ({"a": "x"}, None)
    structured, _ = complete(cortex, schema=schema, answer={"a": "x"})
    assert structured["structured_output"] == [{"raw_message": {"a": "x"}, "type": "json"}] and "choices" not in structured
    assert cortex.complete_with_error_details("gone", "p", None, None, True, "x") == {"value": None, "error": "Unknown model 'gone'."}


def test_the_recording_double_answers_rulectls_checks_with_the_error_in_the_object(project):
    connection = RecordingConnection()
    call = completion_calls(load_project(project))[0]
    reply = json.loads(connection.cursor().execute(render(call)).fetchall()[0][0])
    assert reply["error"] is None and reply["value"]["structured_output"][0]["raw_message"]["risk"] == "low"
    connection.catalog.failing_models["llama3.1-8b"] = "not in this region"
    assert json.loads(connection.cursor().execute(render(call)).fetchall()[0][0]) == {"value": None, "error": "not in this region"}
    bad = CortexCall("bad", "AI_COMPLETE", "llama3.1-8b", (("response_format", json.dumps(response_format(OUTPUTS))),))
    reply = json.loads(connection.cursor().execute(check_query(bad).sql("snowflake")).fetchall()[0][0])
    assert reply["value"] is None and "unsupported constraint keyword 'maxLength'" in reply["error"]
