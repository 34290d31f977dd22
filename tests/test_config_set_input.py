"""`apimw config set KEY -` reads the value from standard input (hidden at a terminal), and
`--from-file PATH` from a file: for every settable key, so a secret stays out of `ps`."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from apimw_cli.settings import SETTINGS
from tests.support.cli import run

VALUES = {
    "api_base": ("https://eu.apimw.test/v1", "https://eu.apimw.test/v1"),
    "output": ("json", "json"),
    "timeout": ("12", 12.0),
    "default_events": ("message.received", ["message.received"]),
    "ngrok_authtoken": ("2abcDEF_secret_token", "2abcDEF_secret_token"),
    "ngrok_path": ("/opt/ngrok", "/opt/ngrok"),
    "ngrok_region": ("eu", "eu"),
    "keep_sessions": ("20", 20),
    "keep_session_days": ("7", 7.0),
}


def stored(isolated_env: Path) -> dict[str, object]:
    return dict(tomllib.loads((isolated_env / "config.toml").read_text())["profiles"]["default"])


def test_every_settable_key_has_a_value_here() -> None:
    assert set(VALUES) == {s.name for s in SETTINGS if s.settable}


@pytest.mark.parametrize("name", list(VALUES))
def test_dash_reads_the_value_from_stdin(isolated_env: Path, name: str) -> None:
    raw, value = VALUES[name]
    result = run("config", "set", name, "-", input=raw + "\n")
    assert result.exit_code == 0, result.stderr
    assert stored(isolated_env) == {name: value}
    assert "warning" not in result.stderr


@pytest.mark.parametrize("name", list(VALUES))
def test_from_file_reads_the_value(isolated_env: Path, tmp_path: Path, name: str) -> None:
    raw, value = VALUES[name]
    source = tmp_path / "value.txt"
    source.write_text(raw + "\r\n")
    result = run("config", "set", name, "--from-file", str(source))
    assert result.exit_code == 0, result.stderr
    assert stored(isolated_env) == {name: value}


def test_the_authtoken_from_stdin_is_never_a_dash_nor_shown(isolated_env: Path) -> None:
    result = run("config", "set", "ngrok_authtoken", "-", input="2abcDEF_secret_token")
    assert result.exit_code == 0, result.stderr
    assert stored(isolated_env) == {"ngrok_authtoken": "2abcDEF_secret_token"}
    assert "2abcDEF_secret_token" not in result.stdout + result.stderr


def test_empty_stdin_is_a_usage_error(isolated_env: Path) -> None:
    result = run("config", "set", "ngrok_authtoken", "-", input="")
    assert result.exit_code == 2
    assert "standard input holds no value" in result.stderr
    assert not (isolated_env / "config.toml").exists()


def test_two_lines_on_stdin_are_refused(isolated_env: Path) -> None:
    result = run("config", "set", "ngrok_authtoken", "-", input="one\ntwo\n")
    assert result.exit_code == 2
    assert "control characters" in result.stderr
    assert "one" not in result.stderr  # a secret's text is never echoed back
    assert not (isolated_env / "config.toml").exists()


def test_an_oversized_stdin_is_refused(isolated_env: Path) -> None:
    result = run("config", "set", "ngrok_path", "-", input="x" * 100_000)
    assert result.exit_code == 2
    assert "more than 64 KB" in result.stderr


def test_value_and_from_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "v").write_text("eu")
    result = run("config", "set", "ngrok_region", "eu", "--from-file", str(tmp_path / "v"))
    assert result.exit_code == 2
    assert "not both" in result.stderr


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run("config", "set", "ngrok_region", "--from-file", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_no_value_at_all_says_how_to_give_one() -> None:
    result = run("config", "set", "ngrok_authtoken")
    assert result.exit_code == 2
    assert "config set ngrok_authtoken -" in result.stderr


def test_a_secret_on_the_command_line_warns_with_the_safer_form(isolated_env: Path) -> None:
    result = run("config", "set", "ngrok_authtoken", "2abcDEF_secret_token")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "apimw config set ngrok_authtoken -" in warnings[0]
    assert run("config", "set", "ngrok_region", "eu").stderr.count("warning") == 0


def test_a_terminal_is_asked_without_echo(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def getpass(prompt: str, stream: object = None) -> str:
        asked.append(prompt)
        return "2abcDEF_secret_token"

    monkeypatch.setattr("getpass.getpass", getpass)

    class Tty:
        buffer = None

        @staticmethod
        def isatty() -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty())
    from apimw_cli.commands import config

    setting = next(s for s in SETTINGS if s.name == "ngrok_authtoken")
    assert config._value_from_stdin(setting) == "2abcDEF_secret_token"
    assert asked == ["ngrok_authtoken (not echoed): "]
