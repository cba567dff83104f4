"""What feeds what in a project: sources → metrics → segmentations → prompts → tasks → output tables
(and the sentiment and search enrichments), from the loaded project's parsed expressions and
templates. Nothing is read from a target: the graph is the YAML's."""

from __future__ import annotations

from dataclasses import dataclass

from engine.compile.enrichments import task_name as sentiment_task_name
from engine.compile.prompts import compile_prompt
from engine.config.enrichments import sentiment_sources, sentiment_table
from engine.config.project import LoadedProject, spine_columns, spine_name
from engine.config.search import embeddings_table, search_task, search_texts
from engine.core.expressions import parse_expression

KINDS = ("source", "metric", "segmentation", "prompt", "task", "table")
AFTER = {"segmentation": ("metric",), "prompt": ("metric", "segmentation")}  # columns start right of these kinds


@dataclass(frozen=True)
class Node:
    id: str  # "<kind>:<name>"
    kind: str
    name: str


@dataclass(frozen=True)
class Lineage:
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]  # (from id, to id), each once

    def layers(self) -> list[list[Node]]:
        """Nodes by depth (longest path from a node nothing feeds), in declaration order within a
        depth: a derived metric lands right of the metrics it reads. Segmentations start right of
        every metric and prompts right of every segmentation, so the columns read as the pipeline."""
        feeds: dict[str, list[str]] = {}
        for source, target in self.edges:
            feeds.setdefault(target, []).append(source)
        by_kind: dict[str, list[str]] = {}
        for node in self.nodes:
            by_kind.setdefault(node.kind, []).append(node.id)
        kind_of = {node.id: node.kind for node in self.nodes}
        depth: dict[str, int] = {}

        def floor(kind: str) -> int:
            return 1 + max((depth_of(n) for earlier in AFTER.get(kind, ()) for n in by_kind.get(earlier, [])), default=-1)

        def depth_of(node: str) -> int:  # acyclic: validate refuses metric cycles, metrics never read segments
            if node not in depth:
                depth[node] = max(floor(kind_of[node]), 1 + max((depth_of(parent) for parent in feeds.get(node, [])), default=-1))
            return depth[node]

        layers: dict[int, list[Node]] = {}
        for node in self.nodes:
            layers.setdefault(depth_of(node.id), []).append(node)
        return [layers[index] for index in sorted(layers)]


def project_lineage(loaded: LoadedProject) -> Lineage:
    config = loaded.config
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str], None] = {}

    def node(kind: str, name: str) -> str:
        key = f"{kind}:{name}"
        nodes.setdefault(key, Node(key, kind, name))
        return key

    def edge(source: str, target: str) -> None:
        edges[(source, target)] = None

    derived = sentiment_sources(config)
    for name in config.sources:
        if name not in derived:
            node("source", name)
    for name, parent in derived.items():  # source → scoring task → score table, read as a source
        task = node("task", sentiment_task_name(loaded, name))
        edge(f"source:{parent}", task)
        edge(task, node("table", sentiment_table(config, parent)))
    metrics = {m.item.name.lower() for m in loaded.metrics}
    segmentations = {s.item.name.lower() for s in loaded.segmentations}
    customer_columns = set(spine_columns(loaded))
    spine = f"source:{spine_name(loaded)}"

    def reads(names, target: str) -> None:
        """Edges from what each name is: a metric, a segmentation, or a column of the customer list."""
        for name in names:
            if name in metrics:
                edge(f"metric:{name}", target)
            elif name in segmentations:
                edge(f"segmentation:{name}", target)
            elif name in customer_columns:
                edge(spine, target)

    for located in loaded.metrics:
        metric = located.item
        target = node("metric", metric.name.lower())
        if metric.source in derived:
            edge(f"table:{sentiment_table(config, derived[metric.source])}", target)
        elif metric.source:
            edge(f"source:{metric.source}", target)
            for joined in config.sources[metric.source].join:  # a lookup feeds every metric of the sources that join it
                edge(f"source:{joined}", target)
        else:
            reads(parse_expression(metric.expr).column_names, target)
    for located in loaded.segmentations:
        target = node("segmentation", located.item.name.lower())
        for rule in located.item.rules:
            reads(parse_expression(rule.when).column_names, target)
    for located in loaded.prompts:
        compiled = compile_prompt(loaded, located)
        prompt = node("prompt", located.item.name)
        reads(compiled.fields, prompt)
        task = node("task", compiled.task_name)
        edge(prompt, task)
        edge(task, node("table", compiled.output_table))
    if config.search is not None:
        task = node("task", search_task(config))
        prompts = {p.item.name.lower(): p for p in loaded.prompts}
        for text in search_texts(config.search):
            name = text.prompt or text.column
            if name in prompts:  # a prompt's reply or field: read from its output table
                edge(f"table:{compile_prompt(loaded, prompts[name]).output_table}", task)
            else:
                reads([name], task)
        edge(task, node("table", embeddings_table(config)))
    return Lineage(tuple(nodes.values()), tuple(edges))
