"""`provider: local` with a real model: llama.cpp (xllamacpp) in-process serving SmolLM2-135M
(tests/real_model.py), through the openai provider's code path. One server per test session
(pytest-xdist worker): the session fixture opens the `serving()` scope every run here shares.
Replies are kept short (few rows, small max_tokens): the whole chain runs, content is not judged.
Skipped, saying why, only when the runtime or the model cannot be had."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import jsonschema
import pytest

from engine import workflow
from engine.ai.providers.local import serving
from engine.compile.structured_outputs import json_schema
from engine.config.loader import load_project
from tests import real_model
from tests.ai.test_enrichment import setup_project
from tests.conftest import REPO, edit, run, target_rows


@pytest.fixture(scope="session")
def smollm() -> Path:
    pytest.importorskip("xllamacpp", reason="the llama.cpp runtime is not installed: pip install -e '.[dev]' (or 'rulectl[local-llm]')")
    path, why = real_model.obtain()
    if path is None:
        pytest.skip(f"no real test model: {why}")
    return path


@pytest.fixture(scope="session")
def one_server(smollm: Path):
    """Every run in this session reuses the first server started (same model and settings)."""
    with serving():
        yield smollm


def use_local(root: Path, model: Path, rows: int, max_tokens: int, batch_rows: int | None = None, summary_length: int = 120) -> None:
    edit(root / "rulectl.yml", "llm: {provider: offline}", f"llm: {{provider: local, model: '{model}', threads: 1, context: 1024, timeout_seconds: 120, retries: 0}}")
    short_replies(root, rows, max_tokens, batch_rows, summary_length)


def short_replies(root: Path, rows: int, max_tokens: int, batch_rows: int | None = None, summary_length: int = 120) -> None:
    prompt = root / "prompts" / "account_summary.yml"
    edit(prompt, "max_rows: 1000", f"max_rows: {rows}" + (f"\n  batch_rows: {batch_rows}" if batch_rows else ""))
    edit(prompt, "max_tokens: 600", f"max_tokens: {max_tokens}")
    # short, bounded fields: a tiny model's whole reply fits in a few dozen tokens
    text = prompt.read_text()
    prompt.write_text(text[: text.index("\noutputs:")] + f"\noutputs:\n  summary: {{type: text, max_length: {summary_length}}}\n  risk: {{type: label, labels: [low, medium, high]}}\n")


def stored(root: Path) -> list[tuple]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return connection.execute("SELECT provider, model, response, summary, risk FROM AI.ACCOUNT_INSIGHTS").fetchall()
    finally:
        connection.close()


def test_schema_constrained_replies_are_stored_typed_and_name_the_model_file(project: Path, one_server: Path):
    # The grammar llama.cpp decodes under carries the summary's 120-character bound (restored from
    # the prompt: the SQL's schema is Cortex's, without it), so a reply of at most ~150 tokens
    # always closes its JSON: every call is stored, on any CPU. (CI's CPU once sent this model
    # past 120 tokens in the unbounded string, cutting both replies.)
    use_local(project, one_server, rows=2, max_tokens=200)
    setup_project(project)
    result = workflow.run_refreshes(load_project(project), None, [])[0]
    assert result.calls == 2 and result.enriched + result.failures == 2
    rows = stored(project)
    assert len(rows) == result.enriched == 2, result.errors
    schema = json_schema(next(p.item for p in load_project(project).prompts).outputs)
    for provider, model, response, summary, risk in rows:
        assert provider == "local"
        assert model == f"{one_server.name}@sha256:{real_model.SHA256}"  # the file that answered, by hash
        jsonschema.validate(json.loads(response), schema)
        assert isinstance(summary, str) and 0 < len(summary) <= 120 and risk in ("low", "medium", "high")


def test_a_reply_cut_by_max_tokens_is_counted_failed_and_not_stored(project: Path, one_server: Path):
    use_local(project, one_server, rows=2, max_tokens=6)
    setup_project(project)
    result = run("run", project=project)
    assert result.exit_code == 1 and "2 model call(s) failed" in result.output, result.output
    assert "not JSON" in result.output
    assert stored(project) == []
    status = run("status", "--json", project=project)
    last = json.loads(status.output.splitlines()[0])
    assert (last["pending"], last["enriched"], last["failed"]) == (2, 0, 2), status.output


LIFECYCLE = """
import json, sys, urllib.request
from engine.ai.providers.local import LocalProvider, serving, SERVERS
from engine.config.models import LLMSettings
settings = LLMSettings(provider="local", model=sys.argv[1], threads=1, context=512)
with serving():
    provider, again = LocalProvider(settings), LocalProvider(settings)
    assert provider.server is None  # started on the first call, not before
    provider._start(); again._start()
    assert again.server is provider.server  # one server per scope, however many tasks ask
    base = provider.server.base_url.removesuffix("/v1")
    assert base.startswith("http://127.0.0.1:")
    request = urllib.request.Request(base + "/v1/models", headers={"Authorization": "Bearer " + provider.api_key})
    print(json.dumps({"base": base, "models": json.loads(urllib.request.urlopen(request, timeout=30).read())}), flush=True)
    try:
        urllib.request.urlopen(base + "/v1/models", timeout=30)
        print("answered without the key")
    except urllib.error.HTTPError as error:
        print("without key:", error.code, flush=True)
