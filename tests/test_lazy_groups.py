"""Groups built lazily from a table (main.py's LazyGroup: the root, `apimw webhooks`): their help
lists every command with its own one-line help, and shows or runs one command without importing
or building the others (#17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from apimw_cli.commands.webhooks import COMMANDS as WEBHOOKS
from apimw_cli.main import app
from tests.support.cli import run

ROOT = Path(__file__).resolve().parent.parent


def _webhooks_group() -> tuple[Any, Any]:
    root = typer.main.get_command(app)
    ctx = root.make_context("apimw", ["webhooks"], resilient_parsing=True)
    group = root.get_command(ctx, "webhooks")  # type: ignore[attr-defined]
    return group, group.make_context("webhooks", [], parent=ctx, resilient_parsing=True)


def test_webhooks_help_lines_match_each_commands_own_help() -> None:
    group, ctx = _webhooks_group()
    for name, (_, short_help) in WEBHOOKS.items():
        command = group.get_command(ctx, name)
        assert command is not None, name
        assert command.get_short_help_str(limit=200) == short_help, name


def test_webhooks_help_lists_every_command_in_order_and_builds_none() -> None:
    group, ctx = _webhooks_group()
    assert group.commands == {}
    result = run("webhooks", "--help")
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line]
    assert listed == list(WEBHOOKS)
    assert group.list_commands(ctx) == list(WEBHOOKS)


def test_no_arguments_shows_the_groups_help() -> None:
    result = run("webhooks")
    assert result.exit_code == 2
    assert "Register, list, inspect, update and delete webhooks." in result.output


def test_a_mistyped_subcommand_gets_a_guess() -> None:
    result = run("webhooks", "lst")
    assert result.exit_code == 2
    assert "no such command 'lst'" in result.stderr
    assert "did you mean 'list'?" in result.stderr


@pytest.mark.parametrize(
    ("args", "loaded"),
    [
        (["webhooks", "--help"], set()),
        (["webhooks", "list", "--help"], {"show"}),
        (["webhooks", "test", "--help"], {"conformance_test"}),
    ],
)
def test_only_the_command_shown_is_imported(args: list[str], loaded: set[str]) -> None:
    probe = (
        "import sys\n"
        f"sys.argv = ['apimw', *{args!r}]\n"
        "from apimw_cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "prefix = 'apimw_cli.commands.webhooks.'\n"
        "print(sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    imported = set(eval(result.stdout.splitlines()[-1]))  # noqa: S307 (our own probe's list)
    helpers = {"inputs", "views"}  # what the commands share
    assert imported - helpers == loaded
