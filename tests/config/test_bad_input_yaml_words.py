"""The bad-input corpus, YAML part (issue 23): a new analyst's YAML mistakes on projects that are
not the example. Each: exit 1, the line the analyst must edit, PyYAML's jargon translated into what
YAML understood and the edit that fixes it, nothing created."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, run

MINIMAL = REPO / "tests" / "projects" / "minimal"
RENAMED = REPO / "tests" / "projects" / "renamed"
METRIC = "metrics:\n  - name: weekly_visits\n    source: members\n    expr: visits / 52.0\n"
SEGMENTATION = "segmentations:\n  - name: activity\n    rules:\n"

# (case id, rules/rules.yml of the minimal project, expected line, the whole message after file:line)
MINIMAL_CASES = [
    (
        "colon in an unquoted when",
        METRIC + SEGMENTATION + "      - segment: Regular\n        when: weekly_visits >= 1 AND note: x\n",
        9,
        'YAML syntax error: the value of `when` contains `: ` (a colon and a space), which YAML reads as the start of another key; '
        'put the whole value in quotes: when: "weekly_visits >= 1 AND note: x"',
    ),
    (
        "missing space after a colon points at its own line",
        "metrics:\n  - name: weekly_visits\n    expr:visits / 52.0\n    source: members\n",
        3,
        "YAML syntax error: `expr:visits / 52.0` needs a space after the colon: expr: visits / 52.0",
    ),
    (
        "missing space after a list item's colon: the next key continues it, the item is named",
        METRIC + SEGMENTATION + "      - segment:Regular\n        when: weekly_visits >= 1\n",
        8,
        "YAML syntax error: `segment:Regular` needs a space after the colon: segment: Regular",
    ),
    (
        "a setting written after a question mark becomes a key",
        METRIC + SEGMENTATION + "      - segment: Regular\n        when: weekly_visits >= 1\n    ? default: Occasional\n",
        10,
        "`? default: Occasional`: a line that starts with `?` marks a YAML key of its own, so `default: Occasional` became a key, "
        "not a setting; remove the `?`: default: Occasional",
    ),
    (
        "a key in brackets",
        METRIC + SEGMENTATION + "      - segment: Regular\n        when: weekly_visits >= 1\n    [default]: Occasional\n",
        10,
        "`[default]: Occasional`: a key must be a plain name (`key: value`); YAML reads a key in `{…}` or `[…]` as a mapping or a list; write the name alone",
    ),
    (
        "key indented one space short",
        METRIC + SEGMENTATION + "      - segment: Regular\n        when: weekly_visits >= 1\n       default: Occasional\n",
        10,
        "YAML syntax error: `default` is indented 7 spaces, which lines up with no block of keys above it; "
        "indent it 8 spaces (beside `when:` on line 9) or 4 spaces (beside `rules:` on line 7)",
    ),
    (
        "key dedented into a list",
        METRIC + SEGMENTATION + "      - segment: Regular\n        when: weekly_visits >= 1\n    default: Occasional\n  description: x\n",
        11,
        "YAML syntax error: `description` is indented 2 spaces, which lines up with no block of keys above it; "
        "indent it 4 spaces (beside `default:` on line 10) or 0 spaces (beside `segmentations:` on line 5)",
    ),
    (
        "value starting with a quote",
        METRIC + SEGMENTATION + "      - segment: Regular\n        when: 'x' = visits\n",
        9,
        "YAML syntax error: the value of `when` starts with a quote, so YAML takes only 'x' as the value and cannot read the rest; "
        "put the whole value in quotes: when: \"'x' = visits\"",
    ),
    (
        "value starting with a question mark",
        METRIC + SEGMENTATION + "      - segment: Regular\n        when: ? weekly_visits\n",
        9,
        'YAML syntax error: the value of `when` starts with the character ?, which marks a YAML key; put the whole value in quotes: when: "? weekly_visits"',
    ),
    (
        "list item indented one space short",
        METRIC + SEGMENTATION + "      - {segment: Regular, when: weekly_visits >= 1}\n     - {segment: Rare, when: weekly_visits < 0.1}\n",
        9,
        "YAML syntax error: the list item `- {segment: Rare, when: weekly_visits <…` is indented 5 spaces, which lines up with no list above it; "
        "indent it 6 spaces (beside the item on line 8) or 2 spaces (beside the item on line 6)",
    ),
    (
        "quote never closed",
        METRIC + SEGMENTATION + "      - segment: 'Regular\n        when: weekly_visits >= 1\n",
        8,
        "YAML syntax error: the quote opened here is never closed; add the closing quote at the end of the value",
    ),
    (
        "comma in a flow mapping",
        METRIC + SEGMENTATION + "      - {segment: Regular, when: weekly_visits >= 1, action: Call, then email}\n",
        8,
        '`action: Call, then email` inside `{ }` was read as two entries, because a comma separates entries there; '
        'put the value in quotes: action: "Call, then email"',
    ),
    (
        "default that is a word",
        "metrics:\n  - name: weekly_visits\n    source: members\n    expr: visits / 52.0\n    default: zero\n",
        5,
        "metric `weekly_visits`: `default` must be a number, not `zero`",
    ),
    (
        "rule without when named by segmentation and position",
        METRIC + SEGMENTATION + "      - {segment: Regular, when: weekly_visits >= 1}\n      - segment: Rare\n    default: Occasional\n",
        9,
        "segmentation `activity`, rule 2 (`Rare`): `when` is required but missing",
    ),
    (
        "unknown key named by segmentation and position",
        METRIC + SEGMENTATION + "      - {segment: Regular, when: weekly_visits >= 1, acton: Call}\n",
        8,
        "unknown key `acton` in segmentation `activity`, rule 1 (`Regular`); did you mean `action`?",
    ),
    (
        "match with a value of its own",
        METRIC + "segmentations:\n  - name: activity\n    match: any\n    rules:\n      - {segment: Regular, when: weekly_visits >= 1}\n",
        7,
        "segmentation `activity`: `match` must be 'first' or 'all', not `any`",
    ),
]


def _copy(shape: Path, tmp_path: Path) -> Path:
    root = tmp_path / shape.name
    shutil.copytree(shape, root)
    return root


def _assert_refused(root: Path, file: str, line: int, message: str) -> None:
    before = sorted(p.name for p in root.rglob("*"))
    result = run("validate", project=root)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{file}:{line}: {message}\n" in result.output, result.output
    assert [l.startswith("error:") for l in result.output.splitlines()].count(True) == 1, result.output  # one message per mistake
    assert sorted(p.name for p in root.rglob("*")) == before


@pytest.mark.parametrize("case_id, rules, line, message", MINIMAL_CASES, ids=[c[0] for c in MINIMAL_CASES])
def test_bad_input_yaml_on_the_minimal_project(tmp_path: Path, case_id, rules, line, message):
    root = _copy(MINIMAL, tmp_path)
    (root / "rules" / "rules.yml").write_text(rules)
    _assert_refused(root, "rules/rules.yml", line, message)


def test_bad_input_source_named_in_the_renamed_project(tmp_path: Path):
    """A mapping of named items reads `source `tickets``, not `sources.tickets`."""
    root = _copy(RENAMED, tmp_path)
    text = (root / "rulectl.yml").read_text()
    (root / "rulectl.yml").write_text(text.replace("    table: SUPPORT.TICKETS\n", "    table: SUPPORT.TICKETS\n    grian: [ticket_id]\n", 1))
    line = text.splitlines().index("    table: SUPPORT.TICKETS") + 2
    _assert_refused(root, "rulectl.yml", line, "unknown key `grian` in source `tickets`; did you mean `grain`?")


def test_unknown_name_among_many_metrics_suggests_one_and_lists_none(tmp_path: Path):
    """1,000 metrics: a misspelt display metric gets a did-you-mean, not the 1,000 names."""
    root = _copy(MINIMAL, tmp_path)
    metrics = "".join(f"  - name: visits_{n}\n    source: members\n    expr: visits + {n}\n" for n in range(1000))
    (root / "rules" / "rules.yml").write_text("metrics:\n" + metrics)
    (root / "rulectl.yml").write_text((root / "rulectl.yml").read_text() + "display:\n  size: {metric: visits_9999}\n")
    result = run("validate", project=root)
    assert result.exit_code == 1, result.output
    assert "`size.metric`: `visits_9999` is not a metric; did you mean `visits_999`?\n" in result.output, result.output
    assert len(result.output) < 300, result.output
