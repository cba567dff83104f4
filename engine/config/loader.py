"""Read a project directory into validated models; every problem comes back with file:line."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.config.enrichments import with_enrichment_sources
from engine.config.models import Metric, Project, Prompt, RulesFile, RuleTest, RuleTestsFile, Segmentation
from engine.config.project import Located, LoadedProject
from engine.config.semantics import check_project
from engine.config.shape_errors import MUST_BE, describe, located_text, must_be, shown_value, value_at, yaml_part
from engine.config.yaml_lines import LocatedDocument, YamlProblem, load_located
from engine.core import project_cache, text_facts
from engine.core.expressions import parse_expression
from engine.core.errors import ConfigErrors, Problem, RulectlError, did_you_mean

PROJECT_FILE = "rulectl.yml"
TESTS_DIR = "tests"
SECRET_LIKE_KEYS = frozenset({"password", "private_key", "private_key_file_pwd", "token", "api_key", "secret", "passphrase"})
ModelT = TypeVar("ModelT", bound=BaseModel)

__all__ = ["Located", "LoadedProject", "find_project", "load_project"]


def find_project(start: Path | None = None) -> Path:
    """The project directory: `start` itself when given (--project), else the nearest directory
    holding rulectl.yml from the current one upwards, the way git and dbt find theirs."""
    if start is not None:
        return start.resolve()
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    raise RulectlError(
        f"no {PROJECT_FILE} in {here} or any directory above it; run rulectl inside a project, "
        f"pass --project DIR, or create one with `rulectl init`"
    )


def load_project(root: Path) -> LoadedProject:
    """Load and validate the whole project at `root`; raise ConfigErrors listing every problem."""
    if not (root / PROJECT_FILE).is_file():
        # No line number: there is no file to point into.
        raise RulectlError(f"no {PROJECT_FILE} in {root}; pass --project with the directory that holds {PROJECT_FILE} (or create one with `rulectl init`)")
    problems: list[Problem] = []
    read: list[LocatedDocument] = []  # every file parsed, in order: the project cache's key
    project_doc = _read(root / PROJECT_FILE, root, problems, read)
    project = _validate(project_doc, Project, (), problems) if project_doc else None
    if project is not None:  # enrichments are sources too (`<source>_sentiment`), for metrics to read
        project = dataclasses.replace(project, item=with_enrichment_sources(project.item))
    metrics: list[Located[Metric]] = []
    segmentations: list[Located[Segmentation]] = []
    for rules_path in sorted((root / "rules").glob("*.y*ml")):
        doc = _read(rules_path, root, problems, read)
        rules = _validate(doc, RulesFile, (), problems) if doc else None
        if rules and doc:
            metrics += [Located(m, doc, ("metrics", i)) for i, m in enumerate(rules.item.metrics)]
            segmentations += [Located(s, doc, ("segmentations", i)) for i, s in enumerate(rules.item.segmentations)]
    prompts: list[Located[Prompt]] = []
    for prompt_path in sorted((root / "prompts").glob("*.y*ml")):
        doc = _read(prompt_path, root, problems, read)
        prompt = _validate(doc, Prompt, (), problems) if doc else None
        if prompt:
            prompts.append(prompt)
    rule_tests: list[Located[RuleTest]] = []
    # Only files directly in tests/: a project may keep other test code below it (this repository
    # keeps its own pytest suite there).
    for tests_path in sorted((root / TESTS_DIR).glob("*.y*ml")):
        doc = _read(tests_path, root, problems, read)
        tests_file = _validate(doc, RuleTestsFile, (), problems) if doc else None
        if tests_file and doc:
            rule_tests += [Located(t, doc, ("tests", i)) for i, t in enumerate(tests_file.item.tests)]
    if problems or project is None:
        raise ConfigErrors(problems)
    digest = project_cache.inputs_digest(((doc.file, doc.digest) for doc in read))
    loaded = LoadedProject(root, project, metrics, segmentations, prompts, rule_tests, inputs_digest=digest)
    text_facts.seed(root)
    warnings = _checked(loaded)
    return dataclasses.replace(loaded, warnings=tuple(warnings))


def _rule_facts(loaded: LoadedProject) -> dict[str, text_facts.TextFacts]:
    """Every rule's text and its facts (from the parse the checks made, or kept before)."""
    return {rule.when: parse_expression(rule.when).known_facts() for located in loaded.segmentations for rule in located.item.rules}


def _checked(loaded: LoadedProject) -> list[Problem]:
    """The semantic checks' warnings; ConfigErrors when they find errors. A project whose exact
    inputs passed them before (core/project_cache.py) is not checked again (~0.2 s at 1,000 metrics)."""
    remembered = project_cache.cached(loaded.root, loaded.inputs_digest, "checked")
    if isinstance(remembered, list):
        return [Problem(file, line, message) for file, line, message in remembered]
    errors, warnings = check_project(loaded)
    if errors:
        raise ConfigErrors(errors)
    project_cache.remember(loaded.root, loaded.inputs_digest, "checked", [[w.file, w.line, w.message] for w in warnings])
    text_facts.save(loaded.root, _rule_facts(loaded))  # the project passed its checks: each rule parses
    return warnings


