"""Checks that need the whole project: names resolve, expressions fit their grain, no cycles,
prompt placeholders are columns of their input, schedules parse. Each returns Problems."""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.config.enrichments import is_derived, sentiment_source_name, sentiment_sources, sentiment_table
from engine.config.schedules import check_schedule
from engine.config.source_keys import scope_columns
from engine.config.source_semantics import check_source_keys
from engine.config.segment_references import check_references, compared_texts as _compared_texts
from engine.config.project import INPUT_VIEWS, INSIGHTS_VIEW, LATEST_VIEW_PREFIX, entity_key, Located, LoadedProject, input_view_columns, spine_columns, spine_name
from engine.config.models import Metric, Prompt, Segmentation
from engine.config.refresh_inputs import check_refresh, clock_readers, clock_warnings, placeholder_fields
from engine.config.type_checks import TypeReport, metric_type_report, type_check
from engine.config.window_nulls import window_null_warnings
from engine.config.value_types import type_words, value_problem
from engine.core.aggregate_order import order_dependence
from engine.core.expressions import ExpressionError, ParsedExpression, parse_expression
from engine.core import project_cache
from engine.core.errors import Problem, did_you_mean, listed

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_project(loaded: LoadedProject) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings): errors stop the command; warnings (the project works, but may fail on
    some data) are printed by validate and plan. Expressions are typed once for both."""
    problems: list[Problem] = []
    problems += _check_sources(loaded)
    metric_problems, metric_types, window_warnings = _metric_checks(loaded)
    problems += metric_problems
    problems += _check_segmentations(loaded)
    problems += _check_prompts(loaded)
    problems += _check_display(loaded)
    problems += _check_search(loaded)
    problems += _check_rule_tests(loaded)
    types = type_check(loaded, metric_types)
    warnings = types.warnings + [w for located in loaded.prompts for w in _reply_budget(located) + _model_warnings(located)]
    warnings += _refresh_warnings(loaded, types.metric_types)
    warnings += window_warnings
    return problems + types.errors, warnings  # an unknown name is typed `unknown`, never a second error


def _metric_checks(loaded: LoadedProject) -> tuple[list[Problem], TypeReport, list[Problem]]:
    """The metrics' own problems, their types with the type errors and warnings of their
    expressions, and the window scores' NULL warnings (config/window_nulls.py). All read the
    project's settings and its metrics only, so where rulectl.yml and
    every file holding a metric are the bytes that passed them before (core/project_cache.py: with
    the same rulectl), they come from the project cache: a rule edit at 1,000 metrics then parses
    and types its rules, not every metric (~0.15 s). The files' bytes, not the metrics' values, are
    the key: a warning's line moves with any edit of its file. Kept only when they found no error."""
    key = _metric_inputs_digest(loaded)
    kept = project_cache.cached(loaded.root, key, "metric-checks")
    if isinstance(kept, dict) and isinstance(kept.get("types"), dict) and isinstance(kept.get("warnings"), list) and isinstance(kept.get("window_warnings"), list):
        project_cache.remember(loaded.root, key, "metric-checks", kept)  # the newest entry again: edit after edit keeps it
        report = TypeReport(warnings=[Problem(file, line, message) for file, line, message in kept["warnings"]], metric_types=kept["types"])
        return [], report, [Problem(file, line, message) for file, line, message in kept["window_warnings"]]
    problems = _check_metrics(loaded)
    report = metric_type_report(loaded)
    window_warnings = window_null_warnings(loaded)
    if not problems and not report.errors:
        warnings = [[w.file, w.line, w.message] for w in report.warnings]
        windows = [[w.file, w.line, w.message] for w in window_warnings]
        project_cache.remember(loaded.root, key, "metric-checks", {"warnings": warnings, "types": report.metric_types, "window_warnings": windows})
    return problems, report, window_warnings


def _metric_inputs_digest(loaded: LoadedProject) -> str | None:
    """The key of what the metric checks read: rulectl.yml and the files that hold metrics."""
    if loaded.inputs_digest is None:  # a project not read from files is never cached
        return None
    documents = {loaded.project.doc.file: loaded.project.doc.digest}
    documents.update((located.doc.file, located.doc.digest) for located in loaded.metrics)
    return project_cache.inputs_digest([("metric checks", ""), *documents.items()])


