"""Messages a new analyst reads after a run (issue 23), on the renamed shape with an integer-free
key, a name with an umlaut and a 30,000-character ticket note: explain prints a structured reply's
text as written and a long text once, cut; status fits 80 columns; history says UTC; an experiment
report on a prompt without an experiment has no z-test footnote."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import edit, run
from tests.test_project_shapes import copy_shape

NOTE = "Customer pasted the whole email thread. " * 750  # 30,000 characters


def _shape(tmp_path: Path) -> Path:
    root = copy_shape("renamed", tmp_path)
    edit(root / "data" / "accounts.csv", "A1,Alpha City", "A1,Zürich Works")
    edit(root / "rulectl.yml", "columns: {account_id: varchar, ticket_id: varchar, severity: integer, opened_on: date}",
         "columns: {account_id: varchar, ticket_id: varchar, severity: integer, opened_on: date, note: varchar}")
    tickets = (root / "data" / "tickets.csv").read_text().splitlines()
    tickets = [tickets[0] + ",note"] + [line + (f",{NOTE.strip()}" if line.startswith("A1,") else ",short") for line in tickets[1:]]
    (root / "data" / "tickets.csv").write_text("\n".join(tickets) + "\n")
    rules = (root / "rules" / "rules.yml").read_text()
    (root / "rules" / "rules.yml").write_text(rules.replace("metrics:\n", "metrics:\n  - name: latest_note\n    source: tickets\n    expr: MAX(note)\n", 1))
    for command in (("load",), ("apply", "--yes"), ("run",)):
        result = run(*command, project=root)
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def shape(tmp_path_factory) -> Path:
    return _shape(tmp_path_factory.mktemp("messages"))


def test_explain_prints_reply_text_as_written_and_a_long_text_once(shape: Path):
    result = run("explain", "A1", project=shape)
    assert result.exit_code == 0, result.output
    assert "action: [offline stand-in, not AI output] Based on account name: Zürich Works;" in result.output
    assert "\\u00fc" not in result.output and '{"action"' not in result.output
    assert "urgency: later" in result.output or re.search(r"urgency: (now|this quarter)", result.output)
    cut = f"… ({len(NOTE.strip()):,} characters)"
    assert result.output.count(cut) == 1, result.output  # the metric's value, cut
    assert f"(the {len(NOTE.strip()):,}-character text above)" in result.output  # the row behind it
    assert NOTE.strip()[:400] not in result.output
    assert len(result.output) < 8000
    assert "(current version)" in result.output


def test_status_fits_80_columns_with_whole_prompt_names(shape: Path):
    result = run("status", project=shape)  # not a terminal: rich renders 80 columns
    lines = result.output.splitlines()
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in lines), result.output
    assert "…" not in result.output
    rows = [line for line in lines if line.startswith(("account_summary", "recommended_action"))]
    assert [line.split()[:2] for line in rows] == [["account_summary", "finished"], ["recommended_action", "finished"]]
    assert all(re.search(r" [A-Z][a-z]{2} \d{2} \d{2}:\d{2} ", line) for line in rows), rows


def test_history_times_are_labelled_utc(shape: Path):
    result = run("history", project=shape)
    assert result.exit_code == 0, result.output
    assert re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC  plan ", result.output), result.output


def test_experiment_report_without_an_experiment_has_no_z_test(shape: Path):
    plain = run("experiment", "report", "account_summary", project=shape)
    assert plain.exit_code == 0, plain.output
    assert "z-test" not in plain.output
    assert "prompt `account_summary` has no experiment" in plain.output
    with_variants = run("experiment", "report", "recommended_action", project=shape)
    assert with_variants.exit_code == 0 and "has no experiment" not in with_variants.output
    assert "set `experiment.outcome`" in with_variants.output


def test_explain_says_when_the_output_was_made_from_inputs_that_changed(tmp_path: Path):
    root = _shape(tmp_path)
    edit(root / "data" / "accounts.csv", "A1,Zürich Works", "A1,Zürich Works AG")
    assert run("load", project=root).exit_code == 0
    result = run("explain", "A1", project=root)
    assert result.exit_code == 0, result.output
    assert "account_summary: variant default" in result.output
    assert "(current version, but made from inputs that have changed since: `rulectl run` refreshes it)" in result.output


def test_insights_where_reads_any_metric_a_label_list_and_hints_at_quotes(shape: Path):
    import json

    from tests.test_project_shapes import rows

    def keys(where: str) -> list[str]:
        result = run("insights", "--where", where, "-n", "100", "--json", project=shape)
        assert result.exit_code == 0, result.output
        return sorted(json.loads(line)["key"] for line in result.output.splitlines())

    # worst_severity is a metric the insights view does not show (not in display.columns)
    assert keys("worst_severity >= 3") == sorted(r[0] for r in rows(shape, "SELECT account_id FROM REPORTING.CUSTOMER_SEGMENTS WHERE worst_severity >= 3"))
    busy = sorted(r[0] for r in rows(shape, "SELECT account_id FROM REPORTING.CUSTOMER_SEGMENTS WHERE open_tickets >= 2"))
    assert busy and keys("signals = 'Busy support'") == busy  # a match: all list holds the label
    assert keys("signals <> 'Busy support'") == sorted(set(keys("1 = 1")) - set(busy))
    unquoted = run("insights", "--where", "urgency = later", project=shape)
    assert unquoted.exit_code == 1
    assert "`later` is not an output field, metric or customer column; if `later` is a value, put it in single quotes: 'later'" in unquoted.output
    assert "rulectl apply" not in unquoted.output