def _read(path: Path, root: Path, problems: list[Problem], read: list[LocatedDocument]) -> LocatedDocument | None:
    display = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    refused = _not_a_project_file(path, root)
    if refused is not None:
        problems.append(Problem(display, 1, f"{display} {refused}"))
        return None
    try:
        doc = load_located(path, display)
    except YamlProblem as error:
        problems.append(error.problem)
        return None
    read.append(doc)
    return doc


def _not_a_project_file(path: Path, root: Path) -> str | None:
    """Why `path` cannot be read as a project file (None when it can): rulectl reads regular files
    inside the project only, so a symlink to a directory, a loop or a link out of the project is
    refused with a message instead of a traceback."""
    try:
        resolved = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        return "is a symbolic link that points at itself (a loop); replace it with the file"
    except OSError:
        if path.is_symlink():
            return "is a symbolic link whose target does not exist (or is a loop); replace it with the file"
        return "not found; run rulectl from the project directory or pass --project"
    if not resolved.is_file():
        return "is not a regular file (a directory?); rulectl reads YAML files here"
    if not resolved.is_relative_to(root.resolve()):
        return f"links outside the project ({resolved}); copy the file into the project instead"
    return None


def _validate(doc: LocatedDocument, model: type[ModelT], path: tuple[Any, ...], problems: list[Problem]) -> Located[ModelT] | None:
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__.replace("NoneType", "nothing").replace("str", "text").replace("list", "a list")
        problems.append(Problem(doc.file, 1, f"the top level must be a mapping of `key: value` lines, not {kind}"))
        return None
    try:
        return Located(model.model_validate(doc.data), doc, path)
    except ValidationError as error:
        problems += _problems_from_pydantic(doc, error.errors(), model)
        return None


def _problems_from_pydantic(doc: LocatedDocument, details: list[dict[str, Any]], model: type[BaseModel]) -> list[Problem]:
    """One problem per value: pydantic reports a `float | int` field's bad value once per union
    member (`default.float`, `default.int`); those become one message about `default`."""
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for detail in details:
        in_yaml, tried = yaml_part(doc.data, tuple(detail["loc"]))
        grouped.setdefault(in_yaml, []).append({**detail, "loc": in_yaml, "tried": tried})
    problems: list[Problem] = []
    for location, group in grouped.items():
        if len(group) > 1 and all(d["tried"] for d in group):
            problems.append(_wrong_type(doc, location, [d["type"] for d in group]) or _problem_from_pydantic(doc, group[0], model))
        else:
            problems += [_problem_from_pydantic(doc, detail, model) for detail in group]
    return problems


def _wrong_type(doc: LocatedDocument, location: tuple[Any, ...], error_types: list[str]) -> Problem | None:
    """`metric `a`: `default` must be a number (got `zero`)`, or None when the types are not ones
    shape_errors words."""
    expected = must_be(error_types)
    if expected is None:
        return None
    value = value_at(doc.data, location)
    return Problem(doc.file, doc.line_of(location), f"{located_text(doc.data, location)} must be {expected}, not {shown_value(value)}")


def _problem_from_pydantic(doc: LocatedDocument, detail: dict[str, Any], model: type[BaseModel]) -> Problem:
    location = tuple(detail["loc"])
    line = doc.line_of(location)
    kind = detail["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, location[:-1], doc)
        key = str(location[-1])
        hint = did_you_mean(key, allowed)
        if key.lower() in SECRET_LIKE_KEYS:
            hint = "; secrets never go in rulectl.yml: put them in ~/.snowflake/connections.toml (or the environment) and name the connection with `connection:`"
        where, field = describe(doc.data, location[:-1])
        inside = ", ".join(part for part in (where, field) if part) or "the top level"
        return Problem(doc.file, line, f"unknown key `{key}` in {inside}{hint}")
    where = located_text(doc.data, location)
    if kind == "missing":
        return Problem(doc.file, line, f"{where} is required but missing")
    wrong_type = _wrong_type(doc, location, [kind]) if location and kind in MUST_BE else None
    if wrong_type is not None:
        return wrong_type
    message = detail["msg"].removeprefix("Value error, ")
    value = detail.get("input")
    if message.startswith("Input should be ") and isinstance(value, (str, int, float)):
        return Problem(doc.file, line, f"{where} must be {message.removeprefix('Input should be ')}, not {shown_value(value)}")
    shown = f" (got {value!r})" if isinstance(value, (str, int, float, bool)) and kind != "value_error" else ""
    return Problem(doc.file, line, f"{where}: {message}{shown}")


def _allowed_keys(model: type[BaseModel], location: tuple[Any, ...], doc: LocatedDocument) -> list[str]:
    """Field names of the model found by walking `location` through the model's annotations."""
    current: Any = model
    for part in location:
        if isinstance(part, int):
            continue
        field_info = getattr(current, "model_fields", {}).get(part)
        if field_info is None:
            continue  # a key of a dict[str, Model] field, e.g. sources.<name>
        current = _inner_model(field_info.annotation)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
