"""Semantic customer search (`search:` in rulectl.yml): the exact Snowflake SQL (AI_EMBED into
VECTOR(FLOAT, 768), VECTOR_COSINE_SIMILARITY), the DuckDB rendering (sqlglot reads Snowflake's
similarity as a distance), embeddings kept only for new or changed text or a new model (calls
counted, at a local HTTP endpoint too), a planted near-duplicate found first, plan's cost, the
offline stand-in labelled, and the Snowflake path through the recording connection."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from engine import workflow
from engine.ai.local_embed import LOCAL_LABEL, local_vectors, offline_embedding
from engine.ai.search import nearest_query
from engine.backends.duckdb import render_duckdb
from engine.backends.duckdb_fixes import FixContext
from engine.backends.snowflake import SnowflakeBackend
from engine.compile.project import compile_project
from engine.config.enrichments import declared_sources
from engine.config.loader import load_project
from engine.config import search as search_config
from engine.config.search import LOCAL_EMBEDDER, OFFLINE_EMBEDDER
from tests.ai.fake_llm_server import EMBEDDING_DIMENSIONS, FakeLLM
from tests.conftest import edit, run
from tests.conftest import target_rows as rows
from tests.doubles.recording import RecordingConnection

TICKETS = """  support_tickets:
    table: SUPPORT.TICKETS
    grain: [customer_id, ticket_id]
    columns: {customer_id: varchar, ticket_id: varchar, opened_on: date, body: varchar}
    sample: data/sample_inputs/support_tickets.csv
display:"""
TICKET_TEXT = """
  - name: ticket_text
    description: Every support ticket of the customer, oldest first
    source: support_tickets
    expr: LISTAGG(body, ' ') WITHIN GROUP (ORDER BY opened_on, body)
