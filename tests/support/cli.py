"""Running the CLI in-process, the way a user would from a shell."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner, Result

from apimw_cli.commands.common import AppState
from apimw_cli.main import app
from tests.fakeapi import FakeApi


def run(
    *args: str,
    input: str | None = None,
    api: FakeApi | None = None,
    env: dict[str, str] | None = None,
    **state: Any,
) -> Result:
    """Invoke `apimw ARGS`; with `api`, HTTP goes to that fake instead of the network; `state`
    sets other AppState fields.

    An exception that escapes the command is raised in the test, not kept in the result: a
    crash must fail the test even when it expects a non-zero exit code. Exits (SystemExit,
    including typer.Exit and click's usage errors) are results as usual.
    """
    obj = AppState(transport=api.transport() if api else None, **state)
    return CliRunner().invoke(
        app, list(args), input=input, obj=obj, env=env, catch_exceptions=False
    )
