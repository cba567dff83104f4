"""Connection settings read like the Snowflake CLI; clear errors; secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.backends.snowflake_config import connect_arguments, read_connection
from engine.errors import RulectlError
from tests.conftest import edit, run

pytestmark = pytest.mark.snowflake


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    home = tmp_path / "snowflake-home"
    home.mkdir()
    monkeypatch.setenv("SNOWFLAKE_HOME", str(home))
    monkeypatch.delenv("SNOWFLAKE_DEFAULT_CONNECTION_NAME", raising=False)
    return home


def test_connections_toml_wins_over_config_toml(home: Path):
    (home / "config.toml").write_text('default_connection_name = "prod"\n[connections.prod]\naccount = "from-config"\nuser = "a"\n[connections.dev]\naccount = "dev-acct"\n')
    (home / "connections.toml").write_text('[prod]\naccount = "from-connections"\nuser = "b"\npassword = "hunter2"\n')
    assert read_connection("prod").parameters["account"] == "from-connections"
    assert read_connection("dev").parameters["account"] == "dev-acct"
    assert read_connection(None).name == "prod"  # default_connection_name


def test_environment_names_the_default_connection(home: Path, monkeypatch):
    (home / "connections.toml").write_text('[default]\naccount = "d"\n[ci]\naccount = "c"\n')
    assert read_connection(None).name == "default"
    monkeypatch.setenv("SNOWFLAKE_DEFAULT_CONNECTION_NAME", "ci")
    assert read_connection(None).parameters["account"] == "c"


def test_missing_connection_names_the_files_read_and_the_name(home: Path):
    (home / "connections.toml").write_text('[dev]\naccount = "x"\n')
    with pytest.raises(RulectlError) as error:
        read_connection("prod")
    message = str(error.value)
    assert "`prod`" in message and str(home / "connections.toml") in message and "connections found: dev" in message


def test_no_files_at_all(home: Path):
    with pytest.raises(RulectlError, match="do not exist"):
        read_connection("prod")


def test_broken_toml_is_one_clear_message(home: Path):
    (home / "connections.toml").write_text("[prod\naccount = ")
    with pytest.raises(RulectlError, match="not valid TOML"):
        read_connection("prod")


def test_overrides_from_rulectl_yml_and_secrets_masked(home: Path):
    (home / "connections.toml").write_text('[prod]\naccount = "acme"\nuser = "svc"\npassword = "hunter2"\nwarehouse = "X"\n')
    settings = read_connection("prod")
    arguments = connect_arguments(settings, "CUSTOMER_INTEL", "AI_WH", "TRANSFORMER")
    assert (arguments["database"], arguments["warehouse"], arguments["role"], arguments["password"]) == ("CUSTOMER_INTEL", "AI_WH", "TRANSFORMER", "hunter2")
    assert "hunter2" not in settings.describe() and "hunter2" not in repr(settings)


def test_key_pair_authentication_loads_an_encrypted_key(home: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"s3cret"))
    (home / "rsa_key.p8").write_bytes(pem)
    (home / "connections.toml").write_text(f'[prod]\naccount = "acme"\nuser = "svc"\nprivate_key_file = "{home / "rsa_key.p8"}"\nprivate_key_file_pwd = "s3cret"\n')
    arguments = connect_arguments(read_connection("prod"), "DB", None, None)
    assert arguments["authenticator"] == "SNOWFLAKE_JWT"
    assert serialization.load_der_private_key(arguments["private_key"], password=None).key_size == 2048
    assert "private_key_file_pwd" not in arguments

    (home / "connections.toml").write_text(f'[prod]\naccount = "acme"\nprivate_key_file = "{home / "rsa_key.p8"}"\nprivate_key_file_pwd = "wrong"\n')
    with pytest.raises(RulectlError) as error:
        connect_arguments(read_connection("prod"), "DB", None, None)
    assert "cannot read the private key" in str(error.value) and "wrong" not in str(error.value)


def test_cli_reports_a_missing_connection_without_traceback(project: Path, home: Path):
    result = run("plan", "--target", "prod", project=project)
    assert result.exit_code == 1 and "no Snowflake connection named `prod`" in result.output and "Traceback" not in result.output


def test_cli_connect_failure_never_shows_the_password(project: Path, home: Path):
    (home / "connections.toml").write_text('[prod]\naccount = "acme-invalid"\nuser = "svc"\npassword = "hunter2"\nlogin_timeout = 1\nhost = "127.0.0.1"\nport = 9\nprotocol = "http"\n')
    result = run("plan", "--target", "prod", project=project)
    assert result.exit_code == 1 and "cannot connect with connection `prod`" in result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output


def test_secrets_in_rulectl_yml_are_rejected(project: Path):
    edit(project / "rulectl.yml", "    connection: prod ", "    password: hunter2\n    connection: prod ")
    result = run("validate", project=project)
    assert result.exit_code == 1 and "unknown key `password`" in result.output and "secrets never go in rulectl.yml" in result.output
