"""YAML → plain Python data plus the line of every key and item, so errors can point at file:line."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.config.yaml_errors import explain_yaml_error, quoted
from engine.core.errors import Problem

Path_ = tuple[Any, ...]

# Hostile input bounds. Aliases are expanded where they are used, so a "billion laughs" file of a
# few lines would build billions of values: the whole document may build at most MAX_VALUES values
# (a 1,000-metric project builds about 10,000), nested at most MAX_DEPTH levels deep.
MAX_VALUES = 200_000
MAX_DEPTH = 64
MAX_FILE_BYTES = 5_000_000


@dataclass
class LocatedDocument:
    """The data of one YAML file and the line (1-based) where each path in it starts."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    block_scalars: set[Path_] = field(default_factory=set)  # `key: |` values: text starts a line below
    text_lines: list[str] = field(default_factory=list, repr=False)  # the file's lines, to judge what YAML read
    digest: str = ""  # SHA-256 of the bytes parsed: the project cache is keyed by exactly what was read

    def line_of(self, path: Path_) -> int:
        """Line of the deepest known prefix of `path` (a missing key points at its parent)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class YamlProblem(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))


def load_located(path: Path, display_name: str) -> LocatedDocument:
    """Parse one YAML file; raise YamlProblem with file:line for anything unreadable."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise YamlProblem(Problem(display_name, 1, f"the file is larger than {MAX_FILE_BYTES // 1_000_000} MB; split it into several files under rules/ or prompts/"))
    raw = path.read_bytes()
    text = _decode(raw, display_name)
    if not text.strip() or all(l.strip().startswith("#") or not l.strip() for l in text.splitlines()):
        raise YamlProblem(Problem(display_name, 1, "the file is empty; it needs at least the top-level mapping (see the README for the shape)"))
    fast = FAST_LOADER(text)
    try:
        doc = _document(fast, display_name, text)
    except (yaml.YAMLError, RecursionError):
        doc = None  # parsed again below by PyYAML's own parser, whose messages (not libyaml's) are explained
    finally:
        fast.dispose()
    doc = doc if doc is not None else _located(text, display_name)
    doc.digest = hashlib.sha256(raw).hexdigest()
    return doc


# libyaml (PyYAML's C parser, shipped in its wheels) composes a file ~3x faster than PyYAML's
# Python parser, and every command loads every file. Same nodes, same marks (lines).
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _document(loader: yaml.SafeLoader, display_name: str, text: str) -> LocatedDocument:
    node = loader.get_single_node()
    doc = LocatedDocument(display_name, None, text_lines=text.splitlines())
    doc.data = _build(node, (), doc, loader, [MAX_VALUES])
    return doc


def _located(text: str, display_name: str) -> LocatedDocument:
    loader = yaml.SafeLoader(text)
    try:
        return _document(loader, display_name, text)
    except RecursionError:
        raise YamlProblem(Problem(display_name, 1, f"the YAML is nested too deeply (more than {MAX_DEPTH} levels); rulectl files are a few levels deep")) from None
    except yaml.MarkedYAMLError as error:
        mistake = explain_yaml_error(error, text)
        raise YamlProblem(Problem(display_name, mistake.line, mistake.message)) from None
    except yaml.YAMLError as error:
        raise YamlProblem(Problem(display_name, 1, f"YAML error: {error}")) from None
    finally:
        loader.dispose()


def _decode(raw: bytes, display_name: str) -> str:
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise YamlProblem(Problem(display_name, line, "the file contains binary data (a NUL byte); it must be UTF-8 YAML text"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise YamlProblem(Problem(display_name, line, "the file is not UTF-8 text; save it as UTF-8")) from None


def _complex_key_message(lines: list[str], index: int) -> str:
    """A key that is not a name: `? x` (YAML's explicit key) or a `{…}` / `[…]` key. Say what YAML
    made of it and the line to write."""
    written = lines[index].strip() if 0 <= index < len(lines) else ""
    if written == "?":
        return "`?` alone marks an empty YAML key; remove the line, or write `key: value`"
    if written.startswith("? "):
        rest = written[1:].strip()
        return f"`{written}`: a line that starts with `?` marks a YAML key of its own, so `{rest}` became a key, not a setting; remove the `?`: {rest}"
    return f"`{written}`: a key must be a plain name (`key: value`); YAML reads a key in `{{…}}` or `[…]` as a mapping or a list; write the name alone"


def _build(node: yaml.Node, path: Path_, doc: LocatedDocument, loader: yaml.SafeLoader, budget: list[int]) -> Any:
    line = node.start_mark.line + 1
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlProblem(Problem(doc.file, line, f"the file expands to more than {MAX_VALUES:,} values (aliases `*name` repeat what they point at); write the values out instead"))
    if len(path) > MAX_DEPTH:
        raise YamlProblem(Problem(doc.file, line, f"the YAML is nested more than {MAX_DEPTH} levels deep; rulectl files are a few levels deep"))
    doc.lines[path] = line
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        previous: tuple[yaml.Node, yaml.Node] | None = None
        for key_node, value_node in node.value:
            if node.flow_style and previous is not None and _split_by_comma(key_node, value_node, doc.text_lines):
                raise YamlProblem(Problem(doc.file, key_node.start_mark.line + 1, _comma_message(previous, key_node)))
            previous = (key_node, value_node)
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise YamlProblem(Problem(doc.file, key_node.start_mark.line + 1, _complex_key_message(doc.text_lines, key_node.start_mark.line)))
            if key in result:
                raise YamlProblem(Problem(doc.file, key_node.start_mark.line + 1, f"duplicate key `{key}`; each key may appear once in a mapping"))
            result[key] = _build(value_node, path + (key,), doc, loader, budget)
            doc.lines[path + (key,)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (index,), doc, loader, budget) for index, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        doc.block_scalars.add(path)
    return loader.construct_object(node, deep=True)


def _split_by_comma(key_node: yaml.Node, value_node: yaml.Node, lines: list[str]) -> bool:
    """True for an entry of a `{ }` mapping that has no colon at all (`{action: Call, then email}`):
    inside braces a comma separates entries, so text with a comma was cut in two. An entry written
    with its colon and no value (`{default: }`) is left to the models to judge."""
    if not isinstance(key_node, yaml.ScalarNode) or not isinstance(value_node, yaml.ScalarNode) or value_node.value != "":
        return False
    end = key_node.end_mark  # line and column: libyaml's marks carry no buffer
    after_key = "".join(lines[end.line:end.line + 2])[end.column:].lstrip()
    return not after_key.startswith(":")


def _comma_message(previous: tuple[yaml.Node, yaml.Node], key_node: yaml.Node) -> str:
    previous_key, previous_value = previous
    if isinstance(previous_value, yaml.ScalarNode) and not previous_value.style:  # plain: None (PyYAML) or "" (libyaml)
        whole = f"{previous_value.value}, {key_node.value}"
        return (
            f"`{previous_key.value}: {whole}` inside `{{ }}` was read as two entries, because a comma separates entries "
            f"there; put the value in quotes: {previous_key.value}: {quoted(whole)}"
        )
    return f"`{key_node.value}` inside `{{ }}` has no `: value`; a comma separates entries there, so quote a value that contains a comma"
