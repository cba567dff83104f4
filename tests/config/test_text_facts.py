"""What the checks and compile read of a rule's text without its tree (core/text_facts.py) is kept
across commands: a rule edit parses and types the rules it changed, and finds every error and
warning a command without the kept facts finds, at the same file:line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.config.loader import load_project
from engine.core import expressions, text_facts
from engine.core.errors import ConfigErrors
from tests.conftest import edit

SHAPES = Path(__file__).resolve().parent.parent / "projects"
# A segmentation every shape can take: a rule whose divisor can be zero (a warning), beside the
# shape's own rules; {m} is the shape's first metric.
PROBE = "  - name: probe\n    rules:\n      - segment: Odd\n        when: {m} / NULLIF({m}, 0) > 1 OR {m} / ({m} - 1) > 2\n      - {{segment: Even, when: {m} >= 0}}\n"


def shape_root(shape: str, project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The shape's root with .rulectl/ (as after `rulectl load`) and the probe added; its rules file."""
    root = project if shape == "example" else shutil.copytree(SHAPES / shape, tmp_path / shape, ignore=shutil.ignore_patterns(".rulectl"))
    (root / ".rulectl").mkdir(exist_ok=True)
    loaded = load_project(root)
    rules_file = root / loaded.segmentations[0].doc.file
    metric = next(m.item.name for m in loaded.metrics if m.item.source is not None)
    text = rules_file.read_text()
    rules_file.write_text(text.rstrip("\n") + "\n" + PROBE.format(m=metric) if "segmentations:" in text else text)
    return root, rules_file


def new_process() -> None:
    """What a new rulectl process holds: no parsed text, no facts until a project is loaded."""
    expressions.parse_expression.cache_clear()
    text_facts._facts.clear()
    text_facts._verdicts.clear()


@pytest.fixture
def parsed(monkeypatch) -> list[str]:
    """Every text parsed (sqlglot and the expression checks) from now on."""
    texts: list[str] = []
    original = expressions._checked_tree
    monkeypatch.setattr(expressions, "_checked_tree", lambda text: texts.append(text) or original(text))
    return texts


def warm_minimal(tmp_path: Path) -> Path:
    """The minimal shape, with .rulectl/, loaded once: its rule facts kept."""
    root = shutil.copytree(SHAPES / "minimal", tmp_path / "minimal")
    (root / ".rulectl").mkdir()
    new_process()
    load_project(root)
    return root


def checked(root: Path) -> list[str]:
    return [str(w) for w in load_project(root).warnings]


@pytest.mark.parametrize("shape", ["example", "minimal", "renamed"])
def test_an_edit_parses_the_edited_rule_and_warns_as_without_the_kept_facts(shape, project, tmp_path, parsed):
    root, rules_file = shape_root(shape, project, tmp_path)
    new_process()
    cold = checked(root)
    assert any("divisor" in w and "probe" not in w for w in cold), cold  # the probe's warning, at its line
    assert (root / text_facts.FACTS_FILE).is_file()
    rules = [r.when for s in load_project(root).segmentations for r in s.item.rules]

    edit(rules_file, "> 2\n", "> 3\n")  # the probe's rule: the file's bytes change
    new_process()
    parsed.clear()
    warm = checked(root)
    assert [t for t in parsed if t in rules] == []  # the edited text is new: no other rule parsed
    assert len(parsed) == len(set(parsed)) and all(t not in rules for t in parsed)

    (root / text_facts.FACTS_FILE).unlink()
    (root / ".rulectl" / "cache" / "project.json").unlink()
    new_process()
    assert checked(root) == warm  # the same warnings at the same lines, with nothing kept
    assert warm == [w.replace("> 2", "> 3") for w in cold]


def test_a_kept_rule_reading_a_metric_whose_type_changed_is_typed_again(tmp_path):
    """A verdict is kept under the types of the names the rule reads: the metric turned text, the
    unchanged rule `weekly_visits >= 1` is an error at its line, however warm the facts."""
    root = warm_minimal(tmp_path)
    edit(root / "rules" / "rules.yml", "expr: visits / 52.0", "expr: CAST(visits AS TEXT)")
    new_process()
    with pytest.raises(ConfigErrors, match=r"rules/rules.yml:8: `when`: .*weekly_visits"):
        load_project(root)


