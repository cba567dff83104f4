"""The example uses the whole product: support tickets are a source whose sentiment rulectl scores,
a metric over the scores puts unhappy customers At Risk, `search:` embeds the summary and the ticket
text, and `rulectl demo` shows both. Numbers are checked against the DuckDB file the demo made."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import PROJECT_PARTS, REPO, run
from tests.conftest import target_rows as rows


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("example")
    for part in PROJECT_PARTS:
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, root / part)
    result = run("demo", project=root)
    assert result.exit_code == 0, result.output
    return root, result.output


def test_support_sentiment_puts_customers_at_risk(demo):
    root, output = demo
    scores = dict(rows(root, "SELECT customer_id, support_sentiment FROM ANALYTICS.CUSTOMER_SEGMENTS"))
    assert scores["C0000002"] == -1 and scores["C0000001"] > 0 and scores["C0000099"] == 0  # three angry tickets; happy; none (default 0)
    # At Risk because of sentiment: the sentiment branch holds and the adoption branch does not
    by_sentiment = rows(root, (
        "SELECT customer_name, support_sentiment FROM ANALYTICS.CUSTOMER_SEGMENTS WHERE account_tier = 'At Risk' "
        "AND support_sentiment <= -0.5 AND NOT COALESCE(days_to_renewal <= 120 AND adoption_rate < 0.5, FALSE) ORDER BY total_arr DESC"
    ))
    assert "Village of Troy" in [name for name, _ in by_sentiment]  # C0000002
    assert f"account_tier: {len(by_sentiment)} customers are At Risk because of AI sentiment (support_sentiment): " in output
    assert f"{by_sentiment[0][0]} ({by_sentiment[0][1]:g})" in output
    sizes = dict(rows(root, "SELECT account_tier, COUNT(*) FROM ANALYTICS.CUSTOMER_SEGMENTS GROUP BY 1"))
    assert re.search(rf"│ account_tier\s+│ At Risk\s+│\s+{sizes['At Risk']} │", output)  # sizes shown after sentiment was scored
    assert "scored by VADER (local, lexicon-based; not Cortex)" in output


def test_demo_searches_ticket_text_by_meaning(demo):
    root, output = demo
    assert rows(root, "SELECT COUNT(*), COUNT(DISTINCT model) FROM AI.CUSTOMER_EMBEDDINGS") == [(180, 1)]
    header = 'rulectl search "unhappy with support, thinking about cancelling at renewal" -n 3'
    assert header in output
    hits = re.findall(r"╭─ (\d)\. (.+?) \((C\d+)\)", output.split(header, 1)[1])
    assert [rank for rank, _, _ in hits] == ["1", "2", "3"]
    angry = {key for key, in rows(root, "SELECT customer_id FROM ANALYTICS.CUSTOMER_SEGMENTS WHERE support_sentiment <= -0.5")}
    assert hits[0][2] in angry  # the nearest customer wrote the unhappy tickets


def test_the_example_compiles_sentiment_and_embeddings_for_snowflake():
    result = run("compile", "--target", "prod", project=REPO)
    assert result.exit_code == 0
    assert "AI_SENTIMENT(p.text_value)" in result.output and "AI_EMBED('snowflake-arctic-embed-m-v1.5'" in result.output
    assert "AVG(sentiment) AS support_sentiment" in result.output  # the metric over the scores
