"""Start-up cost (issue 25): the common commands on a local target do not import what only other
commands or the Snowflake target need. Each case is a fresh Python process, as a user's command is:
a module imported once by anything stays in sys.modules, so only a new process can tell."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_example

SHAPES = Path(__file__).resolve().parent / "projects"

# module → why a local validate / plan must not pay for it
HEAVY = {
    "snowflake.connector": "the Snowflake connector (~0.4 s): only a Snowflake target connects",
    "pyarrow": "only Snowflake bulk loads and Parquet use it",
    "pygments": "rich's syntax colouring: only a plan that shows SQL diffs needs it",
}

# validate, then plan on a target nothing was loaded into: plan reports the missing source tables
# and exits 1, the path that used to import the connector to classify its exit
SCRIPT = """
import json, sys
from engine.cli import app
codes = []
for command in (["validate"], ["plan"]):
    try:
        app(command + ["--project", sys.argv[1]])
    except SystemExit as done:
        codes.append(done.code)
print(json.dumps({"codes": codes, "heavy": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


def _shape(name: str, root: Path) -> Path:
    if name == "example":
        return copy_example(root)
    return shutil.copytree(SHAPES / name, root, ignore=shutil.ignore_patterns(".rulectl"))


@pytest.mark.parametrize("shape", ["example", "minimal", "renamed"])
def test_validate_and_plan_import_nothing_heavy(shape: str, tmp_path: Path):
    root = _shape(shape, tmp_path / "project")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(root), *HEAVY], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["codes"][0] == 0, done.stdout  # validate passed: the project is one a user would plan
    assert result["codes"][1] == 1, done.stdout  # plan ran to its own error exit (sources not loaded)
    assert not result["heavy"], {module: HEAVY[module] for module in result["heavy"]}