"""
SEARCH = "search:\n  text: [ticket_text, account_summary.risk, account_tier]\n"
PLANTED = "month end the cash receipting screen crashes, unacceptable"  # a paraphrase of C0000002's first ticket
MODEL = "snowflake-arctic-embed-m-v1.5"


def with_search(root: Path, search: str = SEARCH) -> Path:
    edit(root / "rulectl.yml", "display:", TICKETS)
    (root / "rulectl.yml").write_text((root / "rulectl.yml").read_text() + search)
    (root / "rules" / "metrics.yml").write_text((root / "rules" / "metrics.yml").read_text().rstrip("\n") + "\n" + TICKET_TEXT)
    return root


def deployed(root: Path) -> Path:
    for command in ("load", "apply"):
        result = run(command, *(["--yes"] if command == "apply" else []), project=root)
        assert result.exit_code == 0, result.output
    return root


def test_snowflake_sql_is_exact(project: Path):
    objects = {obj.qualified_name: obj for obj in compile_project(load_project(with_search(project)), "prod")}
    assert objects["AI.CUSTOMER_EMBEDDINGS"].sql(pretty=False) == (
        "CREATE TABLE AI.CUSTOMER_EMBEDDINGS (customer_id VARCHAR, input_hash VARCHAR, model VARCHAR, embedded_text VARCHAR, "
        "embedding VECTOR(FLOAT, 768), embedded_at TIMESTAMPNTZ)"
    )
    task = objects["AI.REFRESH_CUSTOMER_EMBEDDINGS"]
    assert dict(task.options)["schedule"] == "USING CRON 0 7 * * * UTC" and dict(task.options)["batch_rows"] == "2000"
    hashed = f"MD5('{MODEL}|' || t.text_value)"
    assert task.sql(pretty=False) == (
        "MERGE INTO AI.CUSTOMER_EMBEDDINGS AS e USING (SELECT * FROM (SELECT p.customer_id, p.input_hash, p.text_value, "
        f"CASE WHEN TRIM(p.text_value) = '' THEN NULL ELSE AI_EMBED('{MODEL}', p.text_value) END AS embedding FROM (SELECT t.customer_id, {hashed} AS input_hash, t.text_value FROM ("
        "SELECT s.customer_id, LEFT("
        "CASE WHEN TRIM(CAST(s.ticket_text AS VARCHAR)) = '' THEN '' ELSE COALESCE('ticket_text: ' || CAST(s.ticket_text AS VARCHAR) || '\\n', '') END || "
        "CASE WHEN TRIM(CAST(o0.risk AS VARCHAR)) = '' THEN '' ELSE COALESCE('account_summary.risk: ' || CAST(o0.risk AS VARCHAR) || '\\n', '') END || "
        "CASE WHEN TRIM(CAST(s.account_tier AS VARCHAR)) = '' THEN '' ELSE COALESCE('account_tier: ' || CAST(s.account_tier AS VARCHAR) || '\\n', '') END, 1500) AS text_value "
        "FROM ANALYTICS.CUSTOMER_SEGMENTS AS s LEFT JOIN (SELECT * FROM AI.ACCOUNT_INSIGHTS WHERE prompt_name = 'account_summary') AS o0 ON o0.customer_id = s.customer_id) AS t "
        "LEFT JOIN AI.CUSTOMER_EMBEDDINGS AS o ON o.customer_id = t.customer_id "
        f"WHERE (NOT TRIM(t.text_value) = '' AND (o.input_hash IS NULL OR o.input_hash <> {hashed})) OR (TRIM(t.text_value) = '' AND NOT o.input_hash IS NULL) "
        "ORDER BY t.customer_id LIMIT 10000) AS p) AS r "
        "WHERE NOT r.embedding IS NULL OR TRIM(r.text_value) = '') AS x ON e.customer_id = x.customer_id "
        "WHEN MATCHED AND TRIM(x.text_value) = '' THEN DELETE "  # text became blank: its old vector goes
        f"WHEN MATCHED THEN UPDATE SET e.input_hash = x.input_hash, e.model = '{MODEL}', e.embedded_text = x.text_value, e.embedding = x.embedding, "
        "e.embedded_at = CAST(CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP()) AS TIMESTAMPNTZ) "
        "WHEN NOT MATCHED AND NOT TRIM(x.text_value) = '' THEN INSERT (customer_id, input_hash, model, embedded_text, embedding, embedded_at) "
        f"VALUES (x.customer_id, x.input_hash, '{MODEL}', x.text_value, x.embedding, CAST(CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP()) AS TIMESTAMPNTZ))"
    )
    # the task reads the segments and the prompt's output table, so it is created after them
    assert task.depends_on == ("AI.CUSTOMER_EMBEDDINGS", "ANALYTICS.CUSTOMER_SEGMENTS", "AI.ACCOUNT_INSIGHTS")


def test_search_query_snowflake_and_duckdb(project: Path):
    loaded = load_project(with_search(project))
    query = nearest_query(loaded, MODEL, "it's budget season", 5, "Strategic")
    assert query.sql(dialect="snowflake") == (
        "SELECT s.customer_id, s.customer_name, s.total_arr, s.state, s.modules_owned, s.account_tier, s.opportunities, e.embedded_text, "
        "VECTOR_COSINE_SIMILARITY(e.embedding, q.v) AS similarity, e.embedded_at FROM AI.CUSTOMER_EMBEDDINGS AS e "
        f"CROSS JOIN (SELECT AI_EMBED('{MODEL}', 'it\\'s budget season') AS v) AS q "
        "JOIN ANALYTICS.CUSTOMER_SEGMENTS AS s ON s.customer_id = e.customer_id "
        f"WHERE e.model = '{MODEL}' AND (s.account_tier = 'Strategic' OR ARRAY_CONTAINS(CAST('Strategic' AS VARIANT), s.opportunities)) "
        "ORDER BY similarity DESC NULLS LAST, s.customer_id LIMIT 5"
    )
    local = render_duckdb(query, FixContext())
    # sqlglot alone writes LIST_COSINE_DISTANCE (1 − similarity): nearest would rank last
    assert "LIST_COSINE_SIMILARITY(E.EMBEDDING, Q.V)" in local.upper() and "DISTANCE" not in local.upper()
    assert f"RULECTL_EMBED('{MODEL}', 'it''s budget season')".upper() in local.upper()
    table = render_duckdb(compile_project(loaded, "local")[-2].statement, FixContext())
    assert "embedding REAL[]" in table and "VECTOR" not in table


def test_offline_embedding_is_a_labelled_word_hash():
    first = offline_embedding("Budget cuts: worried about the renewal")
    assert first == offline_embedding("Budget cuts: worried about the renewal")  # deterministic, no fitting
    assert len(first) == 768 and math.isclose(sum(x * x for x in first), 1.0, rel_tol=1e-6)
    similar = offline_embedding("worried about budget cuts before renewing")
    other = offline_embedding("Love the new dashboard, saves hours")
    cosine = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731 (unit vectors)
    assert cosine(first, similar) > 0.4 > cosine(first, other)
    assert offline_embedding("the and of") is None and offline_embedding("!!!") is None  # nothing to embed


def test_the_local_embedder_finds_meaning_the_word_hash_cannot():
    query, worried, happy = "budget cuts, worried about renewal", "the council froze spending and may not renew", "they love the new AR module"
    vectors = local_vectors([query, worried, happy])
    assert all(abs(float(v @ v) - 1) < 1e-4 for v in vectors)  # unit length: cosine = dot product
    assert float(vectors[0] @ vectors[1]) > 0.3 > 0.05 > float(vectors[0] @ vectors[2])
    hashed = [offline_embedding(text) for text in (query, worried)]
    assert abs(sum(a * b for a, b in zip(*hashed))) < 0.05  # no shared word: the stand-in sees nothing


def test_without_wordllama_the_labelled_word_hash_is_used_and_installing_it_re_embeds(project: Path, monkeypatch):
    monkeypatch.setattr(search_config, "local_embedder_installed", lambda: False)
    root = deployed(with_search(project, "search:\n  text: [ticket_text]\n"))
    first = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
    assert [(r.pending, r.enriched) for r in first] == [(7, 7)] and "offline word hashing" in first[0].note and "not AI" in first[0].note
    found = json.loads(run("search", PLANTED, "-n", "1", "--json", project=root).output)
    assert found["model"] == OFFLINE_EMBEDDER and "not AI" in found["embedder"]
    monkeypatch.undo()  # the package is there again: its model is part of every embedding's version
    planned = run("plan", project=root)
    assert "customer_embeddings: 7 customers to embed" in planned.output, planned.output
    assert run("apply", "--yes", project=root).exit_code == 0
    again = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
    assert [(r.pending, r.enriched) for r in again] == [(7, 7)]
    assert rows(root, "SELECT DISTINCT model FROM AI.CUSTOMER_EMBEDDINGS") == [(LOCAL_EMBEDDER,)]


def test_planted_near_duplicate_comes_first_and_only_changes_are_embedded(project: Path):
    root = deployed(with_search(project))
    planned = run("plan", project=root)
    assert planned.exit_code == 0 and "No changes" in planned.output
    assert run("run", "account_summary", project=root).exit_code == 0
    first = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
    assert [(r.pending, r.enriched, r.calls) for r in first] == [(180, 180, 180)]
    assert first[0].note == f"embedded by {LOCAL_LABEL}"  # a real (static) embedding model by default

    found = run("search", PLANTED, "-n", "3", "--json", project=root)
    assert found.exit_code == 0, found.output
    matches = [json.loads(line) for line in found.output.splitlines()]
    assert [m["key"] for m in matches][0] == "C0000002"
    assert matches[0]["similarity"] > matches[1]["similarity"] > 0 and "cash receipting screen crashed" in matches[0]["text"]
    assert matches[0]["model"] == LOCAL_EMBEDDER and matches[0]["embedder"] == LOCAL_LABEL
    assert set(matches[0]["segments"]) == {"account_tier", "opportunities"}

    again = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
    assert [(r.pending, r.enriched, r.calls) for r in again] == [(0, 0, 0)]  # nothing changed, nothing re-embedded
    before = dict(rows(root, "SELECT customer_id, input_hash FROM AI.CUSTOMER_EMBEDDINGS"))
    rows(root, "INSERT INTO SUPPORT.TICKETS VALUES ('C0000009', 'T0099', DATE '2026-11-20', 'Budget cuts this year, worried about the renewal price.')")
    waiting = run("search", "budget cuts, worried about renewal", "-n", "1", project=root)
    assert "1 customer(s) have new or changed text not embedded yet" in waiting.output
    third = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
    assert [(r.pending, r.enriched, r.calls) for r in third] == [(1, 1, 1)]
    after = dict(rows(root, "SELECT customer_id, input_hash FROM AI.CUSTOMER_EMBEDDINGS"))
    assert after["C0000009"] != before["C0000009"] and {k: v for k, v in after.items() if k != "C0000009"} == {k: v for k, v in before.items() if k != "C0000009"}
    top = run("search", "budget cuts, worried about renewal", "-n", "1", "--json", project=root)
    assert json.loads(top.output)["key"] == "C0000009"


def test_segment_filter_and_panels(project: Path):
    root = deployed(with_search(project))
    assert run("run", project=root).exit_code == 0  # prompts first, then the embeddings
    shown = run("search", PLANTED, "--segment", "Growth", "-n", "2", project=root)
    assert shown.exit_code == 0, shown.output
    assert f"embedded by {LOCAL_LABEL}" in shown.output and "similarity" in shown.output
    keys = [json.loads(line)["segments"]["account_tier"] for line in run("search", PLANTED, "--segment", "Growth", "--json", project=root).output.splitlines()]
    assert keys and set(keys) == {"Growth"}
    unknown = run("search", PLANTED, "--segment", "Gorwth", project=root)
    assert unknown.exit_code == 1 and "did you mean `Growth`" in unknown.output


def test_plan_prices_the_embedding_and_a_new_model_re_embeds(project: Path):
    root = with_search(project)
    assert run("load", project=root).exit_code == 0
    planned = run("plan", project=root)
    # priced as Cortex would charge (like prompts on a local target); replies not made yet are said to be missing
    assert "customer_embeddings: 180 customers to embed, ~" in planned.output and f"on {MODEL}" in planned.output
    assert "each text cut at 1,500 characters (Cortex's 512-token input limit)" in " ".join(planned.output.split())
    assert "(account_summary.risk not counted: no replies stored yet)" in planned.output
    deployed(root)
    with FakeLLM() as llm:
        edit(root / "rulectl.yml", "llm: {provider: offline}", f"llm: {{provider: openai, base_url: '{llm.base_url}', model: m, embedding_model: mini-embed}}")
        changed = run("plan", project=root)
        assert "customer_embeddings: 180 customers to embed" in changed.output and "not counted" not in changed.output
        assert run("apply", "--yes", project=root).exit_code == 0
        result = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
        assert [(r.pending, r.enriched, r.calls, r.failures) for r in result] == [(180, 180, 180, 0)]
        assert sum(len(body["input"]) for body in llm.embedding_requests) == 180 and {body["model"] for body in llm.embedding_requests} == {"mini-embed"}
        assert max(len(body["input"]) for body in llm.embedding_requests) <= 64  # batched requests, not one per customer
        assert rows(root, "SELECT DISTINCT model, len(embedding) FROM AI.CUSTOMER_EMBEDDINGS") == [("mini-embed", EMBEDDING_DIMENSIONS)]
        requests = len(llm.embedding_requests)
        found = run("search", PLANTED, "-n", "1", "--json", project=root)
        assert json.loads(found.output)["key"] == "C0000002" and json.loads(found.output)["embedder"] == "mini-embed"
        assert len(llm.embedding_requests) == requests + 1  # the query is embedded once, not once per customer


def test_failed_embeddings_stay_pending(project: Path):
    root = deployed(with_search(project, "search:\n  text: [ticket_text]\n"))
    rows(root, "UPDATE SUPPORT.TICKETS SET body = body || ' FAULT_500' WHERE customer_id = 'C0000003'")
    with FakeLLM() as llm:
        edit(root / "rulectl.yml", "llm: {provider: offline}", f"llm: {{provider: openai, base_url: '{llm.base_url}', model: m, embedding_model: e, retries: 0}}")
        assert run("apply", "--yes", project=root).exit_code == 0
        result = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
    (done,) = result  # 7 customers have tickets; one request of 7 fails, then each is sent alone
    assert (done.pending, done.enriched, done.failures) == (7, 6, 1) and "HTTP 500" in done.errors[0]
    assert len(llm.embedding_requests) == 1 + 7
    assert ("C0000003",) not in rows(root, "SELECT customer_id FROM AI.CUSTOMER_EMBEDDINGS")  # never stored: pending next run
    log = rows(root, "SELECT pending, enriched, failed FROM _RULECTL.RUN_LOG WHERE prompt = 'customer_embeddings'")
    assert [tuple(int(v) for v in row) for row in log] == [(done.pending, done.enriched, done.failures)]


def test_clear_errors(project: Path):
    plain = run("search", "anything", project=project)
    assert plain.exit_code == 1 and "no `search:` section" in plain.output
    root = with_search(project)
    before_apply = run("search", "anything", project=root)
    assert before_apply.exit_code == 1 and "rulectl apply" in before_apply.output and "Traceback" not in before_apply.output
    empty = run("search", "  ", project=root)
    assert empty.exit_code == 1 and "give a query" in empty.output


def test_minimal_project_with_integer_keys(tmp_path: Path):
    """Another shape: an integer key, no prompts: the text is a segmentation and a number metric."""
    import shutil

    root = tmp_path / "minimal"
    shutil.copytree(Path(__file__).resolve().parent.parent / "projects" / "minimal", root, ignore=shutil.ignore_patterns(".rulectl"))
    (root / "rulectl.yml").write_text((root / "rulectl.yml").read_text() + "search:\n  text: [activity, weekly_visits]\n")
    for command in ("load", "apply", "run"):
        result = run(command, *(["--yes"] if command == "apply" else []), project=root)
        assert result.exit_code == 0, result.output
    texts = dict(rows(root, "SELECT member_id, embedded_text FROM AI.CUSTOMER_EMBEDDINGS"))
    assert texts[2] == "activity: Occasional\nweekly_visits: 0.192308\n"  # numbers as text, one part per line
    found = [json.loads(line) for line in run("search", "occasional", "-n", "2", "--json", project=root).output.splitlines()]
    assert [m["segments"]["activity"] for m in found] == ["Occasional", "Occasional"] and isinstance(found[0]["key"], str)


@pytest.mark.snowflake
def test_snowflake_apply_run_and_search(project: Path, monkeypatch):
    root = with_search(project)
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(declared_sources(load_project(root).config))
    connection.duck.execute("CREATE SCHEMA IF NOT EXISTS SUPPORT")
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, read_only=False: cls(connection, "CUSTOMER_INTEL")))
    applied = run("apply", "--yes", "--target", "prod", project=root)
    assert applied.exit_code == 0, applied.output
    assert any(s.startswith("CREATE TABLE AI.CUSTOMER_EMBEDDINGS (") and "embedding VECTOR(FLOAT, 768)" in s for s in connection.statements)
    created = [s for s in connection.statements if s.startswith("CREATE TASK AI.REFRESH_CUSTOMER_EMBEDDINGS")]
    assert len(created) == 1 and f"AI_EMBED('{MODEL}', p.text_value)" in created[0]
    # VECTOR is not supported in Snowflake Scripting (data-types-vector; the double refuses it): the
    # task's body is the bare MERGE, its failures in TASK_HISTORY
    assert created[0].split(" AS ", 1)[1].startswith("MERGE INTO AI.CUSTOMER_EMBEDDINGS") and "EXECUTE IMMEDIATE" not in created[0]
    ran = run("run", "customer_embeddings", "--target", "prod", project=root)
    assert ran.exit_code == 0, ran.output
    assert connection.statements[-1] == "EXECUTE TASK AI.REFRESH_CUSTOMER_EMBEDDINGS"
    # the double answers SELECTs on DuckDB: give it a stand-in for Cortex's AI_EMBED there
    connection.duck.create_function("rulectl_embed", lambda model, text: offline_embedding(text), ["VARCHAR", "VARCHAR"], "FLOAT[]")
    searched = run("search", "budget cuts", "--target", "prod", project=root)
    assert searched.exit_code == 0, searched.output
    sent = [s for s in connection.statements if "VECTOR_COSINE_SIMILARITY" in s]
    assert len(sent) == 1 and f"CROSS JOIN (SELECT AI_EMBED('{MODEL}', 'budget cuts') AS v) AS q" in sent[0]
    assert f"embedded by {MODEL}" in searched.output and f"no customer is embedded by `{MODEL}` yet" in searched.output
    # and how many customers wait to be embedded: the task's own pending query, counted (no AI_EMBED call)
    counted = [s for s in connection.statements if s.startswith("SELECT COUNT(*) FROM (SELECT t.customer_id, MD5(")]
    assert len(counted) == 1 and "AI_EMBED" not in counted[0]


@pytest.mark.snowflake
def test_an_embedding_model_snowflake_refuses_is_reported_before_any_run(project: Path, monkeypatch):
    """AI_EMBED has no TRY_ form: a model missing in the region would fail every task run, so apply
    warns and `run` refuses with Snowflake's own error, before EXECUTE TASK."""
    root = with_search(project)
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(declared_sources(load_project(root).config))
    connection.duck.execute("CREATE SCHEMA IF NOT EXISTS SUPPORT")
    connection.catalog.failing_models[MODEL] = "Unknown model 'snowflake-arctic-embed-m-v1.5' in this region"
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, read_only=False: cls(connection, "CUSTOMER_INTEL")))
    applied = run("apply", "--yes", "--target", "prod", project=root)
    shown = " ".join(applied.output.split())
    assert applied.exit_code == 0 and f"Cortex search: AI_EMBED with model {MODEL} fails: " in shown and f"Unknown model '{MODEL}' in this region" in shown
    ran = run("run", "customer_embeddings", "--target", "prod", project=root)
    assert ran.exit_code == 1 and "Unknown model" in ran.output and "nothing was run" in ran.output
    assert not any(s.startswith("EXECUTE TASK AI.REFRESH_CUSTOMER_EMBEDDINGS") for s in connection.statements)


