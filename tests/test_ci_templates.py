"""The CI templates do what they say: docs/ci/github-actions.yml's `rulectl …` lines and the
`.pre-commit-hooks.yaml` entries are read from the YAML and run, in order, on a copy of the whole
example whose `prod` target is a local DuckDB file (the gold tables loaded into it first, as they
exist in Snowflake). The workflow's Snowflake connection is resolved by the connector's own code
from the template's environment, with every secret coming from `secrets.*`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from engine.plan.plan_markdown import COMMENT_LIMIT
from tests.conftest import REPO, copy_example, edit, run

WORKFLOW = REPO / "docs" / "ci" / "github-actions.yml"
HOOKS = REPO / ".pre-commit-hooks.yaml"
SNOWFLAKE_PROD = "  prod:\n    engine: snowflake\n"
LOCAL_PROD = "  prod:\n    engine: duckdb\n    path: .rulectl/prod.duckdb\n    llm: {provider: offline}\n  snowflake_prod:\n    engine: snowflake\n"


def rulectl_lines(script: str) -> list[list[str]]:
    """The `rulectl …` commands of a step's shell script, as argv without the program name."""
    return [shlex.split(line.strip())[1:] for line in script.splitlines() if line.strip().startswith("rulectl ")]


def workflow_jobs() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


@pytest.fixture
def example_with_local_prod(tmp_path: Path, monkeypatch) -> Path:
    root = copy_example(tmp_path / "example", whole=True)
    edit(root / "rulectl.yml", SNOWFLAKE_PROD, LOCAL_PROD)
    monkeypatch.chdir(root)  # the templates run in the project's directory, without --project
    assert run("load", "--target", "prod").exit_code == 0
    return root


def test_github_workflow_runs_its_commands_in_order(example_with_local_prod: Path):
    root = example_with_local_prod
    ran = []
    for name, job in workflow_jobs().items():
        for step in job["steps"]:
            script = step.get("run", "")
            for argv in rulectl_lines(script):
                result = run(*argv)
                assert result.exit_code == 0, (name, argv, result.output)
                ran.append((name, " ".join(argv)))
            for named in re.findall(r"(?:--body-file|cat) (\S+)", script):  # files a step hands on exist
                assert (root / named).is_file(), (name, named)
        if name == "plan":  # the comment of a pull request's plan: the whole first apply, under the limit
            comment = (root / "plan.md").read_text()
            assert comment.startswith("### rulectl plan for target `prod`") and len(comment) < COMMENT_LIMIT
            assert "AI.REFRESH_SUPPORT_TICKETS_SENTIMENT" in comment and "AI.CUSTOMER_EMBEDDINGS" in comment
    assert ran == [
        ("check", "validate"), ("check", "lint --strict"), ("check", "test"),
        ("plan", "plan --target prod --out plan.json --out plan.md"),
        ("apply", "plan --target prod --out plan.json --out plan.md"), ("apply", "apply plan.json --target prod"),
    ]
    assert run("plan", "--target", "prod", "--detailed-exitcode").exit_code == 0  # the merge applied everything


def test_github_workflow_reads_snowflake_from_secrets_through_the_connector(tmp_path: Path, monkeypatch):
    from engine.backends.snowflake_config import SECRET_KEYS, read_connection

    workflow = yaml.safe_load(WORKFLOW.read_text())
    environment = workflow["env"]
    for variable, value in environment.items():
        if any(word in variable for word in ("ACCOUNT", "USER", "KEY", "PASSWORD", "TOKEN", "PASSPHRASE")):
            assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", value), variable  # never a literal
    declared = environment["SNOWFLAKE_CONNECTIONS"]
    assert not any(key in declared.lower() for key in SECRET_KEYS)
    monkeypatch.setenv("SNOWFLAKE_HOME", str(tmp_path))  # no connections file: only the environment
    for variable, value in environment.items():
        monkeypatch.setenv(variable, re.sub(r"\$\{\{ secrets\.([A-Z_]+) \}\}", r"fake-\1", value))
    settings = read_connection("prod")  # the name the example's prod target uses
    assert settings.source == "$SNOWFLAKE_CONNECTIONS"
    assert settings.parameters == {
        "authenticator": "SNOWFLAKE_JWT", "account": "fake-SNOWFLAKE_ACCOUNT", "user": "fake-SNOWFLAKE_USER",
        "private_key_raw": "fake-SNOWFLAKE_PRIVATE_KEY",
    }
    assert "connection: prod" in (REPO / "rulectl.yml").read_text()


def test_pre_commit_hooks_run_validate_and_lint_on_project_files(example_with_local_prod: Path):
    hooks = yaml.safe_load(HOOKS.read_text())
    assert [hook["id"] for hook in hooks] == ["rulectl-validate", "rulectl-lint"]
    for hook in hooks:
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        result = run(*shlex.split(hook["entry"])[1:])
        assert result.exit_code == 0, (hook["id"], result.output)
        files = re.compile(hook["files"])
        assert all(files.search(f) for f in ("rulectl.yml", "rules/segments.yml", "prompts/account_summary.yml", "tests/account_tier.yml"))
        assert not any(files.search(f) for f in ("README.md", "data/sample_inputs/customer.csv", "docs/ci/github-actions.yml"))
    # and they fail a commit that breaks the project
    edit(example_with_local_prod / "rules" / "segments.yml", "when: module_count >= 2", "when: module_cnt >= 2")
    assert run(*shlex.split(hooks[0]["entry"])[1:]).exit_code == 1