def _refresh_warnings(loaded: LoadedProject, metric_types: dict[str, str]) -> list[Problem]:
    """A warning for each input hash that a date-relative metric changes every day (refresh_inputs)."""
    prompts = [located for located in loaded.prompts if located.item.input.lower() in INPUT_VIEWS]
    readers = clock_readers(loaded, metric_types) if prompts else {}  # without prompts nothing is hashed
    if not readers:
        return []
    warnings = []
    for located in prompts:
        fields = placeholder_fields(located.item, PLACEHOLDER)
        warnings += clock_warnings(located, fields, readers, lambda name, located=located: _placeholder_line(located, name))
    return warnings


def _placeholder_line(located: Located[Prompt], name: str) -> tuple[str, int]:
    """file:line of the first `{name}` in the prompt's template, system text or variant templates."""
    prompt = located.item
    texts = [(("template",), prompt.template), (("system",), prompt.system or "")]
    texts += [(("experiment", "variants", i, "template"), v.template or "") for i, v in enumerate(prompt.experiment.variants if prompt.experiment else [])]
    for path, text in texts:
        for match in PLACEHOLDER.finditer(text):
            if match.group(1).strip().lower() == name:
                file, line = located.at(*path)
                if located.path + path in located.doc.block_scalars:  # `template: |` — text starts a line below
                    line += 1 + text.count("\n", 0, match.start())
                return file, line
    return located.at("template")


def _model_warnings(located: Located[Prompt]) -> list[Problem]:
    """A warning naming the replacement when the prompt's model is retired or legacy on Cortex
    (config/cortex.py): a retired model's calls fail, so every refresh would enrich nothing."""
    from engine.config.cortex import model_warning

    warning = model_warning(located.item.model)
    return [located.problem(warning, "model")] if warning else []


CHARS_PER_TOKEN = 4  # as the cost estimate counts English text
FIELD_OVERHEAD_TOKENS = 8  # the field's name, quotes and punctuation in the JSON reply