def test_a_new_output_field_searched_in_the_same_edit_plans_and_applies(project: Path):
    """The field does not exist in the deployed output table yet: plan prices the embedding without it
    (it has no text until the prompt re-runs) instead of failing every task's estimate."""
    root = deployed(with_search(project))
    assert run("run", project=root).exit_code == 0
    edit(root / "prompts" / "account_summary.yml", "  risk: {type: label", "  concern: {type: text, description: The customer's main worry}\n  risk: {type: label")
    edit(root / "rulectl.yml", "text: [ticket_text, account_summary.risk, account_tier]", "text: [ticket_text, account_summary.concern, account_tier]")
    planned = run("plan", project=root)
    assert planned.exit_code == 0, planned.output
    assert "customer_embeddings: 180 customers to embed" in planned.output and "account_summary: 180 rows to enrich" in planned.output
    assert run("apply", "--yes", project=root).exit_code == 0
    assert run("run", project=root).exit_code == 0
    texts = [row[0] for row in rows(root, "SELECT embedded_text FROM AI.CUSTOMER_EMBEDDINGS")]
    assert len(texts) == 180 and all("account_summary.concern: [offline stand-in, not AI output]" in text for text in texts)


def test_an_endpoint_that_does_not_answer_fails_the_run_fast(project: Path):
    """Connection refused: the first request fails (after its retries) and nothing more is sent; each
    customer stays pending and the run says why."""
    import socket
    import time

    root = deployed(with_search(project, "search:\n  text: [account_tier]\n"))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    edit(root / "rulectl.yml", "llm: {provider: offline}", f"llm: {{provider: openai, base_url: 'http://127.0.0.1:{port}/v1', model: m, embedding_model: e, retries: 1}}")
    assert run("apply", "--yes", project=root).exit_code == 0
    started = time.perf_counter()
    (result,) = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
    assert time.perf_counter() - started < 10  # not 180 texts one by one, each waiting out its retries
    assert (result.pending, result.enriched, result.failures) == (180, 0, 180)
    assert "ConnectionRefusedError" in result.errors[0]  # requests in flight at once fail alike; later ones are not sent
    assert rows(root, "SELECT COUNT(*) FROM AI.CUSTOMER_EMBEDDINGS") == [(0,)]


