"""Which agent binary runs: ngrok_path, else `ngrok` on PATH, else pyngrok's managed copy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from pyngrok import installer

from apimw_cli.tunnel import Tunnel, TunnelSettings, find_agent_binary, managed_ngrok_path
from tests.fake_ngrok import kill_all, make_fake_agent, recorded_argv
from tests.tunnel.conftest import AUTHTOKEN


@pytest.fixture(autouse=True)
def no_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pyngrok tried to download ngrok")

    monkeypatch.setattr(installer, "install_ngrok", refuse)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def open_without_ngrok_path(tmp_path: Path, agent: Path, local_port: int) -> str:
    settings = TunnelSettings(
        authtoken=AUTHTOKEN, ngrok_path=None, region=None, config_dir=tmp_path / "ngrok"
    )
    try:
        with Tunnel(settings) as tunnel:
            return tunnel.open(local_port)
    finally:
        kill_all(agent)


def test_ngrok_on_path_is_used_when_ngrok_path_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_port: int
) -> None:
    agent = make_fake_agent(tmp_path)
    monkeypatch.setenv("PATH", str(agent.parent))

    assert find_agent_binary(None).source == "PATH"
    assert open_without_ngrok_path(tmp_path, agent, local_port).startswith("http://")
    assert len(recorded_argv(agent)) == 1


def test_managed_copy_is_used_without_downloading_again(tmp_path: Path, local_port: int) -> None:
    agent = make_fake_agent(tmp_path)
    managed = managed_ngrok_path()
    assert str(managed).startswith(os.environ["XDG_CONFIG_HOME"])  # computed now, per test
    managed.parent.mkdir(parents=True)
    shutil.copy2(agent, managed)

    assert find_agent_binary(None).source == "managed"
    assert open_without_ngrok_path(tmp_path, agent, local_port).startswith("http://")
    assert len(recorded_argv(agent)) == 1


def test_ngrok_path_wins_over_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = make_fake_agent(tmp_path)
    configured = make_fake_agent(tmp_path)
    monkeypatch.setenv("PATH", str(on_path.parent))

    binary = find_agent_binary(str(configured))

    assert (binary.path, binary.source) == (configured, "ngrok_path")
