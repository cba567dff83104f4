"""Every paid reply kept: a refresh killed with SIGKILL at any model call loses at most the calls in
flight. Each good reply goes to its task's journal the moment it arrives; the next run answers those
requests from it and calls the model only for the rest. Calls are counted at a local HTTP server; the
refresh runs in a real subprocess, killed by the server as it receives the k-th call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine import workflow
from engine.ai.reply_journal import ReplyJournal, journal_path, request_key
from engine.config.loader import load_project
from tests.ai.fake_llm_server import FakeLLM
from tests.ai.test_enrichment import setup_project
from tests.conftest import edit, target_rows
from tests.test_project_shapes import copy_shape


def killed_run(project: Path, server: FakeLLM, call: int) -> None:
    """`rulectl run` in its own process, killed (-9) when the server receives its `call`-th model call."""
    rulectl = Path(sys.executable).with_name("rulectl")
    before = len(server.requests)
    process = subprocess.Popen([str(rulectl), "run", "--project", str(project)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server.on_request = lambda count: os.kill(process.pid, signal.SIGKILL) if count - before == call else None
    _, stderr = process.communicate(timeout=120)
    server.on_request = lambda count: None
    assert process.returncode == -signal.SIGKILL, stderr


def stored(project: Path) -> int:
    return target_rows(project, "SELECT COUNT(*) FROM ENRICHED.CUSTOMER_AI_INSIGHTS")[0][0]


@pytest.mark.slow
def test_kill_9_at_several_calls_keeps_every_reply_that_arrived(tmp_path: Path):
    project = copy_shape("renamed", tmp_path)  # 5 accounts, two prompts sharing one output table
    for prompt in ("account_summary", "recommended_action"):
        edit(project / "prompts" / f"{prompt}.yml", "max_rows: 100", "max_rows: 100, batch_rows: 2")
    setup_project(project)
    with FakeLLM() as server:
        server.healthy = True
        edit(project / "rulectl.yml", "llm: {provider: offline}", f"llm: {{provider: openai, base_url: '{server.base_url}', concurrency: 1, retries: 0}}")
        arrived = 0
        # (kill at call k, rows committed after it): inside the first batch (its one
        # reply only in the journal); after that reply was recovered and two batches committed; in
        # the second prompt's first batch, after the first prompt finished
        for call, committed in ((2, 0), (4, 4), (3, 5)):
            killed_run(project, server, call)
            arrived += call - 1  # the call the kill interrupted never got its reply
            assert stored(project) == committed
        before = len(server.requests)
        results = workflow.run_refreshes(load_project(project), None, [])
        assert sum(r.calls for r in results) == len(server.requests) - before == 10 - arrived  # no reply paid twice
        assert sum(r.enriched for r in results) == 10 - 5 and stored(project) == 10
        assert "1 reply(ies) recovered from the journal" in results[1].note
    assert not list((project / ".rulectl" / "journal").iterdir())  # every batch committed: nothing left to keep


def test_the_journal_keeps_whole_lines_and_only_unused_replies_of_a_capped_run(tmp_path: Path):
    path = journal_path(tmp_path / "local.duckdb", "ai.refresh_p")
    journal = ReplyJournal(path)
    journal.keep(request_key("m", "s", "p1", "{}"), '{"a": 1}')
    journal.keep(request_key("m", "s", "p2", "{}"), '{"a": 2}')
    journal.close()
    with path.open("a") as handle:
        handle.write('{"key": "cut sho')  # a kill in the middle of a line
    again = ReplyJournal(path)
    assert len(again) == 2 and again.get(request_key("m", "s", "p1", "{}")) == '{"a": 1}' and again.recovered == 1
    again.finish(capped=True)  # p2 may belong to a row beyond max_rows: kept
    assert list(ReplyJournal(path).replies.values()) == ['{"a": 2}']
    ReplyJournal(path).finish(capped=False)  # not capped: an unused reply is for a row whose inputs changed
    assert not path.exists()


def test_a_batch_that_dies_midway_on_the_example_keeps_its_replies_for_the_next_run(project: Path, monkeypatch):
    """The example (180 customers, batches of 50): the 30th call fails the statement in flight (as a
    crash would end it), so batch 1 never commits; the replies that arrived are in the journal and
    are not paid for again."""
    import pytest

    from engine.ai.local_complete import LocalComplete
    from engine.core.errors import RulectlError
    from tests.ai.test_enrichment import output_rows, use_openai
    from tests.conftest import sample_rows

    setup_project(project)
    customers = len(sample_rows("customer"))
    original, calls = LocalComplete._one, {"n": 0}

    def dies_at_30(self, request):
        calls["n"] += 1
        if calls["n"] == 30:
            raise RuntimeError("the process died here")
        return original(self, request)

    with FakeLLM() as server:
        server.healthy = True
        use_openai(project, server.base_url)
        edit(project / "rulectl.yml", "concurrency: 8", "concurrency: 1")
        monkeypatch.setattr(LocalComplete, "_one", dies_at_30)
        with pytest.raises(RulectlError, match="the 0 row"):
            workflow.run_refreshes(load_project(project), None, [])
        asked = lambda: {r["messages"][-1]["content"] for r in server.requests}  # noqa: E731 — a reset keep-alive connection may be retried
        kept = len(ReplyJournal(journal_path(project / ".rulectl" / "local.duckdb", "AI.REFRESH_ACCOUNT_SUMMARY")))
        assert output_rows(project) == {} and kept >= 29 and len(asked()) == kept  # every reply that arrived is kept
        monkeypatch.setattr(LocalComplete, "_one", original)
        result = workflow.run_refreshes(load_project(project), None, [])[0]
        assert len(asked()) == customers  # no prompt asked twice
    assert result.calls == customers - kept and result.enriched == customers == len(output_rows(project))
    assert f"{kept} reply(ies) recovered from the journal" in result.note
