"""The local sentiment analyser (VADER) reads English only: `run`, `status`, `status --json` and
`plan` say how many texts it scored look non-English, by language (and how many of those scored neutral), and `doctor` says what it
reads. Shapes: the clinic's multilingual visit notes (counted by hand in tests/clinic.py) and the
minimal project with member comments. The Snowflake path keeps no such note."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from engine.ai.text_language import guess_language
from engine.backends.base import Backend
from tests.clinic import NOTES_LANGUAGE_NOTE, with_notes, write_clinic
from tests.conftest import REPO, run


@pytest.fixture(scope="module")
def clinic(tmp_path_factory) -> tuple[Path, str]:
    root = with_notes(write_clinic(tmp_path_factory.mktemp("clinic_notes")))
    for args in (("load",), ("apply", "--yes")):
        result = run(*args, project=root)
        assert result.exit_code == 0, result.output
    ran = run("run", "notes_sentiment", project=root)
    assert ran.exit_code == 0, ran.output
    return root, ran.output


def test_run_says_which_scored_texts_look_non_english(clinic):
    _, output = clinic
    assert NOTES_LANGUAGE_NOTE in " ".join(output.split()), output
    assert "reads English only" in " ".join(output.split())


def test_status_and_plan_keep_the_note_until_a_run_scores_again(clinic):
    root, _ = clinic
    status = run("status", project=root)
    assert f"note: notes_sentiment: {NOTES_LANGUAGE_NOTE}" in " ".join(status.output.split()), status.output
    as_json = [json.loads(line) for line in run("status", "--json", project=root).output.splitlines()]
    assert [line["note"].startswith(NOTES_LANGUAGE_NOTE) for line in as_json if line["prompt"] == "notes_sentiment"] == [True]
    assert all(line["note"] is None for line in as_json if line["prompt"] != "notes_sentiment")
    plan = run("plan", project=root)
    assert f"notes_sentiment: {NOTES_LANGUAGE_NOTE}" in " ".join(plan.output.split()), plan.output
    again = run("run", "notes_sentiment", project=root)  # nothing changed: nothing scored, the note stays
    assert again.exit_code == 0 and NOTES_LANGUAGE_NOTE in " ".join(run("status", project=root).output.split())


def test_doctor_says_what_the_local_analyser_reads(clinic):
    root, _ = clinic
    result = run("doctor", project=root)
    assert "reads English only" in " ".join(result.output.split()), result.output


def test_the_minimal_project_with_member_comments(tmp_path: Path):
    root = tmp_path / "minimal"
    shutil.copytree(REPO / "tests" / "projects" / "minimal", root)
    config = (root / "rulectl.yml").read_text()
    assert config.rstrip().endswith("sample: data/members.csv")  # sources is the last section
    (root / "rulectl.yml").write_text(config.rstrip() + (
        "\n  comments:\n    table: CLUB.COMMENTS\n    grain: [member_id, comment_no]\n"
        "    columns: {member_id: integer, comment_no: integer, body: varchar}\n    sample: data/comments.csv\n"
        "    enrich:\n      sentiment: {text: body}\n"
    ))
    members = [line.split(",")[0] for line in (root / "data" / "members.csv").read_text().splitlines()[1:4]]
    comments = [  # by hand: 6 scored; neutral: the German, the French and the English question; the
        # German praise that starts with `Die` scores negative (VADER's compound -0.636: `die` is in its lexicon)
        (members[0], 1, "Great classes, love it!"), (members[0], 2, "Tolle Trainer, ich komme gern wieder."),
        (members[1], 3, "Les vestiaires sont propres."), (members[1], 4, "Member asked about the locker schedule."),
        (members[2], 5, "The app keeps crashing, terrible."), (members[2], 6, "Die Trainer sind wunderbar, ich bin sehr zufrieden!"),
    ]
    with (root / "data" / "comments.csv").open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([("member_id", "comment_no", "body"), *comments])
    for args in (("load",), ("apply", "--yes"), ("run",)):
        result = run(*args, project=root)
        assert result.exit_code == 0, result.output
    assert "3 of 6 text(s) look non-English (de 2, fr 1; 2 scored neutral)" in " ".join(result.output.split()), result.output
    with duckdb.connect(str(root / ".rulectl" / "local.duckdb"), read_only=True) as connection:
        scores = dict(connection.execute("SELECT comment_no, sentiment FROM AI.COMMENTS_SENTIMENT").fetchall())
    assert scores == {1: 1, 2: 0, 3: 0, 4: 0, 5: -1, 6: -1}  # the German praise scored negative: the note names it


@pytest.mark.parametrize("text, language", [
    ("Wir sind sehr zufrieden mit der Behandlung in der Praxis.", "de"),
    ("Patient came in for a routine follow-up.", "en"),
    ("Ticket closed", None),  # too short to tell: never blamed
    ("AP GL", None),
])
def test_the_guess_counts_only_when_confident(text: str, language: str | None):
    assert guess_language(text) == language


def test_targets_whose_scheduler_runs_the_tasks_keep_no_note():
    from engine.backends.snowflake import SnowflakeBackend

    assert Backend.run_notes(object(), ["AI.REFRESH_X"]) == {}  # Snowflake inherits this: AI_SENTIMENT reads the languages itself
    assert SnowflakeBackend.run_notes is Backend.run_notes and SnowflakeBackend.local_sentiment_languages is None


def test_plan_says_what_the_local_analyser_reads_before_any_run(tmp_path: Path):
    root = with_notes(write_clinic(tmp_path))
    assert run("load", project=root).exit_code == 0
    plan = " ".join(run("plan", project=root).output.split())
    assert "note: notes_sentiment: scored on this target by the local analyser, which reads English only" in plan, plan
