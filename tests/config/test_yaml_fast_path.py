"""YAML is composed by libyaml when PyYAML has it (every command loads every file); a file it
cannot read is parsed again by PyYAML's own parser, so messages stay the ones rulectl explains."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.config import yaml_lines
from engine.config.yaml_lines import YamlProblem, load_located
from tests.conftest import REPO

SHAPES = [REPO, REPO / "tests" / "projects" / "renamed", REPO / "tests" / "projects" / "minimal"]


def every_file() -> list[Path]:
    return [path for root in SHAPES for path in sorted(root.glob("*.yml")) + sorted(root.glob("*/*.yml")) if "tests/projects" not in str(path.relative_to(root))]


@pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="this PyYAML was built without libyaml")
def test_libyaml_reads_every_shape_as_pythons_parser_does(monkeypatch):
    files = every_file()
    assert len(files) >= 8
    fast = [load_located(path, path.name) for path in files]
    assert yaml_lines.FAST_LOADER is yaml.CSafeLoader
    monkeypatch.setattr(yaml_lines, "FAST_LOADER", yaml.SafeLoader)
    slow = [load_located(path, path.name) for path in files]
    for a, b in zip(fast, slow):
        assert (a.data, a.lines, a.block_scalars) == (b.data, b.lines, b.block_scalars), a.file


def test_a_broken_file_gets_pythons_message_and_line(tmp_path: Path):
    broken = tmp_path / "segments.yml"
    broken.write_text("segmentations:\n  - name: tier\n    rules:\n      - when: a: b\n")
    with pytest.raises(YamlProblem) as raised:
        load_located(broken, "rules/segments.yml")
    assert raised.value.problem.line == 4
    # PyYAML's report (not libyaml's), translated by yaml_errors
    assert 'the value of `when` contains `: `' in str(raised.value) and 'when: "a: b"' in str(raised.value)
