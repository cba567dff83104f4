"""Target name → connected backend. The only place that knows which class serves which engine."""

from __future__ import annotations

import sys

from engine.backends.base import Backend
from engine.config.project import LoadedProject
from engine.core.errors import RulectlError


def target_name(loaded: LoadedProject, requested: str | None) -> str:
    name = requested or loaded.config.default_target
    if name not in loaded.config.targets:
        from engine.core.errors import did_you_mean

        raise RulectlError(f"rulectl.yml: unknown target `{name}`{did_you_mean(name, loaded.config.targets)} (targets: {', '.join(loaded.config.targets)})")
    return name


def date_columns(loaded: LoadedProject) -> frozenset[str]:
    return frozenset(
        column.lower()
        for source in loaded.config.sources.values()
        for column, type_text in source.columns.items()
        if type_text.strip().lower() == "date"
    )


def fixed_point_scales(loaded: LoadedProject) -> dict[str, int]:
    """Scale of each source column declared as a fixed-point number (NUMBER(p,s), INTEGER: 0); a
    name declared with two different types in two sources is left out (its scale is unknown).
    Kept in the project cache under the key of the settings and metrics it reads (the metrics
    part's): at 1,000 metrics every metric is parsed and scaled (~0.06 s), and a rule edit keeps them."""
    from engine.compile.project import part_digest
    from engine.core import project_cache

    digest = part_digest(loaded, "metrics")
    remembered = project_cache.cached(loaded.root, digest, "fixed_point_scales")
    if isinstance(remembered, dict):
        return dict(remembered)
    scales = _fixed_point_scales(loaded)
    project_cache.remember(loaded.root, digest, "fixed_point_scales", scales)
    return scales


def _fixed_point_scales(loaded: LoadedProject) -> dict[str, int]:
    from sqlglot import exp

    scales: dict[str, int | None] = {}
    for source in loaded.config.sources.values():
        for column, type_text in source.columns.items():
            try:
                data_type = exp.DataType.build(type_text, dialect="snowflake")
            except Exception:
                continue
            scale = _scale(data_type)
            name = column.lower()
            scales[name] = scale if scales.get(name, scale) == scale else None
    known = {name: scale for name, scale in scales.items() if scale is not None}
    return {**known, **_metric_scales(loaded, known)}


def _metric_scales(loaded: LoadedProject, column_scales: dict[str, int]) -> dict[str, int]:
    """Scales of fixed-point metrics, so a rule or derived metric that divides one is rounded too."""
    from engine.backends.duckdb_fixes import FixContext, fixed_point_scale
    from engine.core.expressions import parse_expression

    metric_names = {m.item.name.lower() for m in loaded.metrics}
    context = FixContext(fixed_point_scales={k: v for k, v in column_scales.items() if k not in metric_names})
    for _ in range(len(loaded.metrics)):  # derived metrics may read metrics declared after them
        before = dict(context.fixed_point_scales)
        for located in loaded.metrics:
            scale = fixed_point_scale(parse_expression(located.item.expr).tree, context)
            if scale is not None:
                context.fixed_point_scales[located.item.name.lower()] = scale
        if context.fixed_point_scales == before:
            break
    return {name: context.fixed_point_scales[name] for name in metric_names if name in context.fixed_point_scales}


def _scale(data_type) -> int | None:
    from sqlglot import exp

    if data_type.is_type(*exp.DataType.INTEGER_TYPES):
        return 0
    if data_type.is_type(exp.DataType.Type.DECIMAL):
        params = data_type.expressions
        # NUMBER without (p, s) is NUMBER(38, 0) in Snowflake: https://docs.snowflake.com/en/sql-reference/data-types-numeric
        return int(params[1].name) if len(params) > 1 else 0
    return None


# engine name (rulectl.yml `engine:`) → "module:class" of its backend, imported when first used so
# a DuckDB-only run never imports the Snowflake connector
BACKENDS: dict[str, str] = {
    "duckdb": "engine.backends.duckdb:DuckDBBackend",
    "snowflake": "engine.backends.snowflake:SnowflakeBackend",
}


def backend_class(engine: str) -> type[Backend]:
    import importlib

    module, _, name = BACKENDS[engine].partition(":")
    return getattr(importlib.import_module(module), name)


def target_backend_class(loaded: LoadedProject, requested: str | None = None) -> type[Backend]:
    return backend_class(loaded.config.targets[target_name(loaded, requested)].engine)


def open_backend(loaded: LoadedProject, requested: str | None = None, read_only: bool = False) -> Backend:
    """Connect to the target named `requested` (or the default target)."""
    name = target_name(loaded, requested)
    options = {"read_only": True} if read_only else {}
    return target_backend_class(loaded, name).from_target(loaded, name, **options)


def engine_errors() -> tuple[type[BaseException], ...]:
    """Exception types the engines raise for SQL they refuse (reported to the user, not as a bug)."""
    import duckdb

    errors: list[type[BaseException]] = [duckdb.Error]
    # A connector error needs a loaded connector; importing it just to test costs ~0.4 s of start-up.
    if "snowflake.connector" in sys.modules:
        from snowflake.connector.errors import Error as SnowflakeError

        errors.append(SnowflakeError)
    return tuple(errors)
