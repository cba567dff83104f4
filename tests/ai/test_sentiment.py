"""Row-level sentiment (`enrich: {sentiment: {text: body}}` on a source): the exact Snowflake SQL, a
score table keyed like the source filled only for new or changed rows (calls counted), the local
VADER analyser's signs on the sample tickets, metrics and rules over the scores, the plan's rows,
and the Snowflake path (CREATE TASK, EXECUTE TASK) through the recording connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import workflow
from engine.ai.local_sentiment import sentiment_score
from engine.backends.snowflake import SnowflakeBackend
from engine.compile.project import compile_project
from engine.config.enrichments import declared_sources
from engine.config.loader import load_project
from tests.conftest import edit, run
from tests.conftest import target_rows as rows
from tests.doubles.recording import RecordingConnection

TICKETS_SOURCE = """  support_tickets:
    table: SUPPORT.TICKETS
    grain: [customer_id, ticket_id]
    columns: {customer_id: varchar, ticket_id: varchar, opened_on: date, body: varchar}
    sample: data/sample_inputs/support_tickets.csv
    enrich:
      sentiment: {text: body}
display:"""
METRICS = """
  - name: ticket_sentiment
    description: Mean sentiment of the customer's support tickets
    source: support_tickets_sentiment
    expr: AVG(sentiment)
  - name: negative_tickets
    source: support_tickets_sentiment
    expr: COUNT_IF(sentiment < -0.3)
"""
SEGMENTATION = """
  - name: ticket_mood
    rules:
      - {segment: Unhappy, when: ticket_sentiment < -0.3}
    default: Fine
