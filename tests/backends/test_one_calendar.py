"""One calendar: the local target's "today" is the UTC date whatever the machine's time zone, as on
rulectl's Snowflake sessions and tasks (TIMEZONE='UTC')."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

# Kiritimati is UTC+14 and Honolulu UTC-10: their local dates always differ, by one day
ZONES = ("Pacific/Kiritimati", "Pacific/Honolulu")
PROBE = """
import json
from datetime import datetime, timezone
from engine.backends.duckdb import DuckDBBackend
before = datetime.now(timezone.utc).date().isoformat()
backend = DuckDBBackend(":memory:")
(today, now_date), = backend.query("SELECT CAST(CURRENT_DATE AS VARCHAR), CAST(CAST(CURRENT_TIMESTAMP AS DATE) AS VARCHAR)")
after = datetime.now(timezone.utc).date().isoformat()
print(json.dumps({"today": today, "now_date": now_date, "utc": [before, after]}))
"""


def test_current_date_is_the_utc_date_under_any_machine_time_zone():
    for zone in ZONES:
        out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, "TZ": zone}, cwd=REPO, capture_output=True, text=True, check=True)
        answer = json.loads(out.stdout)
        # the UTC date read just before and after (two values only across a UTC midnight)
        assert answer["today"] in answer["utc"] and answer["now_date"] in answer["utc"], (zone, answer)
