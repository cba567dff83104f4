"""The JSON Schemas for editors: generated from the config models, described key by key, accepting
the example project and rejecting the shape errors of the bad-input corpus."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from engine.config.json_schemas import json_schemas, modeline, schema_for
from tests.config.test_bad_inputs import CASES, write_case
from tests.conftest import REPO, copy_rule_tests, run

# Corpus cases whose mistake is in the shape of the file (keys, types, ranges, patterns): a schema
# can see them. Name, expression and cross-file checks are for `rulectl validate`.
SHAPE_ERRORS = [
    "unknown key", "misspelled key suggests", "wrong type", "missing expr", "segment no rules", "segment bad match",
    "top level list", "top level scalar", "project name with a colon", "prompt temperature", "prompt unknown key",
    "prompt max_rows zero", "rule test unknown key", "rule test bad today", "refresh when_changed empty", "refresh max_age zero", "refresh budget not a number", "load check policy", "currency code",
]


def as_editor_sees(data: Any) -> Any:
    """YAML dates are plain strings to an editor's schema check."""
    if isinstance(data, dict):
        return {key: as_editor_sees(value) for key, value in data.items()}
    if isinstance(data, list):
        return [as_editor_sees(value) for value in data]
    if isinstance(data, (datetime.date, datetime.datetime)):
        return data.isoformat()
    return data


def errors_in(project: Path, relative: str) -> list[str]:
    schema = json_schemas()[schema_for(relative)]
    data = as_editor_sees(yaml.safe_load((project / relative).read_text()))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [error.message for error in validator.iter_errors(data)]


def project_files(project: Path) -> list[str]:
    files = ["rulectl.yml"] + [f"{folder}/{p.name}" for folder in ("rules", "prompts", "tests") for p in sorted((project / folder).glob("*.yml"))]
    return files


def test_schemas_are_valid_json_schemas():
    for schema in json_schemas().values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_key_has_a_description():
    missing = []
    for file_name, schema in json_schemas().items():
        for definition_name, definition in [("(top)", schema), *schema.get("$defs", {}).items()]:
            for key, prop in definition.get("properties", {}).items():
                if not prop.get("description"):
                    missing.append(f"{file_name}: {definition_name}.{key}")
    assert missing == []


def test_example_project_is_accepted(project: Path):
    copy_rule_tests(project)
    files = project_files(project)
    assert {"rulectl.yml", "rules/metrics.yml", "prompts/account_summary.yml", "tests/account_tier.yml"} <= set(files)
    for relative in files:
        assert errors_in(project, relative) == [], relative


@pytest.mark.parametrize("case_id", SHAPE_ERRORS)
def test_shape_errors_of_the_corpus_are_rejected(project: Path, case_id: str):
    _, file, content, _, _ = next(case for case in CASES if case[0] == case_id)
    write_case(project, file, content, case_id)
    assert errors_in(project, file), f"{case_id}: the schema accepted it"


def test_cli_writes_the_schemas(tmp_path: Path):
    result = run("schema", "--out", str(tmp_path / "schemas"))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == ["prompt.schema.json", "rulectl.schema.json", "rules.schema.json", "tests.schema.json"]
    assert json.loads((tmp_path / "schemas" / "rules.schema.json").read_text())["title"] == "rulectl rules/*.yml"


def test_modelines_point_at_the_schema_relative_to_the_file():
    assert modeline("rulectl.yml") == "# yaml-language-server: $schema=.rulectl/schemas/rulectl.schema.json"
    assert modeline("rules/segments.yml") == "# yaml-language-server: $schema=../.rulectl/schemas/rules.schema.json"
    assert modeline("tests/tiers.yml") == "# yaml-language-server: $schema=../.rulectl/schemas/tests.schema.json"


def test_cli_with_no_options_writes_into_the_project_it_is_run_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # was a TypeError traceback (None / Path) when run in a project directory without --project
    shutil.copytree(REPO / "tests" / "projects" / "minimal", tmp_path / "minimal")
    (tmp_path / "minimal" / "rules").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path / "minimal" / "rules")  # found upwards, the way validate finds it
    result = run("schema")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "minimal" / ".rulectl" / "schemas" / "rules.schema.json").is_file()
    monkeypatch.chdir(tmp_path)
    outside = run("schema")
    assert outside.exit_code == 1 and "no rulectl.yml" in outside.output
