"""Enrichments follow deletes, and plan tells the whole refresh (issue 22).

After `rulectl load` with a ticket removed, a ticket emptied and a customer gone, plan counts what
the next run removes; the run deletes their sentiment scores, the customer's prompt output and its
embedding, and metrics over the scores no longer count them. After an edit, plan's embedding count
is what the run then embeds. Snowflake: the exact DELETE statements, run through fakesnow."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from engine import workflow
from engine.compile.project import compile_project
from engine.config.loader import load_project
from tests.ai.test_sentiment import with_tickets
from tests.conftest import edit, run
from tests.conftest import target_rows as rows
from tests.test_project_shapes import copy_shape

SAMPLES = Path("data") / "sample_inputs"
TICKET_TEXT = "\n  - name: ticket_text\n    source: support_tickets\n    expr: LISTAGG(body, ' ') WITHIN GROUP (ORDER BY opened_on, body)\n"


def rewrite_csv(path: Path, keep=lambda row: True, change=lambda row: row) -> None:
    with path.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(table[0]))
        writer.writeheader()
        writer.writerows(change(dict(row)) for row in table if keep(row))


def deployed_and_run(root: Path) -> None:
    for command in ("load", "apply", "run"):
        result = run(command, *(["--yes"] if command == "apply" else []), project=root)
        assert result.exit_code == 0, result.output


def test_deleted_and_emptied_rows_leave_scores_outputs_embeddings_and_metrics(project: Path):
    root = with_tickets(project)
    (root / "rulectl.yml").write_text((root / "rulectl.yml").read_text() + "search:\n  text: [ticket_text, account_tier]\n")
    (root / "rules" / "metrics.yml").write_text((root / "rules" / "metrics.yml").read_text().rstrip("\n") + "\n" + TICKET_TEXT)
    deployed_and_run(root)
    score = dict(rows(root, "SELECT ticket_id, sentiment FROM AI.SUPPORT_TICKETS_SENTIMENT"))
    assert score["T0010"] != score["T0011"] and score["T0007"] != score["T0008"]  # so the means below move

    # a data-only reload: ticket T0010 deleted, T0008's text emptied, customer C0000008 gone
    rewrite_csv(root / SAMPLES / "support_tickets.csv", keep=lambda r: r["ticket_id"] != "T0010",
                change=lambda r: {**r, "body": ""} if r["ticket_id"] == "T0008" else r)
    for name in ("customer.csv", "products.csv"):
        rewrite_csv(root / SAMPLES / name, keep=lambda r: r["customer_id"] != "C0000008")
    assert run("load", project=root).exit_code == 0
    mean = lambda: dict(rows(root, "SELECT customer_id, ticket_sentiment FROM ANALYTICS.CUSTOMER_SEGMENTS WHERE customer_id IN ('C0000004', 'C0000006')"))  # noqa: E731
    assert mean() == {"C0000004": (score["T0007"] + score["T0008"]) / 2, "C0000006": (score["T0010"] + score["T0011"]) / 2}  # stale until the run

    shown = " ".join(run("plan", project=root).output.split())
    assert "support_tickets_sentiment: nothing to enrich; 2 stored rows to remove" in shown
    assert "account_summary: nothing to enrich; 1 stored row to remove" in shown
    assert "customer_embeddings: 2 customers to embed" in shown and "; 1 stored row to remove" in shown  # C0000004 and C0000006's text changed
    assert "No changes. The target matches the project." in shown

    results = {r.prompt: r for r in workflow.run_refreshes(load_project(root), None, [])}
    assert {name: (r.removed, r.enriched) for name, r in results.items()} == {
        "support_tickets_sentiment": (2, 0), "account_summary": (1, 0), "customer_embeddings": (1, 2),
    }
    assert mean() == {"C0000004": score["T0007"], "C0000006": score["T0011"]}  # AVG(sentiment) no longer counts them
    assert not {"T0008", "T0010"} & {r[0] for r in rows(root, "SELECT ticket_id FROM AI.SUPPORT_TICKETS_SENTIMENT")}
    for table in ("AI.ACCOUNT_INSIGHTS", "AI.CUSTOMER_EMBEDDINGS"):
        assert rows(root, f"SELECT COUNT(*) FROM {table} WHERE customer_id = 'C0000008'") == [(0,)]
        assert rows(root, f"SELECT COUNT(*) FROM {table}") == [(179,)]
    again = workflow.run_refreshes(load_project(root), None, [])
    assert [(r.removed, r.enriched) for r in again] == [(0, 0)] * 3
    assert "Next AI refresh" not in run("plan", project=root).output  # nothing waits: plan says nothing


def test_renamed_two_prompts_one_table_lose_a_departed_account_and_plan_shows_a_reload(tmp_path: Path):
    root = copy_shape("renamed", tmp_path)
    deployed_and_run(root)
    before = rows(root, "SELECT prompt_name, COUNT(*) FROM ENRICHED.CUSTOMER_AI_INSIGHTS GROUP BY 1 ORDER BY 1")
    assert before == [("account_summary", 5), ("recommended_action", 5)]
    accounts = root / "data" / "accounts.csv"
    gone = list(csv.DictReader(accounts.open()))[0]["account_id"]
    renamed = list(csv.DictReader(accounts.open()))[1]["account_id"]
    rewrite_csv(accounts, keep=lambda r: r["account_id"] != gone, change=lambda r: {**r, "account_name": r["account_name"] + " (renamed)"} if r["account_id"] == renamed else r)
    assert run("load", project=root).exit_code == 0
    shown = " ".join(run("plan", project=root).output.split())
    # was "No changes" alone: the reload changes one account's prompt input and removes another
    assert "account_summary: 1 row to enrich" in shown and "recommended_action: 1 row to enrich" in shown
    assert shown.count("; 1 stored row to remove") == 2 and "No changes." in shown
    results = workflow.run_refreshes(load_project(root), None, [])
    assert [(r.prompt, r.removed, r.enriched) for r in results] == [("account_summary", 1, 1), ("recommended_action", 1, 1)]
    assert rows(root, "SELECT prompt_name, COUNT(*) FROM ENRICHED.CUSTOMER_AI_INSIGHTS GROUP BY 1 ORDER BY 1") == [("account_summary", 4), ("recommended_action", 4)]
    assert rows(root, f"SELECT COUNT(*) FROM ENRICHED.CUSTOMER_AI_INSIGHTS WHERE account_id = '{gone}'") == [(0,)]


def test_the_embedding_estimate_is_what_the_run_embeds_after_an_edit(project: Path):
    # was "customer_embeddings: 0 customers to embed", then the run embedded them: the searched
    # reply changes only when the same run re-asks the prompt
    (project / "rulectl.yml").write_text((project / "rulectl.yml").read_text() + "search:\n  text: [account_summary.summary]\n")
    deployed_and_run(project)
    edit(project / "rules" / "segments.yml", "total_arr >= 150000", "total_arr >= 100000")
    plan = workflow.plan(load_project(project))
    estimated = {cost.prompt: cost.rows for cost in plan.ai_costs}
    assert estimated["account_summary"] > 0 and estimated["customer_embeddings"] == estimated["account_summary"]
    assert run("apply", "--yes", project=project).exit_code == 0
    results = {r.prompt: r.enriched for r in workflow.run_refreshes(load_project(project), None, [])}
    assert results == estimated


@pytest.mark.snowflake
def test_snowflake_removals_are_exact_and_delete_only_what_is_gone_on_fakesnow(project: Path, tmp_path: Path):
    import snowflake.connector

    from tests.backends.test_parity_fakesnow import load_into_fakesnow

    fakesnow = pytest.importorskip("fakesnow")
    plain = tmp_path / "plain"
    shutil.copytree(project, plain)
    root = with_tickets(project)
    loaded = load_project(root)
    objects = {obj.qualified_name: obj for obj in compile_project(loaded, "prod")}
    sentiment = objects["AI.REFRESH_SUPPORT_TICKETS_SENTIMENT"].removal_statement.sql(dialect="snowflake")
    prompt = objects["AI.REFRESH_ACCOUNT_SUMMARY"].removal_statement.sql(dialect="snowflake")
    assert sentiment == (
        "DELETE FROM AI.SUPPORT_TICKETS_SENTIMENT USING (SELECT o.customer_id, o.ticket_id FROM AI.SUPPORT_TICKETS_SENTIMENT AS o "
        "LEFT JOIN SUPPORT.TICKETS AS s ON s.customer_id = o.customer_id AND s.ticket_id = o.ticket_id AND (NOT s.body IS NULL AND TRIM(s.body) <> '') "
        "WHERE s.customer_id IS NULL) AS gone "
        "WHERE AI.SUPPORT_TICKETS_SENTIMENT.customer_id = gone.customer_id AND AI.SUPPORT_TICKETS_SENTIMENT.ticket_id = gone.ticket_id"
    )
    assert prompt == (
        "DELETE FROM AI.ACCOUNT_INSIGHTS USING (SELECT o.customer_id FROM AI.ACCOUNT_INSIGHTS AS o "
        "LEFT JOIN ANALYTICS.CUSTOMER_SEGMENTS AS s ON s.customer_id = o.customer_id WHERE o.prompt_name = 'account_summary' AND s.customer_id IS NULL) AS gone "
        "WHERE AI.ACCOUNT_INSIGHTS.customer_id = gone.customer_id AND AI.ACCOUNT_INSIGHTS.prompt_name = 'account_summary'"
    )
    plain = load_project(plain)
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        cursor = connection.cursor()
        load_into_fakesnow(cursor, plain, compile_project(plain, "prod"), kinds=("schema", "view", "table"))
        cursor.execute("CREATE SCHEMA SUPPORT")
        cursor.execute("CREATE TABLE SUPPORT.TICKETS (customer_id VARCHAR, ticket_id VARCHAR, body VARCHAR)")
        cursor.execute("INSERT INTO SUPPORT.TICKETS VALUES ('C0000001', 'T0001', 'fine'), ('C0000004', 'T0008', ' ')")  # T0008 emptied
        cursor.execute(objects["AI.SUPPORT_TICKETS_SENTIMENT"].sql(pretty=False))
        cursor.execute("INSERT INTO AI.SUPPORT_TICKETS_SENTIMENT (customer_id, ticket_id, input_hash, sentiment) VALUES "
                       "('C0000001', 'T0001', 'h', 1), ('C0000004', 'T0008', 'h', -1), ('C0000009', 'T0099', 'h', 0)")
        cursor.execute("INSERT INTO AI.ACCOUNT_INSIGHTS (customer_id, prompt_name, response) VALUES "
                       "('C0000001', 'account_summary', 'kept'), ('GONE', 'account_summary', 'removed'), ('GONE', 'another_prompt', 'not this task''s')")
        cursor.execute(sentiment)
        cursor.execute(prompt)
        cursor.execute("SELECT ticket_id FROM AI.SUPPORT_TICKETS_SENTIMENT ORDER BY 1")
        scores = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT customer_id, prompt_name FROM AI.ACCOUNT_INSIGHTS ORDER BY 1, 2")
        outputs = cursor.fetchall()
        connection.close()
    assert scores == ["T0001"]  # the emptied ticket and the deleted one are gone
    assert outputs == [("C0000001", "account_summary"), ("GONE", "another_prompt")]
    script = objects["AI.REFRESH_ACCOUNT_SUMMARY"]
    from engine.backends.snowflake import SnowflakeBackend

    body = SnowflakeBackend.__new__(SnowflakeBackend).refresh_script(script).sql(dialect="snowflake")
    assert body.index("DELETE FROM AI.ACCOUNT_INSIGHTS USING") < body.index("COUNT(*) INTO :pending_rows")  # removed first
