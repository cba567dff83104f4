"""`rulectl model …` and the files `provider: local` loads: downloads resume and are accepted only
when their SHA-256 matches the pin; a file that does not match is never loaded. Downloads come from
a real HTTP server on 127.0.0.1 (with Range support) standing in for the publisher."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.ai import local_models
from engine.ai.local_models import file_sha256, pull, resolve_model
from engine.config import model_catalog
from engine.config.model_catalog import CatalogModel
from engine.core.errors import RulectlError
from tests.conftest import edit, run

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB standing in for a GGUF file


class Publisher(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD, honouring `Range: bytes=N-` like the publisher's CDN; counts bytes sent."""

    sent: list[int] = []
    cut_after: int | None = None  # drop the connection after this many bytes (a broken download)

    def do_GET(self) -> None:
        start = int(self.headers.get("Range", "bytes=0-").removeprefix("bytes=").rstrip("-") or 0)
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.cut_after is not None:
            body = body[: self.cut_after]
        # counted before writing: the client may finish reading, and the test assert, before this
        # server thread runs another line (a race seen once in CI)
        Publisher.sent.append(len(body))
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def publisher(tmp_path: Path, monkeypatch) -> Iterator[CatalogModel]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Publisher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Publisher.sent, Publisher.cut_after = [], None
    entry = CatalogModel("tiny-test", "tiny.gguf", f"http://127.0.0.1:{server.server_address[1]}/tiny.gguf", len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest(), "MIT", "test")
    monkeypatch.setitem(model_catalog.CATALOG, entry.name, entry)
    monkeypatch.setenv("RULECTL_MODEL_DIR", str(tmp_path / "models"))
    try:
        yield entry
    finally:
        server.shutdown()
        server.server_close()


def test_pull_downloads_verifies_and_names_the_file_only_when_complete(publisher: CatalogModel, tmp_path: Path):
    seen: list[tuple[int, int]] = []
    path = pull("tiny-test", lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "models" / "tiny.gguf" and path.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert resolve_model("tiny-test").sha256 == publisher.sha256
    assert pull("tiny-test") == path and len(Publisher.sent) == 1  # already there: nothing downloaded


def test_a_broken_download_is_kept_as_part_never_used_and_resumed(publisher: CatalogModel, tmp_path: Path):
    Publisher.cut_after = 300_000
    with pytest.raises(RulectlError, match="received are kept and the next pull resumes"):
        pull("tiny-test")
    assert (tmp_path / "models" / "tiny.gguf.part").stat().st_size == 300_000
    with pytest.raises(RulectlError, match="not downloaded yet"):  # a half-downloaded file is never loaded
        resolve_model("tiny-test")
    Publisher.cut_after = None
    assert pull("tiny-test").read_bytes() == PAYLOAD
    assert Publisher.sent == [300_000, len(PAYLOAD) - 300_000]  # resumed, not started over
    assert not (tmp_path / "models" / "tiny.gguf.part").exists()


def test_a_download_with_the_wrong_hash_is_deleted_not_used(publisher: CatalogModel, monkeypatch):
    monkeypatch.setitem(model_catalog.CATALOG, "tiny-test", CatalogModel(**{**publisher.__dict__, "sha256": "0" * 64}))
    with pytest.raises(RulectlError, match="does not match its pinned SHA-256"):
        pull("tiny-test")
    assert list(local_models.model_dir().iterdir()) == []


def test_a_file_placed_by_hand_that_does_not_match_is_refused(publisher: CatalogModel, tmp_path: Path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny.gguf").write_bytes(PAYLOAD[:-1] + b"x")
    with pytest.raises(RulectlError, match="is not the pinned `tiny-test` file .* it was not loaded"):
        resolve_model("tiny-test")
    result = run("model", "verify", "tiny-test")
    assert result.exit_code == 1 and "does NOT match the pinned SHA-256" in result.output


def test_the_hash_is_remembered_until_the_file_changes(tmp_path: Path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"one")
    assert file_sha256(path) == hashlib.sha256(b"one").hexdigest()
    path.write_bytes(b"two")  # a different size: hashed again, not taken from the stamp
    assert file_sha256(path) == hashlib.sha256(b"two").hexdigest()


def test_pull_without_a_route_says_how_to_place_the_file_by_hand(monkeypatch, tmp_path: Path):
    closed = CatalogModel("tiny-test", "tiny.gguf", "http://127.0.0.1:9/tiny.gguf", 10, "0" * 64, "MIT", "test")  # port 9: nothing listens
    monkeypatch.setitem(model_catalog.CATALOG, closed.name, closed)
    monkeypatch.setenv("RULECTL_MODEL_DIR", str(tmp_path))
    result = run("model", "pull", "tiny-test")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"place it at {tmp_path / 'tiny.gguf'}" in result.output and "then run `rulectl model verify`" in result.output


def test_model_list_path_and_unknown_names(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("RULECTL_MODEL_DIR", str(tmp_path))
    listed = run("model", "list")
    assert listed.exit_code == 0
    for entry in model_catalog.CATALOG.values():
        assert entry.name in listed.output and entry.sha256 in listed.output and "not downloaded" in listed.output
    assert run("model", "path", "qwen2.5-coder-0.5b").output.strip() == str(tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    unknown = run("model", "pull", "gpt-5")
    assert unknown.exit_code == 1 and "not in the model catalog" in unknown.output


def test_a_run_with_a_model_not_pulled_says_what_to_do(project: Path, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("RULECTL_MODEL_DIR", str(tmp_path / "empty"))
    edit(project / "rulectl.yml", "llm: {provider: offline}", "llm: {provider: local, model: qwen2.5-coder-0.5b}")
    assert run("load", project=project).exit_code == 0 and run("apply", "--yes", project=project).exit_code == 0
    result = run("run", project=project)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "model `qwen2.5-coder-0.5b` is not downloaded yet: run `rulectl model pull qwen2.5-coder-0.5b`" in result.output


def test_without_the_runtime_the_message_says_how_to_install_it(project: Path, monkeypatch, tmp_path: Path):
    import sys

    model = tmp_path / "any.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # as if the extra were not installed
    edit(project / "rulectl.yml", "llm: {provider: offline}", f"llm: {{provider: local, model: '{model}'}}")
    assert run("load", project=project).exit_code == 0 and run("apply", "--yes", project=project).exit_code == 0
    result = run("run", project=project)
    assert result.exit_code == 1 and "pip install 'rulectl[local-llm]'" in result.output, result.output


def test_demo_without_a_local_model_is_the_labelled_stand_in_and_says_how_to_get_real_output(project: Path):
    result = run("demo", project=project)  # the tests' model cache is empty
    assert result.exit_code == 0, result.output
    assert "wrote clearly labelled stand-in text, not AI output" in result.output
    assert "for real summaries on this machine: pip install 'rulectl[local-llm]' && rulectl model pull qwen2.5-coder-0.5b" in result.output
    assert "real AI:" not in result.output
