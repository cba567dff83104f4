"""Rules that read another segmentation's label (`plays` excluding customers `risk` calls `Churn
risk`): which segmentations a segmentation reads, the order that puts each after the ones it reads,
and the checks — no cycle, only `match: first` segmentations (one label, not a list) are read, and
every label compared is one the read segmentation declares.

A referenced label means exactly what its segmentation computes: compile, lint's solver and plan's
impact all inline the referenced segmentation's label (compile/segments.py `label_definitions`), so
there is one definition and no layer can disagree with another."""

from __future__ import annotations

from sqlglot import exp

from engine.config.models import Segmentation
from engine.config.project import Located, LoadedProject
from engine.core.errors import Problem, did_you_mean, listed
from engine.core.expressions import ExpressionError, parse_expression


def declared_labels(segmentation: Segmentation) -> list[str]:
    """The labels a segmentation can give, as written (rules, then the default)."""
    return [rule.segment for rule in segmentation.rules] + ([segmentation.default] if segmentation.default is not None else [])


def rule_reads(segmentation: Segmentation, names: set[str]) -> list[tuple[int, str]]:
    """(rule index, segmentation name) for each segmentation among `names` a rule reads (its own
    name included: validation refuses that)."""
    reads: list[tuple[int, str]] = []
    for index, rule in enumerate(segmentation.rules):
        try:
            used = parse_expression(rule.when).column_names
        except ExpressionError:
            continue  # reported by the expression checks
        reads += [(index, name) for name in used if name in names]
    return reads


def reads_of(loaded: LoadedProject) -> dict[str, list[str]]:
    """Segmentation → the segmentations its rules read (lowercased names, first read first)."""
    names = {located.item.name.lower() for located in loaded.segmentations}
    return {
        located.item.name.lower(): list(dict.fromkeys(name for _, name in rule_reads(located.item, names)))
        for located in loaded.segmentations
    }


def dependency_order(loaded: LoadedProject) -> list[Located[Segmentation]]:
    """The segmentations with each after the ones it reads (declaration order otherwise); a cycle
    (refused by validation) keeps declaration order for its members."""
    reads = reads_of(loaded)
    by_name = {located.item.name.lower(): located for located in loaded.segmentations}
    ordered: dict[str, Located[Segmentation]] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting or name not in by_name:
            return
        visiting.add(name)
        for read in reads[name]:
            visit(read)
        visiting.discard(name)
        ordered[name] = by_name[name]

    for name in by_name:
        visit(name)
    return list(ordered.values())


def check_references(loaded: LoadedProject) -> list[Problem]:
    """Problems of rules that read other segmentations: cycles, lists, labels that do not exist."""
    by_name = {located.item.name.lower(): located for located in loaded.segmentations}
    problems: list[Problem] = []
    for located in loaded.segmentations:
        for index, name in rule_reads(located.item, set(by_name)):
            read = by_name[name].item
            if name == located.item.name.lower():
                problems.append(located.problem(
                    f"`when`: a rule of `{located.item.name}` reads `{name}`, its own label, which that rule decides; compare metrics or another segmentation's label instead",
                    "rules", index, "when"))
            elif read.match == "all":
                problems.append(located.problem(
                    f"`when`: `{read.name}` is a `match: all` segmentation (a list of labels per customer), and a rule can compare only a `match: first` segmentation's one label; "
                    f"repeat the condition of the label you mean instead, or make `{read.name}` `match: first`",
                    "rules", index, "when"))
            else:
                problems += _unknown_labels(located, index, read)
    return problems + _cycles(loaded)


def _unknown_labels(located: Located[Segmentation], index: int, read: Segmentation) -> list[Problem]:
    labels = declared_labels(read)
    when = parse_expression(located.item.rules[index].when)
    return [
        located.problem(
            f"`when`: '{text}' is not a label of `{read.name}`{listed(labels, 'labels')}, so this comparison never holds{did_you_mean(text, labels)}",
            "rules", index, "when")
        for name, text in compared_texts(when.tree)
        if name == read.name.lower() and text not in labels
    ]


def _cycles(loaded: LoadedProject) -> list[Problem]:
    """One problem per cycle of segmentations reading each other, at the rule that closes it."""
    reads = reads_of(loaded)
    by_name = {located.item.name.lower(): located for located in loaded.segmentations}
    problems: list[Problem] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            cycle = trail[trail.index(name):] + [name]
            if len(cycle) > 2:  # a segmentation reading itself is reported on its own
                steps = ", ".join(f"`{a}` reads `{b}`" for a, b in zip(cycle, cycle[1:]))
                closing = by_name[cycle[-2]]
                index = next(i for i, read in rule_reads(closing.item, {cycle[-1]}))
                problems.append(closing.problem(
                    f"`when`: segmentations read each other's labels in a cycle ({steps}), so none of them can be decided first; "
                    f"compare metrics in one of these rules instead of the label",
                    "rules", index, "when"))
            return
        state[name] = "active"
        for read in reads[name]:
            if read != name:
                visit(read, trail + [name])
        state[name] = "done"

    for name in reads:
        visit(name, [])
    return problems


def compared_texts(tree: exp.Expression) -> list[tuple[str, str]]:
    """(column, text) for each `column = 'text'`, `<>`, and `column IN ('a', 'b')` in an expression."""
    pairs: list[tuple[str, str]] = []
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.In):
        sides = [node.this, *node.expressions] if isinstance(node, exp.In) else [node.this, node.expression]
        columns = [side.name.lower() for side in sides if isinstance(side, exp.Column)]
        texts = [side.this for side in sides if isinstance(side, exp.Literal) and side.is_string]
        if len(columns) == 1:
            pairs += [(columns[0], text) for text in texts]
    return pairs


def label_meanings(loaded: LoadedProject, when: str) -> list[str]:
    """What each label a rule compares means (`value_band` is 'Platinum' only when …), for messages
    about a rule that can never match because of a label it reads."""
    by_name = {located.item.name.lower(): located.item for located in loaded.segmentations}
    meanings: list[str] = []
    try:
        tree = parse_expression(when).tree
    except ExpressionError:
        return meanings
    for name, text in dict.fromkeys(compared_texts(tree)):
        read = by_name.get(name)
        if read is None or read.match != "first":
            continue
        index = next((i for i, rule in enumerate(read.rules) if rule.segment == text), None)
        if index is not None:
            earlier = " and no earlier rule of it matches" if index else ""
            meanings.append(f"`{read.name}` is '{text}' only when {read.rules[index].when}{earlier}")
        elif text == read.default:
            meanings.append(f"`{read.name}` is '{text}' only when none of its rules match")
    return meanings