def test_a_kept_rule_is_still_checked_against_the_names_the_project_declares(tmp_path):
    """Facts say which names a rule reads; whether they exist is asked of the project each time."""
    root = warm_minimal(tmp_path)
    edit(root / "rules" / "rules.yml", "- name: weekly_visits", "- name: visits_per_week")
    new_process()
    with pytest.raises(ConfigErrors, match=r"rules.yml:8: `when`: `weekly_visits` is not a metric"):
        load_project(root)


@pytest.mark.parametrize("damage", ["{not json", json.dumps({"stamp": "another rulectl", "facts": {}, "verdicts": []}), "STAMPED"])
def test_a_damaged_or_foreign_facts_file_is_ignored(damage, tmp_path, parsed):
    root = shutil.copytree(SHAPES / "minimal", tmp_path / "minimal")
    (root / ".rulectl").mkdir()
    new_process()
    warnings = checked(root)
    path = root / text_facts.FACTS_FILE
    if damage == "STAMPED":  # this rulectl's, but a text's facts are not three values
        data = json.loads(path.read_text())
        data["facts"]["weekly_visits >= 1"] = ["weekly_visits", True]
        damage = json.dumps(data)
    path.write_text(damage)
    edit(root / "rules" / "rules.yml", "default: Occasional", "default: Rare")
    new_process()
    parsed.clear()
    assert checked(root) == warnings and "weekly_visits >= 1" in parsed  # parsed, not taken from the file
    assert json.loads(path.read_text())["stamp"]  # written again whole


def test_nothing_is_kept_for_a_project_that_fails_its_checks_or_has_no_rulectl_folder(tmp_path):
    root = shutil.copytree(SHAPES / "minimal", tmp_path / "minimal")
    new_process()
    load_project(root)
    assert not (root / text_facts.FACTS_FILE).exists()  # no .rulectl/: nothing written into the project
    (root / ".rulectl").mkdir()
    edit(root / "rules" / "rules.yml", "weekly_visits >= 1", "weekly_visits >= 'x'")
    with pytest.raises(ConfigErrors):
        load_project(root)
    assert not (root / text_facts.FACTS_FILE).exists()


def test_a_hand_edited_facts_file_that_passes_a_refused_text_stops_with_what_to_delete(tmp_path):
    """The file is trusted as the project cache is; a text it passes that this rulectl refuses is a
    message naming the folder to delete and a non-zero exit, never a traceback."""
    from tests.conftest import run

    root = warm_minimal(tmp_path)
    refused = "weekly_visits >= 1 AND weekly_visits.x > 0"
    path = root / text_facts.FACTS_FILE
    data = json.loads(path.read_text())
    data["facts"][refused] = [["weekly_visits", "x"], False, False]
    path.write_text(json.dumps(data))
    edit(root / "rules" / "rules.yml", "when: weekly_visits >= 1}", f"when: {refused}}}")
    new_process()
    for command in ("validate", "plan"):
        result = run(command, project=root)
        assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "delete the folder .rulectl/cache" in result.output and "Traceback" not in result.output


def test_only_the_verdicts_a_load_asked_for_are_kept(tmp_path):
    """A metric's type changed and changed back leaves the rule's verdict under the current types
    only, not one per type it ever had."""
    root = shutil.copytree(SHAPES / "minimal", tmp_path / "minimal")
    (root / ".rulectl").mkdir()
    rules = root / "rules" / "rules.yml"
    edit(rules, "when: weekly_visits >= 1", "when: weekly_visits IS NOT NULL")
    for expr in ("visits / 52.0", "CAST(visits AS TEXT)", "visits / 26.0"):  # each a new file: checked again
        text = rules.read_text()
        rules.write_text(text.replace(text.split("expr: ")[1].split("\n")[0], expr, 1))
        new_process()
        load_project(root)
    verdicts = json.loads((root / text_facts.FACTS_FILE).read_text())["verdicts"]
    assert [(text, env) for text, env, *_ in verdicts] == [("weekly_visits IS NOT NULL", [["weekly_visits", "number"]])]
