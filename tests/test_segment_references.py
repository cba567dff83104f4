"""Rules that read another segmentation's label (issue 23): `plays` excluding customers `value_band`
calls `Needs Care`. On two shapes that are not the example — `renamed` (text key, three sources) and
`minimal` (integer key, a chain of two references declared before what they read) — compiled,
applied to a real DuckDB file and read back; the Snowflake text is the same AST; lint's solver, explain,
rule tests and plan's moves all see the referenced label. Numbers come from the shapes' CSVs."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from engine.compile.project import compile_project
from engine.compile.segments import SEGMENTS_VIEW
from engine.config.loader import load_project
from tests.conftest import edit, run

SHAPES = Path(__file__).resolve().parent / "projects"

# renamed: value_band gives A1 Platinum (35,000 live), A2 Needs Care (severity 3), A3-A5 Standard
PLAYS = """  - name: plays
    rules:
      - {segment: Upsell, when: "value_band = 'Standard' AND module_total >= 2", action: Offer a third module}
      - {segment: Save, when: "value_band IN ('Needs Care') AND open_tickets > 0"}
    default: Hold
"""
# minimal: activity gives 1 (104 visits) and 3 (52) Regular, 2 (10) and 4 (0) Occasional.
# `perk` is declared first and reads `outreach`, which reads `activity`.
MINIMAL_RULES = """segmentations:
  - name: perk
    rules:
      - {segment: Coupon, when: "outreach = 'Nudge'"}
    default: Nothing
  - name: activity
    rules:
      - {segment: Regular, when: weekly_visits >= 1}
    default: Occasional
  - name: outreach
    rules:
      - {segment: Win back, when: "activity = 'Occasional' AND visits = 0"}
      - {segment: Nudge, when: "activity <> 'Regular'"}
