"""Against a real Snowflake account — only when RULECTL_LIVE_CONNECTION names a connection in
connections.toml (and RULECTL_LIVE_DATABASE a scratch database). CI never sets them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import edit, run

pytestmark = [pytest.mark.snowflake, pytest.mark.live]
CONNECTION = os.environ.get("RULECTL_LIVE_CONNECTION")
DATABASE = os.environ.get("RULECTL_LIVE_DATABASE", "RULECTL_LIVE_TEST")


@pytest.mark.skipif(not CONNECTION, reason="set RULECTL_LIVE_CONNECTION to run against a real Snowflake account")
def test_plan_apply_plan_on_a_real_account(project: Path):
    edit(project / "rulectl.yml", "    connection: prod ", f"    connection: {CONNECTION} ")
    edit(project / "rulectl.yml", "    database: CUSTOMER_INTEL", f"    database: {DATABASE}")
    assert run("plan", "--target", "prod", project=project).exit_code == 0
    assert run("apply", "--yes", "--target", "prod", project=project).exit_code == 0
    again = run("plan", "--target", "prod", "--detailed-exitcode", project=project)
    assert again.exit_code == 0, again.output