"""
NEGATIVE, POSITIVE = ("T0003", "T0004", "T0005"), ("T0001", "T0006", "T0009")


def with_tickets(root: Path) -> Path:
    edit(root / "rulectl.yml", "display:", TICKETS_SOURCE)
    (root / "rules" / "metrics.yml").write_text((root / "rules" / "metrics.yml").read_text().rstrip("\n") + "\n" + METRICS)
    (root / "rules" / "segments.yml").write_text((root / "rules" / "segments.yml").read_text().rstrip("\n") + "\n" + SEGMENTATION)
    return root


def test_snowflake_sql_is_exact(project: Path):
    objects = {obj.qualified_name: obj for obj in compile_project(load_project(with_tickets(project)), "prod")}
    assert objects["AI.SUPPORT_TICKETS_SENTIMENT"].sql(pretty=False) == (
        "CREATE TABLE AI.SUPPORT_TICKETS_SENTIMENT (customer_id VARCHAR, ticket_id VARCHAR, input_hash VARCHAR, sentiment DOUBLE, scored_at TIMESTAMPNTZ)"
    )
    task = objects["AI.REFRESH_SUPPORT_TICKETS_SENTIMENT"]
    assert dict(task.options)["schedule"] == "USING CRON 0 6 * * * UTC" and dict(task.options)["batch_rows"] == "500"
    assert task.sql(pretty=False) == (
        "MERGE INTO AI.SUPPORT_TICKETS_SENTIMENT AS t USING (SELECT r.customer_id, r.ticket_id, r.input_hash, "
        "CASE r.sentiment_label WHEN 'positive' THEN 1 WHEN 'negative' THEN -1 WHEN 'neutral' THEN 0 WHEN 'mixed' THEN 0 END AS sentiment FROM ("
        "SELECT p.customer_id, p.ticket_id, p.input_hash, CAST(GET_PATH(AI_SENTIMENT(p.text_value), 'categories[0].sentiment') AS VARCHAR) AS sentiment_label FROM ("
        "SELECT s.customer_id, s.ticket_id, MD5(s.body) AS input_hash, LEFT(s.body, 1500) AS text_value FROM SUPPORT.TICKETS AS s "
        "LEFT JOIN AI.SUPPORT_TICKETS_SENTIMENT AS o ON o.customer_id = s.customer_id AND o.ticket_id = s.ticket_id "
        "WHERE NOT s.body IS NULL AND TRIM(s.body) <> '' AND (o.input_hash IS NULL OR o.input_hash <> MD5(s.body)) "
        "ORDER BY s.customer_id, s.ticket_id LIMIT 10000) AS p) AS r WHERE r.sentiment_label IN ('positive', 'negative', 'neutral', 'mixed')) AS x "
        "ON t.customer_id = x.customer_id AND t.ticket_id = x.ticket_id "
        "WHEN MATCHED THEN UPDATE SET t.input_hash = x.input_hash, t.sentiment = x.sentiment, t.scored_at = CAST(CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP()) AS TIMESTAMPNTZ) "
        "WHEN NOT MATCHED THEN INSERT (customer_id, ticket_id, input_hash, sentiment, scored_at) "
        "VALUES (x.customer_id, x.ticket_id, x.input_hash, x.sentiment, CAST(CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP()) AS TIMESTAMPNTZ))"
    )
    # the metrics view reads the score table, so it is created first
    assert "AI.SUPPORT_TICKETS_SENTIMENT" in objects["ANALYTICS.CUSTOMER_METRICS"].depends_on


def test_local_scores_only_new_or_changed_rows(project: Path):
    root = with_tickets(project)
    assert run("load", project=root).exit_code == 0
    planned = run("plan", project=root)
    assert "support_tickets_sentiment: 12 rows to score, ~" in planned.output and "input tokens on cortex-sentiment" in planned.output
    assert "each text cut at 1,500 characters (Cortex's 512-token input limit)" in " ".join(planned.output.split())
    assert run("apply", "--yes", project=root).exit_code == 0

    first = workflow.run_refreshes(load_project(root), None, ["support_tickets_sentiment"])
    assert [(r.pending, r.enriched, r.calls) for r in first] == [(12, 12, 12)]
    assert "VADER" in first[0].note and "not Cortex" in first[0].note
    second = workflow.run_refreshes(load_project(root), None, ["support_tickets_sentiment"])
    assert [(r.pending, r.enriched, r.calls) for r in second] == [(0, 0, 0)]  # nothing changed, nothing re-scored

    before = dict(rows(root, "SELECT ticket_id, input_hash FROM AI.SUPPORT_TICKETS_SENTIMENT"))
    rows(root, "UPDATE SUPPORT.TICKETS SET body = 'Everything works now, thank you so much!' WHERE ticket_id = 'T0004'")
    rows(root, "INSERT INTO SUPPORT.TICKETS VALUES ('C0000008', 'T0013', DATE '2026-11-20', 'Horrible bug, we lost data.')")
    third = workflow.run_refreshes(load_project(root), None, ["support_tickets_sentiment"])
    assert [(r.pending, r.enriched, r.calls) for r in third] == [(2, 2, 2)]  # the changed ticket and the new one
    after = dict(rows(root, "SELECT ticket_id, input_hash FROM AI.SUPPORT_TICKETS_SENTIMENT"))
    assert after["T0004"] != before["T0004"] and {k: v for k, v in after.items() if k not in ("T0004", "T0013")} == {k: v for k, v in before.items() if k != "T0004"}
    scores = dict(rows(root, "SELECT ticket_id, sentiment FROM AI.SUPPORT_TICKETS_SENTIMENT"))
    assert scores["T0004"] > 0 and scores["T0013"] < 0
    log = rows(root, "SELECT pending, enriched, failed FROM _RULECTL.RUN_LOG WHERE prompt = 'support_tickets_sentiment' ORDER BY started_at")
    assert [tuple(int(v) for v in row) for row in log] == [(12, 12, 0), (0, 0, 0), (2, 2, 0)]
    status = run("status", "--json", project=root)
    assert status.exit_code == 0 and '"support_tickets_sentiment"' in status.output


def test_sample_ticket_signs_metrics_and_rules(project: Path):
    root = with_tickets(project)
    for command in ("load", "apply"):
        assert run(command, *(["--yes"] if command == "apply" else []), project=root).exit_code == 0
    assert run("run", "support_tickets_sentiment", project=root).exit_code == 0
    scores = dict(rows(root, "SELECT ticket_id, sentiment FROM AI.SUPPORT_TICKETS_SENTIMENT"))
    assert all(scores[t] < 0 for t in NEGATIVE) and all(scores[t] > 0 for t in POSITIVE)
    assert all(-1 <= s <= 1 for s in scores.values())
    assert scores["T0007"] == 0  # a plain question is neutral
    metrics = {r[0]: r[1:] for r in rows(root, "SELECT customer_id, ticket_sentiment, negative_tickets, ticket_mood FROM ANALYTICS.CUSTOMER_SEGMENTS WHERE customer_id IN ('C0000001', 'C0000002', 'C0000008')")}
    assert metrics["C0000002"][0] < -0.3 and metrics["C0000002"][1:] == (3, "Unhappy")
    assert metrics["C0000001"][0] > 0 and metrics["C0000001"][1:] == (0, "Fine")
    assert metrics["C0000008"] == (None, 0, "Fine")  # no tickets: NULL mean, zero count, default label


def test_local_analyser_is_vader():
    assert sentiment_score("Terrible outage, we are furious.") < -0.5
    assert sentiment_score("Great support, thank you!") > 0.5


@pytest.mark.snowflake
def test_snowflake_task_and_run(project: Path, monkeypatch):
    root = with_tickets(project)
    connection = RecordingConnection("CUSTOMER_INTEL").add_source_tables(declared_sources(load_project(root).config))  # not the score table: apply makes it
    connection.duck.execute("CREATE SCHEMA IF NOT EXISTS SUPPORT")
    monkeypatch.setattr(SnowflakeBackend, "from_target", classmethod(lambda cls, loaded, target, read_only=False: cls(connection, "CUSTOMER_INTEL")))
    applied = run("apply", "--yes", "--target", "prod", project=root)
    assert applied.exit_code == 0, applied.output
    created = [s for s in connection.statements if s.startswith("CREATE TASK AI.REFRESH_SUPPORT_TICKETS_SENTIMENT")]
    assert len(created) == 1 and "AI_SENTIMENT(p.text_value)" in created[0] and "LEFT(s.body, 1500) AS text_value" in created[0]
    assert "INSERT INTO _RULECTL.RUN_LOG" in created[0]  # logged like prompt refreshes
    assert any(s.startswith("CREATE TABLE AI.SUPPORT_TICKETS_SENTIMENT") for s in connection.statements)
    ran = run("run", "support_tickets_sentiment", "--target", "prod", project=root)
    assert ran.exit_code == 0, ran.output
    assert connection.statements[-1] == "EXECUTE TASK AI.REFRESH_SUPPORT_TICKETS_SENTIMENT"
    # the rulectl-made table is not a source to check: plan does not call it missing
    assert "does not exist" not in run("plan", "--target", "prod", project=root).output


def test_unknown_name_for_run_is_still_an_error(project: Path):
    result = run("run", "support_tickets_sentimnt", project=with_tickets(project))
    assert result.exit_code == 1 and "unknown prompt" in result.output


def test_minimal_project_with_integer_keys(tmp_path: Path):
    """Another shape: an integer customer key, a note source of its own, no prompts at all."""
    import shutil

    root = tmp_path / "minimal"
    shutil.copytree(Path(__file__).resolve().parent.parent / "projects" / "minimal", root, ignore=shutil.ignore_patterns(".rulectl"))
    (root / "data" / "notes.csv").write_text("member_id,note_id,text\n1,1,Love the new classes!\n2,2,The showers are broken and staff were rude.\n2,3,\n")
    edit(root / "rulectl.yml", "    sample: data/members.csv\n", (
        "    sample: data/members.csv\n  notes:\n    table: CLUB.NOTES\n    grain: [member_id, note_id]\n"
        "    columns: {member_id: integer, note_id: integer, text: varchar}\n    sample: data/notes.csv\n"
        "    enrich: {sentiment: {text: text, max_rows: 10}}\n"
    ))
    edit(root / "rules" / "rules.yml", "segmentations:", "  - name: mood\n    source: notes_sentiment\n    expr: AVG(sentiment)\nsegmentations:")
    rules = root / "rules" / "rules.yml"
    rules.write_text(rules.read_text() + "  - name: mood_band\n    rules:\n      - {segment: Upset, when: mood < 0 OR weekly_visits > 100}\n    default: Fine\n")
    for command in ("load", "apply", "run"):
        result = run(command, *(["--yes"] if command == "apply" else []), project=root)
        assert result.exit_code == 0, result.output
    assert rows(root, "SELECT member_id, note_id FROM AI.NOTES_SENTIMENT ORDER BY 1, 2") == [(1, 1), (2, 2)]  # the empty note is never sent
    moods = dict(rows(root, "SELECT member_id, mood FROM ANALYTICS.CUSTOMER_METRICS"))
    assert moods[1] > 0 and moods[2] < 0 and moods[3] is None
    # the demo's "put in a segment by AI sentiment": member 2 is Upset only because of their note
    (upset,) = workflow.sentiment_segments(load_project(root), None)
    assert (upset.segmentation, upset.segment, upset.metrics, upset.customers) == ("mood_band", "Upset", ("mood",), 1)
    assert upset.examples == (("2", (moods[2],)),)