"""


def _rows(root: Path, sql: str) -> list[tuple]:
    connection = duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _built(root: Path) -> Path:
    for command in ("validate", "load", "apply"):
        result = run(command, *(("--yes",) if command == "apply" else ()), project=root)
        assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def renamed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("refs") / "renamed"
    shutil.copytree(SHAPES / "renamed", root, ignore=shutil.ignore_patterns(".rulectl", "prompts"))
    (root / "rules" / "rules.yml").write_text((root / "rules" / "rules.yml").read_text() + PLAYS)
    return _built(root)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("refs") / "minimal"
    shutil.copytree(SHAPES / "minimal", root, ignore=shutil.ignore_patterns(".rulectl"))
    rules = next((root / "rules").glob("*.yml"))
    text = rules.read_text()
    rules.write_text(text[: text.index("segmentations:")] + MINIMAL_RULES)
    return _built(root)


def test_labels_read_from_another_segmentation_on_duckdb(renamed: Path, minimal: Path):
    assert _rows(renamed, "SELECT account_id, value_band, plays, plays_action FROM REPORTING.CUSTOMER_SEGMENTS ORDER BY 1") == [
        ("A1", "Platinum", "Hold", None),
        ("A2", "Needs Care", "Save", None),  # one live module, two tickets
        ("A3", "Standard", "Upsell", "Offer a third module"),  # GL + CR live
        ("A4", "Standard", "Hold", None),  # no live module
        ("A5", "Standard", "Hold", None),
    ]
    # a chain declared before what it reads: perk ← outreach ← activity
    assert _rows(minimal, "SELECT member_id, activity, outreach, perk FROM ANALYTICS.CUSTOMER_SEGMENTS ORDER BY 1") == [
        (1, "Regular", None, "Nothing"),
        (2, "Occasional", "Nudge", "Coupon"),
        (3, "Regular", None, "Nothing"),
        (4, "Occasional", "Win back", "Nothing"),
    ]


def test_snowflake_and_duckdb_compile_the_same_view(renamed: Path):
    """One AST for both targets: the Snowflake text inlines value_band's CASE where plays reads it, so
    no column of the view reads another column of the same SELECT (neither engine needs to)."""
    import sqlglot
    from sqlglot import exp

    from engine.core.expressions import DIALECT

    loaded = load_project(renamed)
    view = next(o for o in compile_project(loaded, "prod") if o.name == SEGMENTS_VIEW)
    plays = next(item for item in view.statement.expression.expressions if item.alias == "plays")
    band = "(CASE WHEN m.total_contract_value >= 30000 THEN 'Platinum' WHEN m.worst_severity >= 3 THEN 'Needs Care' ELSE 'Standard' END)"
    assert plays.sql(dialect=DIALECT) == (
        f"CASE WHEN {band} = 'Standard' AND m.module_total >= 2 THEN 'Upsell' "
        f"WHEN {band} IN ('Needs Care') AND m.open_tickets > 0 THEN 'Save' ELSE 'Hold' END AS plays"
    )
    assert not any(c.name == "value_band" for c in view.statement.find_all(exp.Column))
    # that Snowflake text, read back and run over the deployed metrics, gives the labels above
    select = sqlglot.parse_one(f"SELECT m.account_id, {plays.sql(dialect=DIALECT)} FROM REPORTING.CUSTOMER_METRICS AS m ORDER BY 1", read=DIALECT)
    assert _rows(renamed, select.sql(dialect="duckdb")) == [("A1", "Hold"), ("A2", "Save"), ("A3", "Upsell"), ("A4", "Hold"), ("A5", "Hold")]


@pytest.mark.snowflake
def test_the_snowflake_statements_give_the_same_labels_through_fakesnow(minimal: Path):
    """The chain perk ← outreach ← activity, applied as Snowflake statements (rulectl's Snowflake
    backend, fakesnow's Snowflake SQL) over the minimal shape's rows: the labels DuckDB gave."""
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector
    from sqlglot import exp

    from engine.backends.snowflake import SnowflakeBackend
    from engine.features.sample_data import source_table_statements

    loaded = load_project(minimal)
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="CLUB_DB", schema="PUBLIC")
        backend = SnowflakeBackend(connection, "CLUB_DB")
        for statement in source_table_statements(loaded.config.sources["members"]):
            backend.execute(statement)
        backend.execute("INSERT INTO CLUB.MEMBERS VALUES (1, 104), (2, 10), (3, 52), (4, 0)")  # data/members.csv
        for obj in compile_project(loaded):
            if obj.kind in ("schema", "view"):
                backend.execute(obj.statement)
        labels = backend.query(exp.select("member_id", "activity", "outreach", "perk").from_("ANALYTICS.CUSTOMER_SEGMENTS").order_by("member_id"))
        connection.close()
    assert [tuple(row) for row in labels] == _rows(minimal, "SELECT member_id, activity, outreach, perk FROM ANALYTICS.CUSTOMER_SEGMENTS ORDER BY 1") == [
        (1, "Regular", None, "Nothing"), (2, "Occasional", "Nudge", "Coupon"), (3, "Regular", None, "Nothing"), (4, "Occasional", "Win back", "Nothing"),
    ]


def test_explain_says_why_the_customer_has_the_label_a_rule_reads(renamed: Path, minimal: Path):
    shown = run("explain", "A3", project=renamed)
    assert shown.exit_code == 0, shown.output
    assert "value_band = Standard: no rule of value_band is true, so its default applies" in shown.output
    shown = run("explain", "2", project=minimal)
    assert shown.exit_code == 0, shown.output
    # perk reads outreach; outreach's winning rule is named with its file:line
    assert "outreach = Nudge: its rule `Nudge` is the first true one (rules/rules.yml:" in shown.output
    assert "activity = Occasional: no rule of activity is true, so its default applies" in shown.output


def test_rule_tests_give_the_inputs_of_the_label_read(renamed: Path, tmp_path: Path):
    root = tmp_path / "renamed"
    shutil.copytree(renamed, root, ignore=shutil.ignore_patterns(".rulectl"))
    (root / "tests").mkdir()
    (root / "tests" / "plays.yml").write_text(
        "tests:\n"
        "  - name: a standard band with two live modules is an upsell\n"
        "    given:\n"
        "      accounts: [{account_id: X1, account_name: X, region: West, signed_on: 2020-01-01}]\n"
        "      modules:\n"
        "        - {account_id: X1, module: GL, state: live, module_fee: 100}\n"
        "        - {account_id: X1, module: AP, state: live, module_fee: 100}\n"
        "    expect: [{account_id: X1, value_band: Standard, plays: Upsell}]\n"
        "  - name: a severe ticket makes it a save, not an upsell\n"
        "    given:\n"
        "      accounts: [{account_id: X2, account_name: Y, region: West, signed_on: 2020-01-01}]\n"
        "      modules:\n"
        "        - {account_id: X2, module: GL, state: live, module_fee: 100}\n"
        "        - {account_id: X2, module: AP, state: live, module_fee: 100}\n"
        "      tickets: [{account_id: X2, ticket_id: T9, severity: 3}]\n"
        "    expect: [{account_id: X2, plays: Upsell}]\n"
    )
    result = run("test", project=root)
    assert result.exit_code == 1, result.output
    assert "PASS a standard band with two live modules is an upsell" in result.output
    # the failure names the label the rule read, computed from the given rows
    assert "X2: plays expected 'Upsell', got 'Save'" in result.output
    assert "with value_band = 'Needs Care', open_tickets = 1" in result.output, result.output


def test_plan_moves_customers_in_the_segmentation_that_reads_the_changed_one(renamed: Path, tmp_path: Path):
    root = tmp_path / "renamed"
    shutil.copytree(renamed, root)
    # Platinum now needs 40,000: A1 (35,000, two live modules) becomes Standard, so an Upsell in plays
    edit(root / "rules" / "rules.yml", "total_contract_value >= 30000", "total_contract_value >= 40000")
    moves = tmp_path / "moves.csv"
    planned = run("plan", "--moves", str(moves), project=root)
    assert planned.exit_code == 0, planned.output
    assert "value_band: 1 customer: Platinum → Standard (e.g. Alpha City)" in planned.output
    assert "plays: 1 customer: Hold → Upsell (e.g. Alpha City)" in planned.output
    assert "`plays` reads the label of `value_band`: customers moving there move in `plays` too" in planned.output
    assert moves.read_text().splitlines()[1:] == ["A1,Alpha City,value_band,Platinum,Standard", "A1,Alpha City,plays,Hold,Upsell"]


@pytest.mark.parametrize("rules, line, words", [
    # the label's domain: a rule that can never hold because of what the label means
    ("      - {segment: Hollow, when: \"value_band = 'Platinum' AND total_contract_value < 30000\"}\n", 35, "rule `Hollow` can never match: `value_band = 'Platinum' AND total_contract_value < 30000` is TRUE for no customer; fix the bounds or remove the rule (`value_band` is 'Platinum' only when total_contract_value >= 30000)"),
    ("      - {segment: Typo, when: \"value_band = 'Platinium'\"}\n", 35, "'Platinium' is not a label of `value_band` (labels: Platinum, Needs Care, Standard), so this comparison never holds; did you mean `Platinum`?"),
])
def test_validate_refuses_rules_that_cannot_match_through_the_label(renamed: Path, tmp_path: Path, rules: str, line: int, words: str):
    root = tmp_path / "renamed"
    shutil.copytree(renamed, root, ignore=shutil.ignore_patterns(".rulectl"))
    edit(root / "rules" / "rules.yml", "    default: Hold\n", rules + "    default: Hold\n")
    result = run("validate", project=root)
    assert result.exit_code == 1
    assert f"rules/rules.yml:{line}:" in result.output and words in result.output, result.output
    assert "Traceback" not in result.output


def test_lint_examples_show_the_labels_read(minimal: Path):
    linted = run("lint", project=minimal)
    # perk's gap: a customer outreach gives no label because activity is Regular
    assert "e.g. a customer with weekly_visits = 1, activity = 'Regular', visits = NULL, outreach = NULL" in linted.output, linted.output


def test_a_prompt_reading_the_label_is_re_enriched_when_the_label_it_reads_moves(renamed: Path, tmp_path: Path):
    root = tmp_path / "renamed"
    shutil.copytree(renamed, root)  # loaded and applied: the prompt's objects are all apply adds
    (root / "prompts").mkdir()
    (root / "prompts" / "plays.yml").write_text(
        "name: play_note\ninput: customer_segments\nkey: account_id\nmodel: llama3.3-70b\n"
        "template: 'Account {account_name}: play {plays}. One sentence.'\n"
        "output: PLAY_NOTES\nrefresh: {schedule: 60 MINUTES, max_rows: 100}\n"
    )
    assert run("apply", "--yes", project=root).exit_code == 0
    assert "5 row(s) enriched" in run("run", project=root).output
    edit(root / "rules" / "rules.yml", "total_contract_value >= 30000", "total_contract_value >= 40000")
    assert run("apply", "--yes", project=root).exit_code == 0
    # only A1 moved (Hold → Upsell in plays, through value_band): its input hash alone changed
    assert "1 row(s) enriched" in run("run", project=root).output
    replies = dict(_rows(root, "SELECT account_id, response FROM ENRICHED.PLAY_NOTES"))
    assert "plays: Upsell" in replies["A1"] and "plays: Save" in replies["A2"]


def test_validate_refuses_a_rule_a_default_label_makes_impossible(minimal: Path, tmp_path: Path):
    root = tmp_path / "minimal"
    shutil.copytree(minimal, root, ignore=shutil.ignore_patterns(".rulectl"))
    edit(root / "rules" / "rules.yml", "      - {segment: Coupon, when: \"outreach = 'Nudge'\"}\n",
         "      - {segment: Coupon, when: \"outreach = 'Nudge'\"}\n      - {segment: Gift, when: \"activity = 'Occasional' AND weekly_visits >= 1\"}\n")
    result = run("validate", project=root)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "rules/rules.yml:" in result.output
    assert "rule `Gift` can never match" in result.output
    assert "(`activity` is 'Occasional' only when none of its rules match)" in result.output, result.output
