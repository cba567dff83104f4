"""JSON Schemas of the YAML files, generated from the config models, for editors (VS Code and
JetBrains read them through the `# yaml-language-server: $schema=…` line at the top of a file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.config.models import Project, Prompt, RulesFile, RuleTestsFile

DRAFT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_DIR = Path(".rulectl") / "schemas"

# schema file name → (model, the files it describes)
SCHEMA_FILES: dict[str, tuple[type[BaseModel], str]] = {
    "rulectl.schema.json": (Project, "rulectl.yml"),
    "rules.schema.json": (RulesFile, "rules/*.yml"),
    "prompt.schema.json": (Prompt, "prompts/*.yml"),
    "tests.schema.json": (RuleTestsFile, "tests/*.yml"),
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Schema file name → JSON Schema (draft 2020-12)."""
    schemas = {}
    for file_name, (model, pattern) in SCHEMA_FILES.items():
        schema = {"$schema": DRAFT, **model.model_json_schema()}
        schema["title"] = f"rulectl {pattern}"
        schemas[file_name] = schema
    return schemas


def write_json_schemas(directory: Path) -> list[Path]:
    """Write every schema under `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, schema in json_schemas().items():
        path = directory / file_name
        path.write_text(json.dumps(schema, indent=2) + "\n")
        written.append(path)
    return written


def schema_for(relative_yaml: str) -> str | None:
    """The schema file name for a project file (`rules/x.yml` → rules.schema.json)."""
    parts = Path(relative_yaml).parts
    if parts == ("rulectl.yml",):
        return "rulectl.schema.json"
    folder = {"rules": "rules.schema.json", "prompts": "prompt.schema.json", "tests": "tests.schema.json"}
    return folder.get(parts[0]) if len(parts) == 2 else None


def modeline(relative_yaml: str, schema_dir: str = DEFAULT_DIR.as_posix()) -> str:
    """The `# yaml-language-server: $schema=…` line for a project file, relative to that file."""
    name = schema_for(relative_yaml)
    if name is None:
        raise ValueError(f"{relative_yaml} is not a rulectl YAML file")
    up = "../" * (len(Path(relative_yaml).parts) - 1)
    return f"# yaml-language-server: $schema={up}{schema_dir}/{name}"
