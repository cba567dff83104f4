"""Connection settings read like the Snowflake CLI; clear errors; secrets never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.backends.snowflake_config import connect_arguments, read_connection
from engine.core.errors import RulectlError
from tests.conftest import edit, run

pytestmark = pytest.mark.snowflake


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    home = tmp_path / "snowflake-home"
    home.mkdir()
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    monkeypatch.delenv("SNOWFLAKE_DEFAULT_CONNECTION_NAME", raising=False)
    return home


def write(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text)
    path.chmod(mode)


def connector_resolves(env: dict[str, str]) -> dict:
    """What snowflake-connector-python itself resolves, in a fresh process (its CONFIG_MANAGER reads
    the environment when it is imported): the default connection name and every connection."""
    script = (
        "import json, warnings; warnings.simplefilter('ignore')\n"
        "from snowflake.connector.config_manager import CONFIG_MANAGER as m\n"
        "try:\n"
        "    print(json.dumps({'default': m['default_connection_name'], 'connections': m['connections']}))\n"
        "except Exception as e:\n"
        "    print(json.dumps({'error': type(e).__name__}))\n"
    )
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "XDG_"))}
    done = subprocess.run([sys.executable, "-c", script], env={**keep, **env}, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def rulectl_resolves(monkeypatch, env: dict[str, str]) -> dict:
    for key in [k for k in os.environ if k.startswith(("SNOWFLAKE_", "XDG_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        from engine.backends.snowflake_config import connector_config_manager

        manager = connector_config_manager()
        return {"default": read_connection(None).name, "connections": {n: read_connection(n).parameters for n in manager["connections"]}}
    except RulectlError:
        return {"error": "ConfigSourceError"}


PRECEDENCE = {
    # connections.toml replaces config.toml's [connections] as a whole (no per-name merge)
    "connections.toml replaces config.toml": (
        {"config.toml": 'default_connection_name = "prod"\n[connections.prod]\naccount = "from-config"\n[connections.dev]\naccount = "dev-acct"\n',
         "connections.toml": '[prod]\naccount = "from-connections"\nuser = "b"\n'}, {}),
    "config.toml alone": ({"config.toml": '[connections.dev]\naccount = "dev-acct"\n[connections.default]\naccount = "d"\n'}, {}),
    "SNOWFLAKE_DEFAULT_CONNECTION_NAME": ({"connections.toml": '[default]\naccount = "d"\n[ci]\naccount = "c"\n'}, {"SNOWFLAKE_DEFAULT_CONNECTION_NAME": "ci"}),
    "SNOWFLAKE_CONNECTIONS replaces the files": (
        {"connections.toml": '[default]\naccount = "file"\n'}, {"SNOWFLAKE_CONNECTIONS": '[default]\naccount = "from-env"\n[other]\naccount = "o"\n'}),
    "a world-writable connections file is refused": ({"connections.toml": '[default]\naccount = "d"\n'}, {"MODE": "666"}),
}


@pytest.mark.parametrize("case", list(PRECEDENCE))
def test_resolution_matches_the_connector_for_each_precedence_rule(case: str, tmp_path: Path, monkeypatch):
    files, env = PRECEDENCE[case]
    env = dict(env)
    home = tmp_path / "snowflake-home"
    home.mkdir()
    mode = int(env.pop("MODE", "600"), 8) if "MODE" in env else 0o600
    for name, text in files.items():
        write(home / name, text, mode)
    env = {**env, "SNOWFLAKE_HOME": str(home)}
    assert rulectl_resolves(monkeypatch, env) == connector_resolves(env)
    if mode & 0o022:
        with pytest.raises(RulectlError, match="writable by group or others"):
            read_connection(None)


def test_without_dot_snowflake_the_platform_config_directory_is_used_like_the_connector(tmp_path: Path, monkeypatch):
    user_home = tmp_path / "user"
    (user_home / ".config" / "snowflake").mkdir(parents=True)
    write(user_home / ".config" / "snowflake" / "connections.toml", '[default]\naccount = "xdg"\n')
    env = {"HOME": str(user_home)}
    resolved = rulectl_resolves(monkeypatch, env)
    assert resolved == connector_resolves(env) and resolved["connections"]["default"]["account"] == "xdg"


def test_cli_environment_overrides_on_top_of_the_connector(home: Path, monkeypatch):
    write(home / "connections.toml", '[prod]\naccount = "acme"\nuser = "svc"\npassword = "from-file"\n')
    monkeypatch.setenv("SNOWFLAKE_CONNECTIONS_PROD_PASSWORD", "from-env")  # wins over the file
    monkeypatch.setenv("SNOWFLAKE_USER", "generic")  # only fills keys the connection lacks
    monkeypatch.setenv("SNOWFLAKE_ROLE", "ANALYST")
    parameters = read_connection("prod").parameters
    assert (parameters["password"], parameters["user"], parameters["role"]) == ("from-env", "svc", "ANALYST")


def test_environment_names_the_default_connection(home: Path, monkeypatch):
    write(home / "connections.toml", '[default]\naccount = "d"\n[ci]\naccount = "c"\n')
    assert read_connection(None).name == "default"
    monkeypatch.setenv("SNOWFLAKE_DEFAULT_CONNECTION_NAME", "ci")
    assert read_connection(None).parameters["account"] == "c"


def test_missing_connection_names_the_files_read_and_the_name(home: Path):
    write(home / "connections.toml", '[dev]\naccount = "x"\n')
    with pytest.raises(RulectlError) as error:
        read_connection("prod")
    message = str(error.value)
    assert "`prod`" in message and str(home / "connections.toml") in message and "connections found: dev" in message


def test_no_files_at_all(home: Path):
    with pytest.raises(RulectlError, match="do not exist"):
        read_connection("prod")


def test_broken_toml_is_one_clear_message(home: Path):
    write(home / "connections.toml", "[prod\naccount = ")
    with pytest.raises(RulectlError, match="not valid TOML"):
        read_connection("prod")


def test_overrides_from_rulectl_yml_and_secrets_masked(home: Path):
    write(home / "connections.toml", '[prod]\naccount = "acme"\nuser = "svc"\npassword = "hunter2"\nwarehouse = "X"\n')
    settings = read_connection("prod")
    arguments = connect_arguments(settings, "CUSTOMER_INTEL", "AI_WH", "TRANSFORMER")
    assert (arguments["database"], arguments["warehouse"], arguments["role"], arguments["password"]) == ("CUSTOMER_INTEL", "AI_WH", "TRANSFORMER", "hunter2")
    assert arguments["session_parameters"] == {"TIMEZONE": "UTC"}  # plan and explain see the tasks' CURRENT_DATE
    assert "hunter2" not in settings.describe() and "hunter2" not in repr(settings)


def test_key_pair_authentication_loads_an_encrypted_key(home: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"s3cret"))
    (home / "rsa_key.p8").write_bytes(pem)
    write(home / "connections.toml", f'[prod]\naccount = "acme"\nuser = "svc"\nprivate_key_file = "{home / "rsa_key.p8"}"\nprivate_key_file_pwd = "s3cret"\n')
    arguments = connect_arguments(read_connection("prod"), "DB", None, None)
    assert arguments["authenticator"] == "SNOWFLAKE_JWT"
    assert serialization.load_der_private_key(arguments["private_key"], password=None).key_size == 2048
    assert "private_key_file_pwd" not in arguments

    write(home / "connections.toml", f'[prod]\naccount = "acme"\nprivate_key_file = "{home / "rsa_key.p8"}"\nprivate_key_file_pwd = "wrong"\n')
    with pytest.raises(RulectlError) as error:
        connect_arguments(read_connection("prod"), "DB", None, None)
    assert "cannot read the private key" in str(error.value) and "wrong" not in str(error.value)


def test_cli_reports_a_missing_connection_without_traceback(project: Path, home: Path):
    result = run("plan", "--target", "prod", project=project)
    assert result.exit_code == 1 and "no Snowflake connection named `prod`" in result.output and "Traceback" not in result.output


def test_cli_connect_failure_never_shows_the_password(project: Path, home: Path):
    write(home / "connections.toml", '[prod]\naccount = "acme-invalid"\nuser = "svc"\npassword = "hunter2"\nlogin_timeout = 1\nhost = "127.0.0.1"\nport = 9\nprotocol = "http"\n')
    result = run("plan", "--target", "prod", project=project)
    assert result.exit_code == 1 and "cannot connect with connection `prod`" in result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output


def test_secrets_in_rulectl_yml_are_rejected(project: Path):
    edit(project / "rulectl.yml", "    connection: prod ", "    password: hunter2\n    connection: prod ")
    result = run("validate", project=project)
    assert result.exit_code == 1 and "unknown key `password`" in result.output and "secrets never go in rulectl.yml" in result.output


def _pem(passphrase: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(passphrase))


def test_private_key_passphrase_from_the_environment_wins_and_raw_keys_are_loaded(home: Path, monkeypatch):
    from cryptography.hazmat.primitives import serialization

    (home / "rsa_key.p8").write_bytes(_pem(b"from-env"))
    write(home / "connections.toml", f'[prod]\naccount = "acme"\nprivate_key_file = "{home / "rsa_key.p8"}"\nprivate_key_file_pwd = "stale"\n')
    monkeypatch.setenv("PRIVATE_KEY_PASSPHRASE", "from-env")  # as the Snowflake CLI: the environment wins
    arguments = connect_arguments(read_connection("prod"), "DB", None, None)
    assert serialization.load_der_private_key(arguments["private_key"], password=None).key_size == 2048
    monkeypatch.delenv("PRIVATE_KEY_PASSPHRASE")
    raw = _pem(b"pw").decode()
    write(home / "connections.toml", f'[prod]\naccount = "acme"\nprivate_key_raw = """{raw}"""\nprivate_key_file_pwd = "pw"\n')
    arguments = connect_arguments(read_connection("prod"), "DB", None, None)
    assert "private_key_raw" not in arguments and arguments["authenticator"] == "SNOWFLAKE_JWT"
    assert serialization.load_der_private_key(arguments["private_key"], password=None).key_size == 2048
