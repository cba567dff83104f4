"""Snowflake connection settings, read the way the Snowflake CLI and connector read them.

Files live in $SNOWFLAKE_HOME (default ~/.snowflake): `connections.toml` (one table per connection)
and `config.toml` ([connections.NAME] tables and `default_connection_name`); a connection in
connections.toml wins over one of the same name in config.toml. The connection name comes from the
target's `connection:`, else $SNOWFLAKE_DEFAULT_CONNECTION_NAME, else `default_connection_name`,
else `default`. https://docs.snowflake.com/en/developer-guide/snowflake-cli/connecting/configure-connections

Secrets (password, private key passphrase, token) stay in these files or the environment; rulectl
never prints them, never writes them to plans, and never reads them from rulectl.yml.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RulectlError

SECRET_KEYS = frozenset({"password", "private_key_file_pwd", "private_key_passphrase", "token", "passcode", "oauth_client_secret", "private_key"})


@dataclass(frozen=True)
class ConnectionSettings:
    name: str
    source: Path
    parameters: dict[str, Any] = field(repr=False)  # may hold secrets: never printed

    def describe(self) -> str:
        """A printable summary: every key, secrets masked."""
        shown = {k: ("***" if k.lower() in SECRET_KEYS else v) for k, v in sorted(self.parameters.items())}
        return f"connection `{self.name}` from {self.source}: {shown}"


def snowflake_home() -> Path:
    return Path(os.environ.get("SNOWFLAKE_HOME") or Path.home() / ".snowflake").expanduser()


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise RulectlError(f"{path}: not valid TOML ({error}); fix the file or point SNOWFLAKE_HOME elsewhere") from None


def read_connection(name: str | None, home: Path | None = None) -> ConnectionSettings:
    """The named connection (or the default one), with file and name in any error."""
    home = home or snowflake_home()
    connections_file, config_file = home / "connections.toml", home / "config.toml"
    config = _read_toml(config_file)
    connections: dict[str, tuple[Path, dict]] = {n: (config_file, v) for n, v in (config.get("connections") or {}).items() if isinstance(v, dict)}
    connections.update({n: (connections_file, v) for n, v in _read_toml(connections_file).items() if isinstance(v, dict)})
    chosen = name or os.environ.get("SNOWFLAKE_DEFAULT_CONNECTION_NAME") or config.get("default_connection_name") or "default"
    if chosen not in connections:
        read = [str(p) for p in (connections_file, config_file) if p.exists()] or [f"nothing ({connections_file} and {config_file} do not exist)"]
        known = ", ".join(sorted(connections)) or "none"
        raise RulectlError(f"no Snowflake connection named `{chosen}`: read {', '.join(read)}; connections found: {known}. Add a [{chosen}] section to {connections_file}.")
    source, parameters = connections[chosen]
    return ConnectionSettings(chosen, source, dict(parameters))


def connect_arguments(settings: ConnectionSettings, database: str | None, warehouse: str | None, role: str | None) -> dict[str, Any]:
    """Arguments for snowflake.connector.connect: the file's settings plus rulectl.yml overrides,
    with a key-pair `private_key_file` loaded into the key the connector expects."""
    arguments = {k: v for k, v in settings.parameters.items()}
    for key, value in (("database", database), ("warehouse", warehouse), ("role", role)):
        if value:
            arguments[key] = value
    key_file = arguments.pop("private_key_file", None) or arguments.pop("private_key_path", None)
    if key_file:
        passphrase = arguments.pop("private_key_file_pwd", None) or arguments.pop("private_key_passphrase", None) or os.environ.get("PRIVATE_KEY_PASSPHRASE")
        arguments["private_key"] = load_private_key(Path(str(key_file)).expanduser(), passphrase, settings)
        arguments.setdefault("authenticator", "SNOWFLAKE_JWT")
    arguments.setdefault("application", "rulectl")
    return arguments


def load_private_key(path: Path, passphrase: str | None, settings: ConnectionSettings) -> bytes:
    """PEM (optionally encrypted) → DER PKCS#8 bytes, as the connector's `private_key` wants."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase.encode() if passphrase else None)
    except FileNotFoundError:
        raise RulectlError(f"connection `{settings.name}` ({settings.source}): private_key_file {path} not found") from None
    except (ValueError, TypeError) as error:
        raise RulectlError(f"connection `{settings.name}` ({settings.source}): cannot read the private key {path} ({error}); check the file and its passphrase") from None
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
