"""Running the CLI in-process, the way a user would from a shell."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from apimw_cli.commands.common import AppState
from apimw_cli.main import app
from tests.fakeapi import FakeApi


def run(
    *args: str,
    input: str | None = None,
    api: FakeApi | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """Invoke `apimw ARGS`; with `api`, HTTP goes to that fake instead of the network."""
    obj = AppState(transport=api.transport() if api else None)
    return CliRunner().invoke(app, list(args), input=input, obj=obj, env=env)