def _reply_budget(located: Located[Prompt]) -> list[Problem]:
    """A warning when `max_tokens` cannot hold a reply whose text fields use their `max_length`: the
    model stops mid-JSON, the reply fails the schema, is not stored, and the row is paid for again
    at every run."""
    prompt = located.item
    if not prompt.outputs or prompt.options.max_tokens is None:
        return []
    longest = {name: field.max_length for name, field in prompt.outputs.items() if field.type == "text" and field.max_length}
    needed = sum(-(-length // CHARS_PER_TOKEN) for length in longest.values()) + FIELD_OVERHEAD_TOKENS * len(prompt.outputs)
    if prompt.options.max_tokens >= needed:
        return []
    biggest = max(longest, key=longest.get) if longest else None
    detail = f" ({biggest} alone may be {longest[biggest]:,} characters ≈ {-(-longest[biggest] // CHARS_PER_TOKEN):,} tokens)" if biggest else ""
    return [located.problem(
        f"`max_tokens` {prompt.options.max_tokens} is less than a full reply needs, about {needed:,} tokens{detail}: a reply cut short fails the "
        f"outputs schema, is not stored, and is paid for again at every run; raise max_tokens to at least {needed:,} or lower `max_length`",
        "options", "max_tokens",
    )]


def _check_sources(loaded: LoadedProject) -> list[Problem]:
    from sqlglot import exp
    from sqlglot.errors import ParseError

    problems: list[Problem] = []
    project = loaded.project
    entity = loaded.config.entity
    if entity is not None and (entity not in loaded.config.sources or not loaded.config.sources[entity].key):
        keyed = [n for n, s in loaded.config.sources.items() if s.key]
        problems.append(project.problem(f"entity `{entity}` must be a source with `key:` ({', '.join(keyed)}){did_you_mean(entity, keyed)}", "entity"))
    if loaded.config.default_target not in loaded.config.targets:
        targets = loaded.config.targets
        problems.append(project.problem(f"default_target `{loaded.config.default_target}` is not one of the targets ({', '.join(targets)}){did_you_mean(loaded.config.default_target, targets)}", "default_target"))
    derived = sentiment_sources(loaded.config)
    problems += _check_enrichments(loaded, derived)
    for name, source in loaded.config.sources.items():
        if is_derived(loaded.config, name):
            continue  # made by rulectl from its parent source, which is checked itself
        for column, type_text in source.columns.items():
            try:
                exp.DataType.build(type_text, dialect="snowflake")
            except (ParseError, ValueError, TypeError):
                problems.append(project.problem(f"column `{column}` has type `{type_text}`, which is not a Snowflake type (e.g. varchar, integer, number(12,2), date)", "sources", name, "columns", column))
        problems += _check_ranges(loaded, name)
    return problems + check_source_keys(loaded)


def _check_ranges(loaded: LoadedProject, name: str) -> list[Problem]:
    """`ranges:` names numeric columns of the source (the solver bounds numbers only)."""
    from engine.config.expression_types import NUMBER, declared_category

    source = loaded.config.sources[name]
    problems = []
    for column in source.ranges:
        where = ("sources", name, "ranges", column)
        if column not in source.columns:
            problems.append(loaded.project.problem(f"`ranges`: `{column}` is not a column of source `{name}`{did_you_mean(column, list(source.columns))}", *where))
        elif declared_category(source.columns[column]) != NUMBER:
            problems.append(loaded.project.problem(f"`ranges`: column `{column}` is {source.columns[column]}; a range bounds a number column", *where))
    return problems


def _parse(located: Located, field: str, text: str, problems: list[Problem]) -> ParsedExpression | None:
    try:
        return parse_expression(text)
    except ExpressionError as error:
        problems.append(located.problem(f"`{field}`: {error}", field))
        return None


def _check_enrichments(loaded: LoadedProject, derived: dict[str, str]) -> list[Problem]:
    """`enrich: {sentiment: {text: …}}`: a text column of the source, a valid schedule, a free name."""
    from sqlglot import exp

    problems: list[Problem] = []
    project = loaded.project
    for name in derived.values():
        source = loaded.config.sources[name]
        sentiment = source.enrich.sentiment
        where = ("sources", name, "enrich", "sentiment")
        if sentiment.text not in source.columns:
            problems.append(project.problem(f"`text`: `{sentiment.text}` is not a column of source `{name}`{did_you_mean(sentiment.text, list(source.columns))}; name the column that holds the text to score", *where, "text"))
        else:
            try:
                declared = exp.DataType.build(source.columns[sentiment.text], dialect="snowflake")
            except Exception:
                declared = None  # an unknown type is reported with the columns
            if declared is not None and not declared.is_type(*exp.DataType.TEXT_TYPES):
                problems.append(project.problem(f"`text`: column `{sentiment.text}` is {source.columns[sentiment.text]}, not text; sentiment scores a varchar column", *where, "text"))
        schedule_error = check_schedule(sentiment.schedule)
        if schedule_error:
            problems.append(project.problem(f"`schedule`: {schedule_error}", *where, "schedule"))
        taken = loaded.config.sources.get(sentiment_source_name(name))
        if taken is not None and taken.table != sentiment_table(loaded.config, name):
            problems.append(project.problem(f"source `{sentiment_source_name(name)}` already exists, but rulectl names the sentiment of `{name}` so; rename that source", *where))
    return problems


def _check_metrics(loaded: LoadedProject) -> list[Problem]:
    problems: list[Problem] = []
    sources = loaded.config.sources
    spine_cols = spine_columns(loaded)
    metric_names = [m.item.name.lower() for m in loaded.metrics]
    seen: dict[str, Located[Metric]] = {}
    derived_refs: dict[str, list[str]] = {}
    for located in loaded.metrics:
        metric = located.item
        name = metric.name.lower()
        if name in seen:
            first_file, first_line = seen[name].at()
            problems.append(located.problem(f"metric `{metric.name}` is defined twice (first at {first_file}:{first_line}); rename one", "name"))
            continue
        seen[name] = located
        if name in spine_cols:
            problems.append(located.problem(f"metric `{metric.name}` has the same name as a column of `{spine_name(loaded)}`; rename the metric", "name"))
        expr = _parse(located, "expr", metric.expr, problems)
        row_filter = _parse(located, "filter", metric.filter, problems) if metric.filter is not None else None
        if metric.source is None:
            if metric.filter is not None:
                problems.append(located.problem("`filter` needs a `source`; a derived metric combines other metrics", "filter"))
            if expr:
                derived_refs[name] = _check_derived(located, expr, metric_names, spine_cols, problems)
            continue
        if metric.source not in sources:
            problems.append(located.problem(f"unknown source `{metric.source}`{did_you_mean(metric.source, sources)}{listed(sources, 'sources')}", "source"))
            continue
        if sources[metric.source].lookup is not None:
            problems.append(located.problem(
                f"`{metric.source}` is a lookup (it has no customers); aggregate the source that joins it "
                f"(`join: {{{metric.source}: <its column that holds the {sources[metric.source].lookup.key}>}}`), whose rows then have the lookup's columns", "source"))
            continue
        columns = [c.lower() for c in scope_columns(loaded.config, metric.source)]
        for parsed, field in ((expr, "expr"), (row_filter, "filter")):
            if parsed:
                problems += _unknown_names(located, field, parsed.column_names, columns, f"a column of source `{metric.source}`")
                problems += _window_outside_derived(located, parsed, (field,))
        if expr:
            problems += _check_grain(located, expr, sources[metric.source].key is not None)
        if metric.filter is not None and metric.source == spine_name(loaded):
            problems.append(located.problem(f"`filter` drops rows before aggregating, but `{metric.source}` lists every customer once; write the condition into `expr` instead, e.g. IFF(condition, value, NULL)", "filter"))
        if row_filter and row_filter.has_aggregate:
            problems.append(located.problem("`filter` is applied to each row before aggregating; it cannot contain an aggregate", "filter"))
    problems += _check_cycles(derived_refs, seen)
    return problems


def _check_derived(located: Located[Metric], expr: ParsedExpression, metric_names: list[str], spine_cols: list[str], problems: list[Problem]) -> list[str]:
    if expr.has_aggregate:
        problems.append(located.problem("a derived metric (no `source`) combines other metrics and cannot contain an aggregate; give it a `source:` to aggregate rows", "expr"))
    problems += _unknown_names(located, "expr", expr.column_names, metric_names + spine_cols, "a metric or customer column")
    return [name for name in expr.column_names if name in metric_names]


def _window_outside_derived(located: Located, parsed: ParsedExpression, path: tuple) -> list[Problem]:
    """Window scores rank customers against each other, so they belong to derived metrics (one row
    per customer, after every source is aggregated), not to a source's rows, a filter or a rule."""
    if not parsed.has_window:
        return []
    return [located.problem(f"`{path[-1]}`: a window function (OVER …) scores customers against each other; define it as a metric without `source:`, "
                            "e.g. `expr: NTILE(5) OVER (ORDER BY <metric>)`, and use that metric here", *path)]


def _check_grain(located: Located[Metric], expr: ParsedExpression, key_grain: bool) -> list[Problem]:
    source = located.item.source
    if key_grain:
        if expr.has_aggregate:
            return [located.problem(f"source `{source}` has one row per customer, so `expr` must not aggregate; write a row-level expression", "expr")]
        return []
    if not expr.has_aggregate:
        return [located.problem(f"source `{source}` has several rows per customer; wrap the expression in an aggregate such as SUM(...), MIN(...) or COUNT(DISTINCT ...)", "expr")]
    if expr.nested_aggregates():
        return [located.problem("aggregates cannot be nested (e.g. SUM(MAX(x)))", "expr")]
    bare = expr.columns_outside_aggregates()
    if bare:
        return [located.problem(f"column `{bare[0]}` is outside any aggregate; source `{source}` has several rows per customer, so aggregate it too", "expr")]
    unstable = order_dependence(expr.tree)
    if unstable:
        return [located.problem(unstable, "expr")]
    return []


def _unknown_names(located: Located, field: str, used: Sequence[str], known: list[str], what: str) -> list[Problem]:
    return [
        located.problem(f"`{field}`: `{name}` is not {what}{did_you_mean(name, known)}", field)
        for name in used
        if name not in known
    ]


def _check_cycles(derived_refs: dict[str, list[str]], seen: dict[str, Located[Metric]]) -> list[Problem]:
    problems: list[Problem] = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done" or name not in derived_refs:
            return
        if state.get(name) == "active":
            cycle = trail[trail.index(name):] + [name]
            problems.append(seen[name].problem(f"metrics refer to each other in a cycle: {' → '.join(cycle)}; break the cycle", "expr"))
            return
        state[name] = "active"
        for ref in derived_refs[name]:
            visit(ref, trail + [name])
        state[name] = "done"

    for name in derived_refs:
        visit(name, [])
    return problems


def _check_segmentations(loaded: LoadedProject) -> list[Problem]:
    problems: list[Problem] = []
    known = spine_columns(loaded) + [m.item.name.lower() for m in loaded.metrics]
    seen: dict[str, Located[Segmentation]] = {}
    segmentations = {located.item.name.lower(): located.item for located in loaded.segmentations}
    for located in loaded.segmentations:
        seg = located.item
        name = seg.name.lower()
        if name in seen or name in known:
            problems.append(located.problem(f"segmentation `{seg.name}` reuses a name already taken by a {'segmentation' if name in seen else 'metric or column'}; rename it", "name"))
        seen[name] = located
        labels: set[str] = set()
        for index, rule in enumerate(seg.rules):
            if rule.segment in labels:
                problems.append(located.problem(f"segment `{rule.segment}` appears twice in `{seg.name}`", "rules", index, "segment"))
            problems += _check_overlaps(located, index, labels)
            labels.add(rule.segment)
            try:
                when = parse_expression(rule.when)
            except ExpressionError as error:
                problems.append(located.problem(f"`when`: {error}", "rules", index, "when"))
                continue
            if when.has_aggregate:
                problems.append(located.problem("`when` compares metrics per customer; it cannot contain an aggregate (define a metric instead)", "rules", index, "when"))
            problems += _window_outside_derived(located, when, ("rules", index, "when"))
            for used in when.column_names:
                if used not in known and used not in segmentations:  # another segmentation's label: segment_references
                    problems.append(located.problem(f"`when`: `{used}` is not a metric, customer column or segmentation{did_you_mean(used, known + list(segmentations))}", "rules", index, "when"))
    return problems + check_references(loaded)


def _check_overlaps(located: Located[Segmentation], index: int, earlier: set[str]) -> list[Problem]:
    """`overlaps:` names earlier rules of the same first-match segmentation (the ones that win)."""
    seg, rule = located.item, located.item.rules[index]
    if rule.overlaps and seg.match != "first":
        return [located.problem("`overlaps:` applies to `match: first` (with `match: all` a customer gets every label that matches)", "rules", index, "overlaps")]
    return [
        located.problem(f"`overlaps`: `{label}` is not an earlier rule of `{seg.name}` (list the earlier rules that take the shared customers){did_you_mean(label, earlier)}", "rules", index, "overlaps")
        for label in rule.overlaps
        if label not in earlier
    ]


def _check_prompts(loaded: LoadedProject) -> list[Problem]:
    problems: list[Problem] = []
    names: set[str] = set()
    field_types: dict[str, dict[str, tuple[str, str]]] = {}  # output table → field → (type, prompt)
    latest_views = {f"{LATEST_VIEW_PREFIX}{located.item.name}".upper() for located in loaded.prompts}
    for located in loaded.prompts:
        prompt = located.item
        if prompt.name.lower() in names:
            problems.append(located.problem(f"prompt name `{prompt.name}` is used by another prompt file", "name"))
        if prompt.output.upper() == INSIGHTS_VIEW:
            problems.append(located.problem(f"`output`: {INSIGHTS_VIEW} is the wide insights view rulectl builds; name the table something else (e.g. ACCOUNT_INSIGHTS)", "output"))
        if prompt.output.upper() in latest_views:
            problems.append(located.problem(f"`output`: {prompt.output.upper()} is the view rulectl builds for a prompt's latest output; name the table something else (e.g. {prompt.output.upper()[len(LATEST_VIEW_PREFIX):]}_OUTPUT)", "output"))
        names.add(prompt.name.lower())
        problems += _check_outputs(located, field_types.setdefault(prompt.output.upper(), {}))
        if prompt.input.lower() not in INPUT_VIEWS:
            problems.append(located.problem(f"`input` must be a view rulectl builds: {' or '.join(INPUT_VIEWS)}{did_you_mean(prompt.input, INPUT_VIEWS)}", "input"))
            continue
        columns = input_view_columns(loaded, prompt.input.lower())
        if prompt.key.lower() != entity_key(loaded):
            problems.append(located.problem(
                f"`key`: AI output is kept per customer, so the key is `{entity_key(loaded)}` (the key of the `{spine_name(loaded)}` source), not `{prompt.key}`", "key"))
        problems += _check_placeholders(located, ("template",), prompt.template, columns)
        problems += check_refresh(located, columns, placeholder_fields(prompt, PLACEHOLDER))
        if prompt.system:
            problems += _check_placeholders(located, ("system",), prompt.system, columns)
        seen_variants: set[str] = set()
        for index, variant in enumerate(prompt.experiment.variants if prompt.experiment else []):
            if variant.name.lower() in seen_variants:
                problems.append(located.problem(f"variant name `{variant.name}` is used twice; give each variant its own name", "experiment", "variants", index, "name"))
            seen_variants.add(variant.name.lower())
            if variant.template:
                problems += _check_placeholders(located, ("experiment", "variants", index, "template"), variant.template, columns)
        if prompt.experiment and prompt.experiment.outcome:
            problems += _check_outcome(located, columns)
        problems += _check_budget(loaded, located)
        schedule_error = check_schedule(prompt.refresh.schedule)
        if schedule_error:
            problems.append(located.problem(f"`schedule`: {schedule_error}", "refresh", "schedule"))
    return problems


def _check_budget(loaded: LoadedProject, located: Located[Prompt]) -> list[Problem]:
    """A budget below one reply's output ceiling lets no row through, ever: every run would enrich
    nothing and say so only as "0 pending"."""
    from engine.config.pricing import DEFAULT_OUTPUT_TOKENS, model_price

    prompt = located.item
    budget = prompt.refresh.max_credits
    if budget is None:
        return []
    max_tokens = prompt.options.max_tokens or DEFAULT_OUTPUT_TOKENS
    price = model_price(loaded.config, prompt.model)
    one_reply = max_tokens * price / 1_000_000
    if budget >= one_reply:
        return []
    return [located.problem(
        f"`max_credits` {budget:g} is less than one reply may cost ({max_tokens:,} max_tokens at {price:g} credits per million tokens on "
        f"{prompt.model} = {one_reply:.6g} credits), so no row would ever be enriched; raise it or lower `options.max_tokens`",
        "refresh", "max_credits",
    )]


def _check_placeholders(located: Located[Prompt], path: tuple, template: str, columns: list[str]) -> list[Problem]:
    problems = []

    def at(offset: int) -> tuple[str, int]:
        file, line = located.at(*path)
        if located.path + path in located.doc.block_scalars:  # `template: |` — text starts a line below
            line += 1 + template.count("\n", 0, offset)
        return file, line

    for match in PLACEHOLDER.finditer(template):
        name = match.group(1).strip().lower()
        if name not in columns:
            problems.append(Problem(*at(match.start()), f"placeholder `{{{match.group(1)}}}` is not a column of {located.item.input}{did_you_mean(name, columns)}"))
    problems += [Problem(*at(offset), message) for offset, message in _broken_braces(template, located.item.input)]
    return problems


def _broken_braces(template: str, input_view: str) -> list[tuple[int, str]]:
    """A `{` never closed (`{arr.`) or a `}` never opened: the model would get the brace as text,
    not the value, and the prompt would be deployed broken. Braces only ever name a column."""
    inside = [False] * len(template)
    for match in PLACEHOLDER.finditer(template):
        inside[match.start():match.end()] = [True] * (match.end() - match.start())
    found = []
    for offset, char in enumerate(template):
        if char not in "{}" or inside[offset]:
            continue
        # the word around the brace, as the analyst wrote it
        shown = re.match(r"\{\S{0,40}", template[offset:]).group() if char == "{" else re.search(r"\S{0,40}\}$", template[:offset + 1]).group()
        if char == "{":
            found.append((offset, f"`{shown}` opens a placeholder that is never closed; write `{{column}}` with a closing `}}` on the same line (braces in a template always name a column of {input_view})"))
        else:
            found.append((offset, f"`{shown}` closes a placeholder that was never opened; write `{{column}}` (braces in a template always name a column of {input_view})"))
    return found


def _check_display(loaded: LoadedProject) -> list[Problem]:
    """`display:` names real things: a column of the entity source (or a metric), a metric, view columns."""
    display = loaded.config.display
    problems: list[Problem] = []
    metrics = [m.item.name.lower() for m in loaded.metrics]
    at = lambda message, *path: loaded.project.problem(message, "display", *path)  # noqa: E731
    if display.name is not None:
        names = spine_columns(loaded) + metrics
        if display.name.lower() not in names:
            problems.append(at(f"`name`: `{display.name}` is not a column of the `{spine_name(loaded)}` source or a metric{did_you_mean(display.name, names)}", "name"))
    if display.size is not None and display.size.metric.lower() not in metrics:
        problems.append(at(f"`size.metric`: `{display.size.metric}` is not a metric{did_you_mean(display.size.metric, metrics)}{listed(metrics, 'metrics') if metrics else ' (the project has no metrics)'}", "size", "metric"))
    shown = input_view_columns(loaded, "customer_segments")
    for index, column in enumerate(display.columns):
        if column.lower() not in shown:
            problems.append(at(f"`columns`: `{column}` is not a customer column, metric or segmentation{did_you_mean(column, shown)}", "columns", index))
    return problems


def _check_search(loaded: LoadedProject) -> list[Problem]:
    """`search:` embeds things that exist (prompt fields, replies, customer columns, metrics) with a
    768-dimension Cortex AI_EMBED model, on a schedule that parses."""
    from engine.config.search import CORTEX_768_MODELS, search_texts, with_prompt_replies

    search = loaded.config.search
    if search is None:
        return []
    at = lambda message, *path: loaded.project.problem(message, "search", *path)  # noqa: E731
    prompts = {p.item.name.lower(): p.item for p in loaded.prompts}
    columns = input_view_columns(loaded, "customer_segments")
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, text in enumerate(with_prompt_replies(search_texts(search), set(prompts))):
        if text.label in seen:
            problems.append(at(f"`text`: `{text.label}` is listed twice; list each part once", "text", index))
        seen.add(text.label)
        if text.prompt is None:
            if text.column not in columns:
                problems.append(at(f"`text`: `{text.label}` is not a prompt, a customer column or a metric{did_you_mean(text.column, list(prompts) + columns)}", "text", index))
        elif text.prompt not in prompts:
            problems.append(at(f"`text`: `{text.prompt}` in `{text.label}` is not a prompt{did_you_mean(text.prompt, list(prompts))} (write `<prompt>.<field>`)", "text", index))
        else:
            fields = [name.lower() for name in prompts[text.prompt].outputs or {}] + ["response"]
            if text.column not in fields:
                problems.append(at(f"`text`: `{text.column}` is not an output field of prompt `{text.prompt}`{did_you_mean(text.column, fields)}{listed(fields, 'fields')}", "text", index))
    if search.model not in CORTEX_768_MODELS:
        problems.append(at(f"`model`: `{search.model}` is not a 768-dimension Cortex AI_EMBED model{did_you_mean(search.model, list(CORTEX_768_MODELS))} (models: {', '.join(CORTEX_768_MODELS)})", "model"))
    schedule_error = check_schedule(search.schedule)
    if schedule_error:
        problems.append(at(f"`schedule`: {schedule_error}", "schedule"))
    return problems


def _check_rule_tests(loaded: LoadedProject) -> list[Problem]:
    """Rule tests (tests/*.yml): given rows fit their sources, expectations name real outputs."""
    problems: list[Problem] = []
    sources = loaded.config.sources
    key = sources[spine_name(loaded)].key or ""
    outputs = input_view_columns(loaded, "customer_segments")
    list_valued = {s.item.name.lower() for s in loaded.segmentations if s.item.match == "all"}
    labels = _segment_labels(loaded)
    for located in loaded.rule_tests:
        test = located.item
        for source, rows in test.given.items():
            if source not in sources:
                problems.append(located.problem(f"`given`: `{source}` is not a source{did_you_mean(source, sources)}{listed(sources, 'sources')}", "given", source))
                continue
            types = {c.lower(): t for c, t in sources[source].columns.items()}
            for index, row in enumerate(rows):
                for column, value in row.items():
                    if column.lower() not in types:
                        problems.append(located.problem(f"`given.{source}`: `{column}` is not a column of source `{source}`{did_you_mean(column, types)}", "given", source, index, column))
                    elif (wrong := value_problem(value, types[column.lower()])) is not None:
                        problems.append(located.problem(f"`given.{source}`: `{column}` is {type_words(types[column.lower()])} ({types[column.lower()]}): {wrong}", "given", source, index, column))
        for index, row in enumerate(test.expect):
            if key not in row:
                problems.append(located.problem(f"`expect`: each expected customer needs its key `{key}`", "expect", index))
            for column, value in row.items():
                name = column.lower()
                if name not in outputs:
                    problems.append(located.problem(f"`expect`: `{column}` is not a metric, segmentation or customer column{did_you_mean(name, outputs)}", "expect", index, column))
                elif isinstance(value, list) and name not in list_valued:
                    problems.append(located.problem(f"`expect`: `{column}` holds one value, not a list", "expect", index, column))
                elif name in list_valued and not isinstance(value, list):
                    problems.append(located.problem(f"`expect`: `{column}` is a `match: all` segmentation; expect a list of labels, e.g. [{value}] or []", "expect", index, column))
                elif name in labels:
                    problems += [
                        located.problem(f"`expect`: `{label}` is not a label of `{column}`{listed(labels[name])}, so the test could never pass{did_you_mean(str(label), labels[name])}", "expect", index, column)
                        for label in (value if isinstance(value, list) else [value])
                        if label is not None and str(label) not in labels[name]
                    ]
    return problems


def _segment_labels(loaded: LoadedProject) -> dict[str, list[str]]:
    """Each segmentation's labels as written (rules, then the default), by lowercased name."""
    labels: dict[str, list[str]] = {}
    for located in loaded.segmentations:
        seg = located.item
        labels[seg.name.lower()] = [rule.segment for rule in seg.rules] + ([seg.default] if seg.default is not None else [])
    return labels


# Columns every output table has (compile/prompts.py OUTPUT_COLUMNS) plus the key: a field cannot reuse them.
BOOKKEEPING_COLUMNS = ("prompt_name", "variant", "prompt_version", "input_hash", "response", "model", "provider", "input_tokens", "output_tokens", "generated_at")


def _check_outputs(located: Located[Prompt], table_fields: dict[str, tuple[str, str]]) -> list[Problem]:
    """Output fields are new columns of the output table: not a bookkeeping column or the key, and
    one type per name among the prompts that share the table."""
    prompt = located.item
    problems: list[Problem] = []
    for name, field in (prompt.outputs or {}).items():
        lowered = name.lower()
        if lowered in BOOKKEEPING_COLUMNS or lowered == prompt.key.lower() or lowered.startswith("rulectl_"):
            problems.append(located.problem(f"output field `{name}` is a column rulectl keeps itself; name it something else (e.g. `{lowered}_text`)", "outputs", name))
            continue
        other = table_fields.setdefault(lowered, (field.type, prompt.name))
        if other[0] != field.type:
            problems.append(located.problem(
                f"output field `{name}` is a {field.type} here but a {other[0]} in prompt `{other[1]}`, which writes the same table {prompt.output}; use one type or another name", "outputs", name, "type"))
    return problems


def _check_outcome(located: Located[Prompt], columns: list[str]) -> list[Problem]:
    """`experiment.outcome`: an expression over the input's columns and the prompt's output fields
    (e.g. `owns_cr`, `risk = 'high'`), parsed like every analyst expression."""
    prompt = located.item
    outcome = prompt.experiment.outcome if prompt.experiment else None
    known = columns + [name.lower() for name in prompt.outputs or {}]
    try:
        parsed = parse_expression(outcome or "")
    except ExpressionError as error:
        return [located.problem(f"`outcome`: {error}", "experiment", "outcome")]
    if parsed.has_aggregate:
        return [located.problem("`outcome` is decided per customer; it cannot contain an aggregate", "experiment", "outcome")]
    if parsed.has_window:
        return _window_outside_derived(located, parsed, ("experiment", "outcome"))
    problems = [
        located.problem(f"`outcome`: `{used}` is not a column of {prompt.input} or an output field{did_you_mean(used, known)}", "experiment", "outcome")
        for used in parsed.column_names
        if used not in known
    ]
    labels = {name.lower(): field.labels for name, field in (prompt.outputs or {}).items() if field.labels}
    for name, value in _compared_texts(parsed.tree):
        if name in labels and value not in labels[name]:
            problems.append(located.problem(
                f"`outcome`: '{value}' is not one of the labels of `{name}`{listed(labels[name])}, so the outcome is never true{did_you_mean(value, labels[name])}",
                "experiment", "outcome"))
    return problems
