"""Snowflake connection settings, resolved by snowflake-connector-python's own configuration code.

rulectl does not read connections.toml / config.toml itself: it asks the connector's ConfigManager
(snowflake/connector/config_manager.py), built exactly as the connector builds its CONFIG_MANAGER but
with the directory resolved when rulectl runs (snowflake/connector/sf_dirs.py). So rulectl finds what
`snowflake.connector.connect(connection_name=…)` finds:
- the directory is $SNOWFLAKE_HOME or ~/.snowflake when it exists, else the platform's config
  directory (~/.config/snowflake on Linux);
- `connections.toml`, when present, replaces config.toml's [connections] table as a whole;
- $SNOWFLAKE_CONNECTIONS (TOML text) replaces both, $SNOWFLAKE_DEFAULT_CONNECTION_NAME names the
  default (else `default_connection_name`, else `default`);
- a connections file writable by group or others is refused.
On top, as the Snowflake CLI does (https://docs.snowflake.com/en/developer-guide/snowflake-cli/connecting/configure-connections):
$SNOWFLAKE_CONNECTIONS_<NAME>_<KEY> overrides a key of that connection, $SNOWFLAKE_<KEY> fills a key
the connection lacks, $PRIVATE_KEY_PASSPHRASE wins over `private_key_file_pwd`, and `private_key_raw`
(PEM text) is loaded as the key. Then rulectl's target overrides (database, warehouse, role).

Secrets (password, private key passphrase, token) stay in these files or the environment; rulectl
never prints them, never writes them to plans, and never reads them from rulectl.yml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.errors import RulectlError

SECRET_KEYS = frozenset({"password", "private_key_file_pwd", "private_key_passphrase", "token", "passcode", "oauth_client_secret", "private_key", "private_key_raw"})
# Keys the Snowflake CLI reads from SNOWFLAKE_<KEY> when the connection does not set them.
GENERIC_ENV_KEYS = (
    "account", "user", "password", "database", "schema", "role", "warehouse", "authenticator",
    "private_key_file", "private_key_path", "private_key_raw", "token", "token_file_path", "host", "port", "region",
)


@dataclass(frozen=True)
class ConnectionSettings:
    name: str
    source: str  # where it was read: a file, or an environment variable
    parameters: dict[str, Any] = field(repr=False)  # may hold secrets: never printed

    def describe(self) -> str:
        """A printable summary: every key, secrets masked."""
        shown = {k: ("***" if k.lower() in SECRET_KEYS else v) for k, v in sorted(self.parameters.items())}
        return f"connection `{self.name}` from {self.source}: {shown}"


def config_directory() -> Path:
    """Where the connector looks for config.toml and connections.toml, decided now."""
    from snowflake.connector.sf_dirs import _resolve_platform_dirs

    return Path(_resolve_platform_dirs().user_config_path)


def connector_config_manager(directory: Path | None = None):
    """The connector's CONFIG_MANAGER, built as snowflake/connector/config_manager.py builds it."""
    import tomlkit
    from snowflake.connector.config_manager import ConfigManager, ConfigSlice, ConfigSliceOptions

    directory = directory or config_directory()
    manager = ConfigManager(
        name="CONFIG_MANAGER",
        file_path=directory / "config.toml",
        _slices=[ConfigSlice(directory / "connections.toml", ConfigSliceOptions(check_permissions=True), "connections")],
    )
    manager.add_option(name="connections", parse_str=tomlkit.parse, default=dict())
    manager.add_option(name="default_connection_name", default="default")
    return manager