print("running after scope:", len(SERVERS.running), flush=True)
"""


def test_the_server_listens_on_loopback_with_a_key_and_stops_with_its_scope(smollm: Path):
    done = subprocess.run([sys.executable, "-c", LIFECYCLE, str(smollm)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    started = json.loads(lines[0])
    assert started["models"]["data"][0]["id"] == f"{smollm.name}@sha256:{real_model.SHA256}"
    assert lines[1] == "without key: 401"  # other local programs and web pages cannot use it
    assert lines[2] == "running after scope: 0"
    with pytest.raises(urllib.error.URLError):  # nothing listens there any more
        urllib.request.urlopen(started["base"] + "/health", timeout=5)


def processes_mapping(path: Path) -> list[int]:
    """Processes that have the model file mapped (llama.cpp mmaps the model it serves)."""
    found = []
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            if str(path) in maps.read_text():
                found.append(int(maps.parent.name))
        except OSError:
            pass  # gone, or not ours to read
    return found


def start_run(project: Path) -> subprocess.Popen:
    rulectl = Path(sys.executable).with_name("rulectl")
    return subprocess.Popen([str(rulectl), "run", "--project", str(project)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_serving(process: subprocess.Popen, model: Path) -> None:
    deadline = time.monotonic() + 60
    while process.pid not in processes_mapping(model):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the model was never loaded"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc to find processes holding the model")
def test_ctrl_c_and_kill_leave_no_server_behind(project: Path, smollm: Path):
    model = project / "model-under-test.gguf"  # its own copy: no other test's server maps this path
    shutil.copyfile(smollm, model)
    use_local(project, model, rows=50, max_tokens=16, batch_rows=1)
    setup_project(project)

    killed = start_run(project)
    wait_until_serving(killed, model)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert processes_mapping(model) == []  # the server lived in the process, and died with it

    interrupted = start_run(project)
    wait_until_serving(interrupted, model)
    time.sleep(0.5)  # mid-run
    interrupted.send_signal(signal.SIGINT)
    _, errors = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130 and "interrupted" in errors and "Traceback" not in errors, errors
    assert processes_mapping(model) == []
    assert os.path.exists(model)


def test_demo_enriches_the_largest_customers_with_a_real_model_and_says_so(project: Path, one_server: Path, monkeypatch):
    from engine.ai import local_demo
    from engine.ai.local_models import ModelFile

    monkeypatch.setattr(local_demo, "ready_model", lambda: ModelFile(one_server.name, one_server, real_model.SHA256))
    monkeypatch.setattr(local_demo, "DEMO_ROWS", 2)
    short_replies(project, rows=1000, max_tokens=120)
    result = run("demo", project=project)
    assert result.exit_code == 0, result.output
    assert f"real AI: {one_server.name}@sha256:{real_model.SHA256} (llama.cpp, in-process) was asked about the 2 largest customers and " in result.output
    assert "offline" not in result.output and "stand-in" not in result.output
    largest = [row[0] for row in target_rows(project, "SELECT customer_id FROM ANALYTICS.CUSTOMER_SEGMENTS ORDER BY total_arr DESC NULLS LAST, customer_id LIMIT 2")]
    attempted = target_rows(project, "SELECT pending FROM _RULECTL.RUN_LOG")
    assert attempted == [(2,)]  # only the two largest were sent; the other 178 stay pending
    assert {row[0]: row[1] for row in target_rows(project, "SELECT customer_id, provider FROM AI.ACCOUNT_INSIGHTS")}.items() <= {key: "local" for key in largest}.items()
