"""The compiled MERGE, as Snowflake SQL, run through fakesnow with the strict stand-in for Cortex
AI_COMPLETE: only changed rows call the model, failed calls (NULL) are not stored, variants match,
replies are read whether they arrive as a JSON object (VARIANT) or as JSON text, times are UTC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.compile.project import compile_project
from engine.compile.prompts import compile_prompt
from engine.config.loader import load_project
from engine.compile.variants import assign_variant
from tests.backends.test_parity_fakesnow import load_into_fakesnow
from tests.conftest import sample_rows
from tests.doubles.cortex import StrictCortex

pytestmark = pytest.mark.snowflake
fakesnow = pytest.importorskip("fakesnow")


class FakeCortex:
    """AI_COMPLETE for fakesnow, answered by the strict Cortex double (tests/doubles/cortex.py): the
    documented shape for the arguments sent, NULL for a call that fails — a refused schema keyword,
    a retired or unknown model, or a customer named in `failing`."""

    def __init__(self):
        self.strict = StrictCortex()
        self.calls = 0
        self.failing: set[str] = set()
        self.off_schema: set[str] = set()  # names whose structured reply breaks the schema (a label not allowed)
        self.raise_after: int | None = None  # calls after this many raise (a statement that fails late)
        self.errors: list[str] = []  # Snowflake's error for each NULL reply

    def __call__(self, model: str, prompt: str, model_parameters: str | None, response_format: str | None, show_details: bool | None, return_error_details: bool | None = None) -> str | None:
        self.calls += 1
        if self.raise_after is not None and self.calls > self.raise_after:
            raise RuntimeError("Cortex service unavailable")
        schema = json.loads(response_format) if response_format else None
        if any(name in prompt for name in self.failing):
            answer = None
        elif schema is not None:
            risk = "unknown" if any(name in prompt for name in self.off_schema) else "medium"
            answer = {"summary": f"summary by {model}", "next_actions": ["call the treasurer", "plan training"], "risk": risk}
        else:
            answer = f"summary by {model}"
        reply, error = self.strict.complete(model, prompt, json.loads(model_parameters) if model_parameters else None, schema, bool(show_details), answer)
        if error:
            self.errors.append(error)
        if return_error_details:  # an OBJECT of value and error
            return json.dumps({"value": reply, "error": error})
        return json.dumps(reply) if reply is not None and not isinstance(reply, str) else reply

    def install(self, connection, reply_type: str = "text") -> None:
        """`reply_type` "variant": the reply is a JSON object (fakesnow's VARIANT is DuckDB JSON);
        "text": the same object as a JSON string. AI_COMPLETE is a temporary macro (visible from every
        schema) with AI_COMPLETE's parameter names, so rulectl's named arguments reach it."""
        duck = connection._duck_conn  # fakesnow's DuckDB connection
        duck.create_function("fake_ai_complete", self, [str, str, str, str, bool, bool], str, null_handling="special", side_effects=True)
        reply = "fake_ai_complete(model, prompt, CAST(to_json(model_parameters) AS VARCHAR), CAST(to_json(response_format) AS VARCHAR), show_details, return_error_details)"
        duck.execute(
            "CREATE TEMP MACRO ai_complete(model := NULL, prompt := NULL, model_parameters := NULL, response_format := NULL, show_details := NULL, return_error_details := NULL) AS "
            + (f"CAST({reply} AS JSON)" if reply_type == "variant" else reply)
        )


@pytest.mark.parametrize("reply_type", ["variant", "text"])
def test_merge_enriches_changed_rows_only_and_never_stores_failures(project: Path, reply_type: str):
    import snowflake.connector
    from datetime import datetime, timezone

    loaded = load_project(project)
    objects = compile_project(loaded, "prod")
    merge = next(o for o in objects if o.kind == "task").sql(pretty=False)
    compiled = compile_prompt(loaded, loaded.prompts[0])
    customers = sample_rows("customer")
    failing = customers[4]["customer_name"]
    cortex = FakeCortex()
    cortex.failing.add(failing)
    off_schema = customers[6]["customer_name"]
    cortex.off_schema.add(off_schema)
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        cortex.install(connection, reply_type)
        cursor = connection.cursor()
        load_into_fakesnow(cursor, loaded, objects, kinds=("schema", "view", "table"))

        cursor.execute(merge)
        first_calls = cortex.calls
        cursor.execute("SELECT customer_id, variant, response, provider, model, input_tokens, generated_at, summary, risk, next_actions FROM AI.ACCOUNT_INSIGHTS")
        stored = {row[0]: row[1:] for row in cursor.fetchall()}
        utc_now = datetime.now(timezone.utc).replace(tzinfo=None)

        cortex.failing.clear()
        cortex.off_schema.clear()
        cursor.execute(merge)
        second_calls = cortex.calls - first_calls
        cursor.execute(merge)
        third_calls = cortex.calls - first_calls - second_calls
        cursor.execute("SELECT COUNT(*) FROM AI.ACCOUNT_INSIGHTS")
        final_rows = cursor.fetchone()[0]
        connection.close()

    same_name = {c["customer_id"] for c in customers if c["customer_name"] in (failing, off_schema)}
    assert first_calls == len(customers)
    assert set(stored) == {c["customer_id"] for c in customers} - same_name  # failures and off-schema replies not stored
    assert all(row[2] == "snowflake-cortex" and row[3] == "llama3.1-8b" and row[4] > 100 for row in stored.values())  # usage from show_details
    assert all(json.loads(row[1])["risk"] == "medium" and row[6] == "summary by llama3.1-8b" and row[7] == "medium" for row in stored.values())
    assert all(json.loads(row[8]) == ["call the treasurer", "plan training"] for row in stored.values())  # an ARRAY column
    assert all(abs((row[5] - utc_now).total_seconds()) < 120 for row in stored.values())  # UTC, no offset
    weights = [(v.name, v.weight) for v in compiled.variants]
    assert all(row[0] == assign_variant(compiled.salt, cid, weights) for cid, row in stored.items())
    assert second_calls == len(same_name)  # only the rows that failed are retried
    assert third_calls == 0 and final_rows == len(customers)


def test_bounded_batches_keep_what_landed_when_a_late_batch_fails_and_the_run_log_says_so(project: Path):
    """The statements of the task's script (run log, then the MERGE window by window, then the run
    log again), with the values Snowflake Scripting would bind: NULL replies stay pending, a failure
    in the third batch keeps the first two, and the next run asks only for the rest."""
    import snowflake.connector
    from sqlglot import exp

    from engine.backends.base import RUN_LOG_DDL, run_log_finish, run_log_start
    from engine.compile.refresh_batches import batch_merge

    loaded = load_project(project)
    objects = compile_project(loaded, "prod")
    merge = next(o for o in objects if o.kind == "task").statement
    customers = sample_rows("customer")
    cortex = FakeCortex()
    cortex.failing.add(customers[0]["customer_name"])  # its row stays pending (NULL reply)
    number = exp.Literal.number

    def refresh(cursor, run_id: str, batch: int, fail_from_call: int | None) -> tuple[int, int, int]:
        # The script counts the pending rows first (pending_count_query, run by the local runner on
        # DuckDB too); fakesnow cannot run that query on its own (its ARRAY_TO_STRING rewrite makes a
        # lambda DuckDB 2 refuses), so the count comes from the rows already stored.
        cursor.execute("SELECT COUNT(*) FROM AI.ACCOUNT_INSIGHTS")
        pending = len(customers) - cursor.fetchone()[0]
        cursor.execute(run_log_start("account_summary", exp.Literal.string(run_id), number(pending)).sql("snowflake"))
        attempted = enriched = 0
        error = None
        try:
            while attempted < pending:
                take = min(batch, pending - attempted)
                cortex.raise_after = fail_from_call
                cursor.execute(batch_merge(merge, number(attempted - enriched), number(take)).sql("snowflake"))
                enriched += sum(cursor.fetchone())  # rows inserted + rows updated
                attempted += take
        except Exception as failure:
            error = str(failure).splitlines()[0]
        cursor.execute(run_log_finish(exp.Literal.string(run_id), number(enriched), number(attempted - enriched), exp.Literal.string(error) if error else None).sql("snowflake"))
        return pending, enriched, cortex.calls

    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        cortex.install(connection)
        cursor = connection.cursor()
        load_into_fakesnow(cursor, loaded, objects, kinds=("schema", "view", "table"))
        cursor.execute("CREATE SCHEMA IF NOT EXISTS _RULECTL")
        cursor.execute(RUN_LOG_DDL)

        pending, enriched, calls = refresh(cursor, "r1", batch=40, fail_from_call=100)  # the third batch fails
        cursor.execute("SELECT COUNT(*) FROM AI.ACCOUNT_INSIGHTS")
        kept = cursor.fetchone()[0]
        cortex.failing.clear()
        before = cortex.calls
        second = refresh(cursor, "r2", batch=40, fail_from_call=None)
        cursor.execute("SELECT run_id, pending, enriched, failed, error IS NOT NULL, finished_at IS NOT NULL FROM _RULECTL.RUN_LOG ORDER BY run_id")
        logged = cursor.fetchall()
        connection.close()

    same_name = sum(1 for c in customers if c["customer_name"] == customers[0]["customer_name"])
    assert pending == len(customers) and enriched == kept and 80 - same_name <= kept < 80  # two batches of 40 kept, NULL replies not stored
    assert calls == 80 + 21  # the third batch: 20 replies, then the call that fails; those 20 are lost, nothing else
    assert second[0] == len(customers) - kept and cortex.calls - before == len(customers) - kept  # only rows without a reply
    assert logged == [("r1", len(customers), kept, 80 - kept, True, True), ("r2", len(customers) - kept, len(customers) - kept, 0, False, True)]


def test_sentiment_merge_scores_labels_and_a_ticket_over_the_input_limit_never_fails_its_batch(project: Path):
    """The compiled sentiment MERGE, as Snowflake SQL, against AI_SENTIMENT answered by the strict
    double (an input over 512 tokens is Snowflake's error): a 10,000-character ticket is cut before
    it is sent, so the batch lands; labels become 1 / 0 / −1."""
    import snowflake.connector

    from tests.ai.test_sentiment import with_tickets

    root = with_tickets(project)
    loaded = load_project(root)
    objects = compile_project(loaded, "prod")
    merge = next(o for o in objects if o.kind == "task" and o.name == "REFRESH_SUPPORT_TICKETS_SENTIMENT").sql(pretty=False)
    strict = StrictCortex()
    sent: list[int] = []

    def ai_sentiment(text: str) -> str:
        sent.append(len(text))
        return json.dumps(strict.sentiment(text))

    tickets = [("C0000001", "T1", "Great support, thanks!"), ("C0000002", "T2", "The export is broken and slow. " * 400), ("C0000003", "T3", "What is the renewal date?")]
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        connection._duck_conn.create_function("fake_ai_sentiment", ai_sentiment, [str], str, side_effects=True)
        connection._duck_conn.execute("CREATE TEMP MACRO ai_sentiment(text) AS CAST(fake_ai_sentiment(text) AS JSON)")
        cursor = connection.cursor()
        cursor.execute("CREATE SCHEMA IF NOT EXISTS SUPPORT")
        cursor.execute("CREATE TABLE SUPPORT.TICKETS (customer_id VARCHAR, ticket_id VARCHAR, opened_on DATE, body VARCHAR)")
        for customer, ticket, body in tickets:
            cursor.execute(f"INSERT INTO SUPPORT.TICKETS VALUES ('{customer}', '{ticket}', '2026-11-01', '{body}')")
        cursor.execute("CREATE SCHEMA IF NOT EXISTS AI")
        cursor.execute(next(o for o in objects if o.qualified_name == "AI.SUPPORT_TICKETS_SENTIMENT").sql(pretty=False))
        cursor.execute(merge)
        cursor.execute("SELECT ticket_id, sentiment FROM AI.SUPPORT_TICKETS_SENTIMENT ORDER BY ticket_id")
        scores = dict(cursor.fetchall())
        connection.close()
    assert len(tickets[1][2]) > 10_000 and max(sent) == 1500  # cut before it was sent
    assert scores == {"T1": 1, "T2": -1, "T3": 0}
    with pytest.raises(Exception, match="512-token limit"):
        strict.sentiment(tickets[1][2])  # sent whole, Snowflake would have failed the batch


@pytest.mark.parametrize("reply_type", ["variant", "text"])
def test_a_free_text_reply_is_read_from_choices_with_its_token_usage(project: Path, reply_type: str):
    """Without `outputs:` AI_COMPLETE is sent no response_format, and with show_details it answers
    {"choices": [{"messages": …}], "model", "usage": {"prompt_tokens", "completion_tokens", …}}
    (https://docs.snowflake.com/en/sql-reference/functions/ai_complete-single-string)."""
    import snowflake.connector

    prompt = project / "prompts" / "account_summary.yml"
    prompt.write_text(prompt.read_text().split("\noutputs:", 1)[0] + "\n")
    loaded = load_project(project)
    objects = compile_project(loaded, "prod")
    merge = next(o for o in objects if o.kind == "task").sql(pretty=False)
    assert "response_format" not in merge and "show_details => TRUE" in merge
    cortex = FakeCortex()
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        cortex.install(connection, reply_type)
        cursor = connection.cursor()
        load_into_fakesnow(cursor, loaded, objects, kinds=("schema", "view", "table"))
        cursor.execute(merge)
        cursor.execute("SELECT response, model, input_tokens, output_tokens FROM AI.ACCOUNT_INSIGHTS")
        stored = cursor.fetchall()
        connection.close()
    assert len(stored) == len(sample_rows("customer")) == cortex.calls and not cortex.errors
    assert all(row[0] == "summary by llama3.1-8b" and row[1] == "llama3.1-8b" for row in stored)
    assert all(row[2] > 100 and row[3] == 6 for row in stored)  # the prompt's and the reply's tokens, from usage


def test_a_retired_model_stores_nothing_and_every_row_stays_pending(project: Path):
    """A retired model's calls fail ("queries or API calls that reference the deprecated model will
    fail after the deprecation date"): NULL replies, nothing stored, the error kept by the double."""
    import snowflake.connector

    prompt = project / "prompts" / "account_summary.yml"
    prompt.write_text(prompt.read_text().replace("model: llama3.1-8b", "model: mistral-large2", 1))
    loaded = load_project(project)
    objects = compile_project(loaded, "prod")
    cortex = FakeCortex()
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        cortex.install(connection)
        cursor = connection.cursor()
        load_into_fakesnow(cursor, loaded, objects, kinds=("schema", "view", "table"))
        cursor.execute(next(o for o in objects if o.kind == "task").sql(pretty=False))
        cursor.execute("SELECT COUNT(*) FROM AI.ACCOUNT_INSIGHTS")
        stored = cursor.fetchone()[0]
        connection.close()
    assert stored == 0 and cortex.calls == len(sample_rows("customer"))
    assert set(cortex.errors) == {"Model 'mistral-large2' has been deprecated and is no longer available. Use a supported model."}


def test_a_run_that_enriched_nothing_gets_snowflakes_reason_from_its_first_pending_row(project: Path):
    """The task script's error query (compile/cortex_calls.first_pending_error_query): the MERGE's
    own AI_COMPLETE on one pending row, with return_error_details, gives the reason NULL hid."""
    import snowflake.connector

    from engine.compile.cortex_calls import first_pending_error_query

    prompt = project / "prompts" / "account_summary.yml"
    prompt.write_text(prompt.read_text().replace("model: llama3.1-8b", "model: mistral-large2", 1))
    loaded = load_project(project)
    objects = compile_project(loaded, "prod")
    asked = first_pending_error_query(next(o for o in objects if o.kind == "task").statement).sql("snowflake")
    cortex = FakeCortex()
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        cortex.install(connection)
        cursor = connection.cursor()
        load_into_fakesnow(cursor, loaded, objects, kinds=("schema", "view", "table"))
        # fakesnow binds the pending rows' ARRAY_TO_STRING inside a MERGE but not in a bare SELECT
        # (see the batches test above): the query is the source of a MERGE here
        cursor.execute("CREATE TABLE REASONS (reason VARCHAR)")
        cursor.execute(f"MERGE INTO REASONS AS t USING ({asked}) AS s ON FALSE WHEN NOT MATCHED THEN INSERT (reason) VALUES (s.rulectl_error)")
        cursor.execute("SELECT reason FROM REASONS")
        rows = cursor.fetchall()
        connection.close()
    assert rows == [("Model 'mistral-large2' has been deprecated and is no longer available. Use a supported model.",)] and cortex.calls == 1


def test_a_day_later_the_snowflake_merge_asks_the_model_for_nobody(project: Path):
    """`refresh.ignore_changes` in the Snowflake SQL: the compiled MERGE run a day later (fakesnow's
    DuckDB clock moved by a temporary CURRENT_DATE macro, as tests/clock.py does locally) calls
    AI_COMPLETE for no customer, though every days_to_renewal in the prompts changed; two days
    later for exactly the customer whose tier or opportunities changed (the local test's figures)."""
    import snowflake.connector

    from tests.clock import clock_settings

    loaded = load_project(project)
    objects = compile_project(loaded, "prod")
    merge = next(o for o in objects if o.kind == "task").sql(pretty=False)
    cortex = FakeCortex()
    calls = []
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        cortex.install(connection)
        cursor = connection.cursor()
        load_into_fakesnow(cursor, loaded, objects, kinds=("schema", "view", "table"))
        for day in ("2026-12-04", "2026-12-05", "2026-12-06"):
            for setting in clock_settings(__import__("datetime").date.fromisoformat(day)):
                connection._duck_conn.execute(setting)
            before = cortex.calls
            cursor.execute(merge)
            calls.append(cortex.calls - before)
        connection.close()
    assert calls == [len(sample_rows("customer")), 0, 1]
