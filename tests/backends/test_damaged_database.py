"""A damaged or foreign local database is an error for every command: the file named, exit 1, no
traceback, the file left exactly as it was. Read-only commands open the database read-only."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import run

COMMANDS = [("run",), ("scheduler", "--once"), ("load",), ("unlock", "--yes"), ("plan",), ("insights",), ("apply", "--yes")]


def database(project: Path) -> Path:
    return project / ".rulectl" / "local.duckdb"


@pytest.fixture(scope="module")
def deployed_bytes(tmp_path_factory) -> bytes:
    """A healthy database of the example project (loaded, applied), built once."""
    from tests.conftest import PROJECT_PARTS, REPO
    import shutil

    root = tmp_path_factory.mktemp("healthy") / "project"
    root.mkdir()
    for part in PROJECT_PARTS:
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, root / part)
    assert run("load", project=root).exit_code == 0
    assert run("apply", "--yes", project=root).exit_code == 0
    return database(root).read_bytes()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 3]


def flipped(data: bytes) -> bytes:
    """Garbage over every block but the first (the size is right): blocks fail their checksums when read."""
    start = 3 * 4096 + 262144
    return data[:start] + (bytes(range(256)) * (len(data) // 256 + 1))[: len(data) - start]


def foreign(data: bytes) -> bytes:
    return b"PK\x03\x04 this is a zip file, not a database" * 100


DAMAGE = {"truncated": (truncated, "is damaged"), "foreign": (foreign, "is not a DuckDB database")}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_a_damaged_database_is_an_error_for_every_command(project: Path, deployed_bytes: bytes, damage: str, command):
    make, words = DAMAGE[damage]
    database(project).parent.mkdir()
    bad = make(deployed_bytes)
    database(project).write_bytes(bad)
    started = time.monotonic()
    result = run(*command, project=project)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{database(project)} {words}" in result.output, result.output
    assert database(project).read_bytes() == bad  # not repaired, not overwritten
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("command", [c for c in COMMANDS if c[0] not in ("load", "unlock")], ids=lambda c: " ".join(c))
def test_blocks_that_fail_their_checksum_name_the_file(project: Path, deployed_bytes: bytes, command):
    database(project).parent.mkdir()
    database(project).write_bytes(flipped(deployed_bytes))  # load and unlock read no data block: no error to give
    result = run(*command, project=project)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert str(database(project)) in result.output


def test_a_directory_where_the_database_should_be(project: Path):
    database(project).mkdir(parents=True)
    result = run("plan", project=project)
    assert result.exit_code == 1 and "is not a regular file" in result.output


def test_read_only_commands_neither_create_nor_change_the_database(project: Path, deployed_bytes: bytes):
    before_load = run("plan", project=project)  # nothing loaded: the plan says the sources are missing
    assert "Traceback" not in before_load.output
    assert not database(project).exists()  # and no file was made
    database(project).parent.mkdir()
    database(project).write_bytes(deployed_bytes)
    before = database(project).stat().st_mtime_ns
    for command in (("plan",), ("insights",), ("experiment", "report", "account_summary")):
        result = run(*command, project=project)
        assert result.exit_code == 0, (command, result.output)
    assert database(project).read_bytes() == deployed_bytes and database(project).stat().st_mtime_ns == before
