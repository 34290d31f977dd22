"""The root command: help, version, global options and the error boundary."""

from __future__ import annotations

import subprocess
import sys

import pytest

from apimw_cli import __version__
from apimw_cli.settings import ENV_TOKEN
from tests.support.cli import run


def test_help_lists_command_groups_with_descriptions() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for group in ("config", "login", "logout", "whoami"):
        assert group in result.stdout


def test_no_arguments_shows_help() -> None:
    result = run()
    assert "Usage:" in result.stdout + result.stderr


def test_version_prints_the_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"apimw {__version__}"


def test_unknown_output_format_is_a_usage_error() -> None:
    result = run("--output", "yaml", "config", "show")
    assert result.exit_code == 2
    assert "yaml" in result.stderr


def test_api_base_must_be_a_url() -> None:
    result = run("--api-base", "api.apimw.com", "whoami")
    assert result.exit_code == 2
    assert "http(s) URL" in result.stderr


def test_error_boundary_prints_error_and_hint_without_traceback() -> None:
    result = run("whoami")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: no APIMW credentials\nhint: run `apimw login`")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_debug_adds_the_traceback() -> None:
    result = run("--debug", "whoami")
    assert result.exit_code == 3
    assert "Traceback" in result.stderr
    assert "CredentialsError" in result.stderr


def test_network_failure_exits_6(monkeypatch: object) -> None:
    waits: list[float] = []  # the client's retry waits, recorded instead of slept
    result = run(
        "--api-base",
        "http://127.0.0.1:9/v1",
        "--timeout",
        "1",
        "whoami",
        env={ENV_TOKEN: "at_x"},
        sleep=waits.append,
    )
    assert result.exit_code == 6
    assert len(waits) == 3  # a refused connection is retried, whatever the method
    assert "could not connect" in result.stderr


def test_root_help_lines_match_each_commands_own_help() -> None:
    import typer

    from apimw_cli.main import COMMANDS, app

    group = typer.main.get_command(app)
    ctx = group.make_context("apimw", ["--version"], resilient_parsing=True)
    for name, (_, short_help) in COMMANDS.items():
        command = group.get_command(ctx, name)  # type: ignore[attr-defined]
        assert command.get_short_help_str(limit=200) == short_help, name


def test_help_builds_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from apimw_cli.main import app

    group = typer.main.get_command(app)
    group.main(["--help"], prog_name="apimw", standalone_mode=False)
    assert "sandbox" in capsys.readouterr().out
    assert group.commands == {}  # type: ignore[attr-defined]
    group.main(["config", "--help"], prog_name="apimw", standalone_mode=False)
    assert list(group.commands) == ["config"]  # type: ignore[attr-defined]


def test_commands_the_tests_start_can_be_interrupted() -> None:
    # tests/conftest.py: a run started in the background must not pass SIG_IGN on to `listen`.
    probe = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
