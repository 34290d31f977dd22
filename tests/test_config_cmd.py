"""`apimw config` and the precedence flag > env > profile > default."""

from __future__ import annotations

import json
from pathlib import Path

from apimw_cli.settings import (
    ENV_API_BASE,
    ENV_API_KEY,
    ENV_API_SECRET,
    ENV_NGROK_AUTHTOKEN,
    ENV_PROFILE,
    ENV_TIMEOUT,
    SANDBOX_API_BASE,
    SANDBOX_API_KEY,
    Settings,
)
from tests.support.cli import run


def show(*args: str, env: dict[str, str] | None = None) -> dict[str, dict[str, object]]:
    result = run(*args, "-o", "json", "config", "show", env=env)
    assert result.exit_code == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["settings"]}


def test_path_is_in_the_config_dir(isolated_env: Path) -> None:
    assert run("config", "path").stdout.strip() == str(isolated_env / "config.toml")


def test_set_then_get_round_trips(isolated_env: Path) -> None:
    assert run("config", "set", "ngrok_region", "eu").exit_code == 0
    assert run("config", "get", "ngrok_region").stdout.strip() == "eu"


def test_set_writes_a_private_toml_file(isolated_env: Path) -> None:
    run("config", "set", "ngrok_path", "/opt/ngrok")
    path = isolated_env / "config.toml"
    assert (path.stat().st_mode & 0o777) == 0o600
    assert '[profiles.default]\nngrok_path = "/opt/ngrok"' in path.read_text()


def test_set_is_per_profile() -> None:
    run("--profile", "prod", "config", "set", "api_base", "https://eu.apimw.test/v1")
    assert run("config", "get", "api_base").stdout.strip() == "https://api.apimw.com/v1"
    assert (
        run("-p", "prod", "config", "get", "api_base").stdout.strip() == "https://eu.apimw.test/v1"
    )


def test_unset_restores_the_default() -> None:
    run("config", "set", "timeout", "5")
    run("config", "unset", "timeout")
    assert show()["timeout"] == {"name": "timeout", "value": 30.0, "source": "default"}


def test_list_settings_are_comma_separated() -> None:
    run("config", "set", "default_events", "message.sent, message.read")
    assert run("config", "get", "default_events").stdout.strip() == "message.sent,message.read"


def test_set_refuses_credentials_and_points_to_login() -> None:
    result = run("config", "set", "api_secret", "sk_live_x")
    assert result.exit_code == 2
    assert "apimw login" in result.stderr


def test_unknown_setting_lists_the_known_ones() -> None:
    result = run("config", "set", "colour", "red")
    assert result.exit_code == 2
    assert "unknown setting 'colour'" in result.stderr
    assert "api_base" in result.stderr


def test_invalid_value_is_refused() -> None:
    result = run("config", "set", "output", "yaml")
    assert result.exit_code == 2
    assert "must be one of table, json" in result.stderr


def test_precedence_flag_over_env_over_profile_over_default() -> None:
    assert show()["api_base"]["source"] == "default"
    run("config", "set", "api_base", "https://profile.test/v1")
    assert show()["api_base"]["value"] == "https://profile.test/v1"
    assert str(show()["api_base"]["source"]).startswith("profile 'default'")
    env = {ENV_API_BASE: "https://env.test/v1"}
    assert show(env=env)["api_base"] == {
        "name": "api_base",
        "value": "https://env.test/v1",
        "source": f"env {ENV_API_BASE}",
    }
    flagged = show("--api-base", "https://flag.test/v1", env=env)["api_base"]
    assert flagged == {
        "name": "api_base",
        "value": "https://flag.test/v1",
        "source": "flag --api-base",
    }


def test_show_masks_secrets() -> None:
    env = {
        ENV_NGROK_AUTHTOKEN: "2abcdefghijklmnopqrstuvwxyz123456",
        ENV_API_SECRET: "sk_live_0123456789abcdefghij",
    }
    result = run("config", "show", env=env)
    assert "2abcdefghijklmnop" not in result.stdout
    assert "sk_live_...ghij" in result.stdout
    assert "0123456789" not in result.stdout


def test_get_reveals_a_secret_only_when_asked() -> None:
    env = {ENV_NGROK_AUTHTOKEN: "2abcdefghijklmnopqrstuvwxyz123456"}
    assert "klmnop" not in run("config", "get", "ngrok_authtoken", env=env).stdout
    revealed = run("config", "get", "ngrok_authtoken", "--reveal", env=env).stdout.strip()
    assert revealed == "2abcdefghijklmnopqrstuvwxyz123456"


def test_corrupt_config_names_the_file_and_line(isolated_env: Path) -> None:
    isolated_env.mkdir()
    (isolated_env / "config.toml").write_text('[profiles.default]\napi_base = "unterminated\n')
    result = run("config", "show")
    assert result.exit_code == 3
    assert str(isolated_env / "config.toml") in result.stderr
    assert "line 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_env_value_is_a_config_error() -> None:
    result = run("whoami", env={ENV_TIMEOUT: "soon"})
    assert result.exit_code == 3
    assert ENV_TIMEOUT in result.stderr


def test_sandbox_uses_sandbox_address_and_credentials_not_live_ones() -> None:
    env = {ENV_API_KEY: "ak_live_real", ENV_API_SECRET: "sk_live_real"}
    settings = Settings(sandbox=True, env=env)
    assert settings.api_base == SANDBOX_API_BASE
    creds = settings.credentials()
    assert creds.api_key == SANDBOX_API_KEY
    assert "real" not in (creds.api_secret or "")


def test_sandbox_address_can_be_overridden_by_flag() -> None:
    rows = show("--sandbox", "--api-base", "http://127.0.0.1:9999/v1")
    assert rows["api_base"]["value"] == "http://127.0.0.1:9999/v1"
    assert rows["api_key"]["source"] == "sandbox (--sandbox)"


def test_invalid_profile_name_is_refused() -> None:
    result = run("--profile", "../etc", "config", "show")
    assert result.exit_code == 2
    assert "invalid profile name '../etc'" in result.stderr


def test_profile_env_selects_the_profile() -> None:
    run("-p", "ci", "config", "set", "ngrok_region", "ap")
    result = run("config", "get", "ngrok_region", env={ENV_PROFILE: "ci"})
    assert result.stdout.strip() == "ap"


def test_output_setting_makes_json_the_default() -> None:
    run("config", "set", "output", "json")
    result = run("config", "get", "ngrok_region")
    assert json.loads(result.stdout)["source"] == "unset"