def read_connection(name: str | None) -> ConnectionSettings:
    """The named connection (or the default one) as the connector resolves it, plus the Snowflake
    CLI's environment overrides; one clear line for anything wrong."""
    from snowflake.connector.errors import Error as ConnectorError

    directory = config_directory()
    manager = connector_config_manager(directory)
    files = [directory / "connections.toml", directory / "config.toml"]
    try:
        chosen = name or manager["default_connection_name"]
        connections = manager["connections"]
    except ConnectorError as error:
        import tomlkit.exceptions

        cause = error.__cause__
        detail = f" — not valid TOML ({cause})" if isinstance(cause, tomlkit.exceptions.ParseError) else f" ({cause})" if cause else ""
        raise RulectlError(f"cannot read the Snowflake connection settings: {str(error).splitlines()[0]}{detail}; fix the file or point SNOWFLAKE_HOME elsewhere") from None
    if chosen not in connections:
        read = [str(p) for p in files if p.exists()] or [f"nothing ({' and '.join(str(p) for p in files)} do not exist)"]
        known = ", ".join(sorted(connections)) or "none"
        raise RulectlError(f"no Snowflake connection named `{chosen}`: read {', '.join(read)}; connections found: {known}. Add a [{chosen}] section to {files[0]}.")
    source = "$SNOWFLAKE_CONNECTIONS" if "SNOWFLAKE_CONNECTIONS" in os.environ else str(files[0] if files[0].exists() else files[1])
    return ConnectionSettings(chosen, source, _with_environment(chosen, dict(connections[chosen])))


def _with_environment(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The Snowflake CLI's precedence: SNOWFLAKE_CONNECTIONS_<NAME>_<KEY> over the file, the file
    over generic SNOWFLAKE_<KEY>."""
    prefix = f"SNOWFLAKE_CONNECTIONS_{name.upper()}_"
    for variable, value in os.environ.items():
        if variable.startswith(prefix) and len(variable) > len(prefix):
            parameters[variable[len(prefix):].lower()] = value
    for key in GENERIC_ENV_KEYS:
        value = os.environ.get(f"SNOWFLAKE_{key.upper()}")
        if value is not None and key not in parameters:
            parameters[key] = value
    return parameters


def connect_arguments(settings: ConnectionSettings, database: str | None, warehouse: str | None, role: str | None) -> dict[str, Any]:
    """Arguments for snowflake.connector.connect: the resolved settings plus rulectl.yml overrides,
    with a key pair (file or raw PEM) loaded into the `private_key` the connector expects."""
    arguments = dict(settings.parameters)
    for key, value in (("database", database), ("warehouse", warehouse), ("role", role)):
        if value:
            arguments[key] = value
    # the Snowflake CLI lets $PRIVATE_KEY_PASSPHRASE win over the file's private_key_file_pwd
    passphrase = os.environ.get("PRIVATE_KEY_PASSPHRASE") or arguments.get("private_key_file_pwd") or arguments.get("private_key_passphrase")
    for key in ("private_key_file_pwd", "private_key_passphrase"):
        arguments.pop(key, None)
    key_file = arguments.pop("private_key_file", None) or arguments.pop("private_key_path", None)
    raw = arguments.pop("private_key_raw", None)
    if key_file or raw:
        pem = raw.encode() if raw else _read_key_file(Path(str(key_file)).expanduser(), settings)
        arguments["private_key"] = load_private_key(pem, passphrase, settings, str(key_file) if key_file else "private_key_raw")
        arguments.setdefault("authenticator", "SNOWFLAKE_JWT")
    arguments.setdefault("application", "rulectl")
    # rulectl's own sessions run in UTC like its tasks (TIMEZONE='UTC' on every task): CURRENT_DATE in
    # plan's impact and cost queries and in explain is then the date the refresh task sees, whatever
    # the account's or user's default. The connector sets these when it opens the session.
    # https://docs.snowflake.com/en/developer-guide/python-connector/python-connector-api#connect (session_parameters)
    # https://docs.snowflake.com/en/sql-reference/functions/current_date ("in the time zone for the session")
    arguments["session_parameters"] = {**dict(arguments.get("session_parameters") or {}), "TIMEZONE": "UTC"}
    return arguments


def _read_key_file(path: Path, settings: ConnectionSettings) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise RulectlError(f"connection `{settings.name}` ({settings.source}): private_key_file {path} not found or not readable") from None


def load_private_key(pem: bytes, passphrase: str | None, settings: ConnectionSettings, where: str) -> bytes:
    """PEM (optionally encrypted) → DER PKCS#8 bytes, as the connector's `private_key` wants."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(pem, password=passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as error:
        raise RulectlError(f"connection `{settings.name}` ({settings.source}): cannot read the private key {where} ({error}); check the key and its passphrase") from None
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
