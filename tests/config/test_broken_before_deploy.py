"""Mistakes that used to validate and then deploy broken (issue 23), on the renamed project shape:
a placeholder never closed, an experiment outcome comparing a label field to a value it can never
hold, a rule test expecting a label that does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import edit, run
from tests.test_project_shapes import copy_shape


@pytest.fixture
def renamed(tmp_path: Path) -> Path:
    return copy_shape("renamed", tmp_path)


def errors(root: Path) -> str:
    result = run("validate", project=root)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output


def test_a_placeholder_never_closed_is_an_error_at_its_line(renamed: Path):
    prompt = renamed / "prompts" / "account_summary.yml"
    edit(prompt, "contract value {total_contract_value}.", "contract value {total_contract_value.")
    output = errors(renamed)
    assert "prompts/account_summary.yml:7: `{total_contract_value.` opens a placeholder that is never closed" in output
    assert run("plan", project=renamed).exit_code == 1  # nothing priced, nothing replaced


def test_a_closing_brace_without_its_opening_one_is_an_error(renamed: Path):
    prompt = renamed / "prompts" / "recommended_action.yml"
    edit(prompt, 'template: "Band {value_band}.', 'template: "Band value_band}.')
    assert "prompts/recommended_action.yml:13: `value_band}` closes a placeholder that was never opened" in errors(renamed)


def test_outcome_compared_with_a_value_that_is_not_a_label(renamed: Path):
    prompt = renamed / "prompts" / "recommended_action.yml"
    edit(prompt, "  salt: action-2026\n", "  salt: action-2026\n  outcome: urgency = 'Now'\n")
    assert "prompts/recommended_action.yml:11: `outcome`: 'Now' is not one of the labels of `urgency` (later, this quarter, now), so the outcome is never true; did you mean `now`?" in errors(renamed)
    edit(prompt, "urgency = 'Now'", "urgency IN ('now', 'this quarter')")
    assert run("validate", project=renamed).exit_code == 0


def test_a_rule_test_expecting_a_label_that_does_not_exist(renamed: Path):
    (renamed / "tests").mkdir()
    (renamed / "tests" / "bands.yml").write_text(
        "tests:\n"
        "  - name: a big account\n"
        "    given:\n"
        "      accounts: [{account_id: A1, account_name: Big, region: West}]\n"
        "      modules: [{account_id: A1, module: GL, state: live, module_fee: 40000}]\n"
        "    expect:\n"
        "      - account_id: A1\n"
        "        value_band: platinum\n"
        "        signals: [Single module, busy support]\n"
    )
    output = errors(renamed)
    assert "tests/bands.yml:8: `expect`: `platinum` is not a label of `value_band` (Platinum, Needs Care, Standard), so the test could never pass; did you mean `Platinum`?" in output
    assert "tests/bands.yml:9: `expect`: `busy support` is not a label of `signals` (Busy support, Single module), so the test could never pass; did you mean `Busy support`?" in output
    edit(renamed / "tests" / "bands.yml", "value_band: platinum", "value_band: Platinum")
    edit(renamed / "tests" / "bands.yml", "busy support", "Busy support")
    assert run("validate", project=renamed).exit_code == 0


def test_a_rule_test_row_with_a_value_its_column_cannot_hold(tmp_path: Path):
    # was `Could not convert string 'twenty' to INT32` from `rulectl test`, with no file or line
    minimal = copy_shape("minimal", tmp_path)
    (minimal / "tests").mkdir()
    (minimal / "tests" / "activity.yml").write_text(
        "tests:\n  - name: twenty visits\n    given:\n      members:\n"
        "        - {member_id: 1, visits: twenty}\n        - {member_id: '2', visits: '3,497'}\n        - {member_id: 3, visits: 5.5}\n"
        "    expect:\n      - {member_id: 1, activity: Occasional}\n"
    )
    output = errors(minimal)
    assert "tests/activity.yml:5: `given.members`: `visits` is a whole number (integer): `twenty` is not a whole number; write digits only, or leave the field empty for a missing value (NULL)" in output
    assert "tests/activity.yml:6: `given.members`: `visits` is a whole number (integer): `3,497` is not a whole number; write numbers as plain digits without thousands separators, spaces or currency signs: 3497" in output
    assert "tests/activity.yml:7: " not in output  # 5.5 into an integer: the engine rounds it, as it would in a load
    assert run("test", project=minimal).exit_code == 1
