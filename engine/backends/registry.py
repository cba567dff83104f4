"""Target name → connected backend. The only place that knows which class serves which engine."""

from __future__ import annotations

from engine.backends.base import Backend
from engine.config.project import LoadedProject
from engine.errors import RulectlError


def target_name(loaded: LoadedProject, requested: str | None) -> str:
    name = requested or loaded.config.default_target
    if name not in loaded.config.targets:
        from engine.errors import did_you_mean

        raise RulectlError(f"rulectl.yml: unknown target `{name}`{did_you_mean(name, loaded.config.targets)} (targets: {', '.join(loaded.config.targets)})")
    return name


def date_columns(loaded: LoadedProject) -> frozenset[str]:
    return frozenset(
        column.lower()
        for source in loaded.config.sources.values()
        for column, type_text in source.columns.items()
        if type_text.strip().lower() == "date"
    )


def open_backend(loaded: LoadedProject, requested: str | None = None, read_only: bool = False) -> Backend:
    """Connect to the target named `requested` (or the default target)."""
    name = target_name(loaded, requested)
    target = loaded.config.targets[name]
    if target.engine == "duckdb":
        from engine.backends.duckdb import DuckDBBackend

        path = loaded.root / (target.path or f".rulectl/{name}.duckdb")
        return DuckDBBackend(path, date_columns(loaded), read_only=read_only)
    from engine.backends.snowflake import SnowflakeBackend

    return SnowflakeBackend.from_target(loaded, name)


def engine_errors() -> tuple[type[BaseException], ...]:
    """Exception types the engines raise for SQL they refuse (reported to the user, not as a bug)."""
    import duckdb

    errors: list[type[BaseException]] = [duckdb.Error]
    try:
        from snowflake.connector.errors import Error as SnowflakeError

        errors.append(SnowflakeError)
    except ImportError:  # pragma: no cover - the connector is a dependency
        pass
    return tuple(errors)
