"""The compiled MERGE, as Snowflake SQL, run through fakesnow with a stand-in for Cortex
TRY_COMPLETE: only changed rows call the model, failed calls (NULL) are not stored, variants match,
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

pytestmark = pytest.mark.snowflake
fakesnow = pytest.importorskip("fakesnow")


class FakeCortex:
    """Answers like TRY_COMPLETE's messages form; NULL (a failed call) for names in `failing`."""

    def __init__(self):
        self.calls = 0
        self.failing: set[str] = set()

    def __call__(self, model: str, history: str, options: str) -> str | None:
        self.calls += 1
        if any(name in history for name in self.failing):
            return None
        return json.dumps({"choices": [{"messages": f"summary by {model}"}], "usage": {"prompt_tokens": 10, "completion_tokens": 5}})

    def install(self, connection, reply_type: str = "text") -> None:
        """`reply_type` "variant": the reply is a JSON object (fakesnow's VARIANT is DuckDB JSON);
        "text": the same object as a JSON string."""
        duck = connection._duck_conn  # fakesnow's DuckDB connection
        duck.create_function("fake_try_complete", self, [str, str, str], str, null_handling="special", side_effects=True)
        duck.execute("ATTACH ':memory:' AS snowflake")
        duck.execute("CREATE SCHEMA snowflake.cortex")
        reply = "fake_try_complete(m, CAST(h AS VARCHAR), CAST(o AS VARCHAR))"
        duck.execute(f"CREATE MACRO snowflake.cortex.try_complete(m, h, o) AS {f'CAST({reply} AS JSON)' if reply_type == 'variant' else reply}")


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
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CUSTOMER_INTEL", schema="PUBLIC")
        cortex.install(connection, reply_type)
        cursor = connection.cursor()
        load_into_fakesnow(cursor, loaded, objects, kinds=("schema", "view", "table"))

        cursor.execute(merge)
        first_calls = cortex.calls
        cursor.execute("SELECT customer_id, variant, response, provider, model, input_tokens, generated_at FROM AI.ACCOUNT_INSIGHTS")
        stored = {row[0]: row[1:] for row in cursor.fetchall()}
        utc_now = datetime.now(timezone.utc).replace(tzinfo=None)

        cortex.failing.clear()
        cursor.execute(merge)
        second_calls = cortex.calls - first_calls
        cursor.execute(merge)
        third_calls = cortex.calls - first_calls - second_calls
        cursor.execute("SELECT COUNT(*) FROM AI.ACCOUNT_INSIGHTS")
        final_rows = cursor.fetchone()[0]
        connection.close()

    same_name = {c["customer_id"] for c in customers if c["customer_name"] == failing}
    assert first_calls == len(customers)
    assert set(stored) == {c["customer_id"] for c in customers} - same_name  # failures not stored
    assert all(row[1] == "summary by snowflake-arctic" and row[2] == "snowflake-cortex" and row[3] == "snowflake-arctic" and row[4] == 10 for row in stored.values())
    assert all(abs((row[5] - utc_now).total_seconds()) < 120 for row in stored.values())  # UTC, no offset
    weights = [(v.name, v.weight) for v in compiled.variants]
    assert all(row[0] == assign_variant(compiled.salt, cid, weights) for cid, row in stored.items())
    assert second_calls == len(same_name)  # only the rows that failed are retried
    assert third_calls == 0 and final_rows == len(customers)