def test_renamed_project_two_prompts_one_table(tmp_path: Path):
    """The original design's shape: two prompts share CUSTOMER_AI_INSIGHTS; search reads a field of
    one, the reply of the other, and a metric; each part comes from its own prompt's rows."""
    import shutil

    root = tmp_path / "renamed"
    shutil.copytree(Path(__file__).resolve().parent.parent / "projects" / "renamed", root, ignore=shutil.ignore_patterns(".rulectl"))
    loaded = load_project(root)
    structured = next(p.item for p in loaded.prompts if p.item.outputs)
    free = next(p.item for p in loaded.prompts if not p.item.outputs)
    field = next(name for name, f in structured.outputs.items() if f.type in ("text", "list"))
    (root / "rulectl.yml").write_text((root / "rulectl.yml").read_text() + f"search:\n  text: [{structured.name}.{field}, {free.name}]\n")
    for command in ("load", "apply", "run"):
        result = run(command, *(["--yes"] if command == "apply" else []), project=root)
        assert result.exit_code == 0, result.output
    texts = [row[0] for row in rows(root, f"SELECT embedded_text FROM {loaded.config.schemas.ai}.CUSTOMER_EMBEDDINGS")]  # the project's own AI schema
    assert texts and all(f"{structured.name}.{field}: " in t and f"{free.name}: " in t for t in texts)
    found = run("search", "offline stand-in", "-n", "2", "--json", project=root)
    assert found.exit_code == 0 and len(found.output.splitlines()) == 2


def test_a_customer_whose_text_becomes_blank_is_no_longer_found(project: Path):
    root = deployed(with_search(project, "search:\n  text: [ticket_text]\n"))
    first = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
    assert [(r.pending, r.enriched) for r in first] == [(7, 7)]  # only the customers with tickets have text
    rows(root, "DELETE FROM SUPPORT.TICKETS WHERE customer_id = 'C0000002'")
    second = workflow.run_refreshes(load_project(root), None, ["customer_embeddings"])
    assert [(r.pending, r.enriched, r.calls) for r in second] == [(1, 1, 0)]  # one row removed, no model call
    assert ("C0000002",) not in rows(root, "SELECT customer_id FROM AI.CUSTOMER_EMBEDDINGS")
    found = [json.loads(line)["key"] for line in run("search", PLANTED, "--json", project=root).output.splitlines()]
    assert "C0000002" not in found and len(found) == 6
