"""`--save-secret FILE` writes a webhook's new secret on `register` and `update`, so that
`--secret-file` means one thing everywhere: read a secret (listen, webhooks test, sign, verify,
trigger). The old spelling still works on register and update, unlisted."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.sandbox.server import RunningSandbox
from tests.support.cli import run
from tests.support.endpoint import Endpoint


@pytest.fixture
def sandbox(shared_sandbox: RunningSandbox) -> RunningSandbox:
    return shared_sandbox


def cli_json(*args: str) -> dict[str, Any]:
    result = run("--sandbox", "-o", "json", *args)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def register(url: str, *args: str) -> dict[str, Any]:
    return cli_json(
        "webhooks", "register", "--url", url, "--events", "message.sent", "--no-wait", *args
    )


def written_secret(path: Path) -> str:
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return path.read_text().strip()


@pytest.mark.parametrize("option", ["--save-secret", "--secret-file"])
def test_register_writes_the_new_secret(
    sandbox: RunningSandbox, endpoint: Endpoint, tmp_path: Path, option: str
) -> None:
    path = tmp_path / "hook.secret"
    data = register(endpoint.url, option, str(path))
    assert "secret" not in data and data["secret_file"] == str(path)
    assert written_secret(path)


def test_update_writes_the_rotated_secret(
    sandbox: RunningSandbox, endpoint: Endpoint, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.secret", tmp_path / "second.secret"
    webhook = register(endpoint.url, "--save-secret", str(first))
    data = cli_json(
        "webhooks", "update", webhook["id"], "--rotate-secret", "--save-secret", str(second)
    )
    assert data["secret_file"] == str(second)
    assert written_secret(second) != written_secret(first)


def test_save_secret_needs_rotate_secret_on_update(sandbox: RunningSandbox) -> None:
    result = run("--sandbox", "webhooks", "update", "whk_x", "--save-secret", "x.secret")
    assert result.exit_code == 2
    assert "--save-secret" in result.stderr


@pytest.mark.parametrize("command", ["register", "update"])
def test_help_offers_only_save_secret(command: str) -> None:
    text = run("webhooks", command, "--help").stdout
    assert "--save-secret FILE" in text
    assert "--secret-file" not in text
