"""The bad-input corpus for `rulectl load`: each damaged sample CSV gives exit 1, `file:line:` (or
the offending key) with what to do, no traceback, the source tables unchanged; time and memory bounded."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run, sample_rows

CUSTOMER = "data/sample_inputs/customer.csv"
PRODUCTS = "data/sample_inputs/products.csv"


def ending(project: Path, file: str) -> str:
    return "\r\n" if b"\r\n" in (project / file).read_bytes() else "\n"


def lines_of(project: Path, file: str) -> list[str]:
    return (project / file).read_bytes().decode().split(ending(project, file))[:-1]


def rewrite(project: Path, file: str, lines: list[str]) -> None:
    end = ending(project, file) if (project / file).stat().st_size else "\n"
    (project / file).write_bytes((end.join(lines) + end).encode())


def duplicate_key(project: Path) -> int:
    lines = lines_of(project, CUSTOMER)
    rewrite(project, CUSTOMER, lines + [lines[1].replace(lines[1].split(",")[1], "Another Town")])
    return len(lines) + 1


def empty_key(project: Path) -> int:
    lines = lines_of(project, CUSTOMER)
    lines.insert(5, "," + lines[5].split(",", 1)[1])
    rewrite(project, CUSTOMER, lines)
    return 6


def blank_key(project: Path) -> int:
    lines = lines_of(project, CUSTOMER)
    lines.insert(7, "   ," + lines[7].split(",", 1)[1])
    rewrite(project, CUSTOMER, lines)
    return 8


def ragged_row(project: Path) -> int:
    lines = lines_of(project, CUSTOMER)
    lines[9] = lines[9].rsplit(",", 1)[0]
    rewrite(project, CUSTOMER, lines)
    return 10


def extra_field(project: Path) -> int:
    lines = lines_of(project, PRODUCTS)
    lines[4] += ",surprise"
    rewrite(project, PRODUCTS, lines)
    return 5


def empty_file(project: Path) -> int:
    (project / CUSTOMER).write_bytes(b"")
    return 1


def whitespace_file(project: Path) -> int:
    (project / CUSTOMER).write_bytes(b"\r\n\r\n")
    return 1


def header_only(project: Path) -> int:
    rewrite(project, CUSTOMER, lines_of(project, CUSTOMER)[:1])
    return 0


def missing_column(project: Path) -> int:
    lines = lines_of(project, CUSTOMER)
    lines[0] = lines[0].replace("population", "populaton")
    rewrite(project, CUSTOMER, lines)
    return 1


def duplicate_grain(project: Path) -> int:
    lines = lines_of(project, PRODUCTS)
    rewrite(project, PRODUCTS, lines[:3] + [lines[2].replace("active", "churned", 1)] + lines[3:])
    return 4


def empty_grain_column(project: Path) -> int:
    lines = lines_of(project, PRODUCTS)
    fields = lines[6].split(",")
    fields[1] = ""
    lines[6] = ",".join(fields)
    rewrite(project, PRODUCTS, lines)
    return 7


def mixed_endings(project: Path) -> int:
    lines = lines_of(project, CUSTOMER)
    end = ending(project, CUSTOMER)
    other = "\n" if end == "\r\n" else "\r\n"
    (project / CUSTOMER).write_bytes((end.join(lines[:4]) + other + end.join(lines[4:]) + end).encode())
    return 4


def not_utf8(project: Path) -> int:
    lines = lines_of(project, CUSTOMER)
    end = ending(project, CUSTOMER)
    data = (end.join(lines) + end).encode().replace(lines[3].split(",")[1].encode(), b"Caf\xe9 County", 1)
    (project / CUSTOMER).write_bytes(data)
    return 4


def runaway_quote(project: Path) -> int:
    """An unclosed quote swallows the rest of the file into one field: bounded, not buffered forever."""
    lines = lines_of(project, CUSTOMER)
    lines[2] = lines[2].replace(",", ',"', 1)
    rewrite(project, CUSTOMER, lines + ["x" * 2_000_000])
    return 3


def directory(project: Path) -> int:
    (project / CUSTOMER).unlink()
    (project / CUSTOMER).mkdir()
    return 0


# (case id, break the project → expected line, file shown, words the message must contain)
CASES = [
    ("duplicate key", duplicate_key, CUSTOMER, "customer_id 'C0000001' appears again (first on line 2); source `customer` has one row per customer_id"),
    ("empty key", empty_key, CUSTOMER, "empty `customer_id`; every row of source `customer` needs one"),
    ("blank key", blank_key, CUSTOMER, "empty `customer_id`"),
    ("ragged row", ragged_row, CUSTOMER, "5 field(s) where the header has 6"),
    ("extra field", extra_field, PRODUCTS, "9 field(s) where the header has 8"),
    ("empty file", empty_file, CUSTOMER, "the file is empty; it needs a header line (customer_id, customer_name"),
    ("blank lines only", whitespace_file, CUSTOMER, "the file is empty"),
    ("header only", header_only, CUSTOMER, "has a header but no rows; loading it would empty GOLD.CUSTOMER. Pass --allow-empty"),
    ("missing column", missing_column, CUSTOMER, "the header has no column population (source `customer` declares"),
    ("duplicate grain", duplicate_grain, PRODUCTS, "appears again (first on line 3); source `products` has one row per customer_id and module"),
    ("empty grain column", empty_grain_column, PRODUCTS, "empty `module`"),
    ("mixed line endings", mixed_endings, CUSTOMER, "mixes Windows (CRLF) and Unix (LF) line endings (from line 4)"),
    ("not utf-8", not_utf8, CUSTOMER, "not UTF-8 text"),
    ("runaway quote", runaway_quote, CUSTOMER, "not readable as CSV"),
    ("sample is a directory", directory, CUSTOMER, "is not a regular file"),
]


def table_counts(project: Path) -> list[int]:
    connection = duckdb.connect(str(project / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return [connection.execute(f"SELECT count(*) FROM GOLD.{t}").fetchone()[0] for t in ("CUSTOMER", "PRODUCTS")]
    finally:
        connection.close()


@pytest.mark.parametrize("case_id, damage, file, words", CASES, ids=[c[0] for c in CASES])
def test_bad_sample_is_refused_with_file_and_line_and_nothing_loaded(loaded_project: Path, case_id, damage, file, words):
    project = loaded_project  # the core example, loaded
    before = table_counts(project)
    line = damage(project)
    tracemalloc.start()
    started = time.monotonic()
    result = run("load", project=project)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    location = f"{file}:{line}: " if line else f"{file}"
    assert location in result.output, result.output
    assert words in result.output, result.output
    assert table_counts(project) == before  # the tables are as they were
    assert elapsed < 10 and peak < 64 << 20, (elapsed, peak)


def test_allow_empty_loads_a_header_only_file(loaded_project: Path):
    project = loaded_project  # the core example, loaded
    header_only(project)
    result = run("load", "--allow-empty", project=project)
    assert result.exit_code == 0, result.output
    assert table_counts(project) == [0, len(sample_rows("products"))]


def test_checks_are_linear_in_rows(tmp_path: Path):
    """Check time per row stays flat from 20k to 200k rows (no quadratic duplicate search)."""
    from engine.config.models import Source
    from engine.features.csv_checks import check_sample

    source = Source(table="GOLD.T", key="id", columns={"id": "varchar", "v": "integer"})

    def timed(rows: int) -> float:
        path = tmp_path / f"{rows}.csv"
        path.write_text("id,v\n" + "".join(f"K{i},{i}\n" for i in range(rows)))
        started = time.perf_counter()
        assert check_sample(path, path.name, "t", source).rows == rows
        return (time.perf_counter() - started) / rows

    small, large = timed(20_000), timed(200_000)
    assert large < small * 3, (small, large)
