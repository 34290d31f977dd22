"""Which agent binary runs: ngrok_path, else `ngrok` on PATH, else pyngrok's managed copy."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from pyngrok import installer

from apimw_cli.tunnel import Tunnel, TunnelSettings, find_agent_binary, managed_ngrok_path
from apimw_cli.tunnel.binary import is_pyngrok_launcher
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


# --- pyngrok's launcher (a virtualenv's bin/ngrok) is not an agent ---------------------------


def make_launcher(directory: Path) -> Path:
    """A script shaped like pyngrok's `ngrok` console script; it leaves a mark if it runs."""
    directory.mkdir(parents=True, exist_ok=True)
    launcher = directory / "ngrok"
    launcher.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys\n"
        "pathlib.Path(__file__).with_name('launcher-ran').touch()\n"
        "sys.exit(1)\n"
        "from pyngrok.ngrok import main\n",
        encoding="utf-8",
    )
    launcher.chmod(0o755)
    return launcher


def test_the_installed_pyngrok_console_script_is_a_launcher() -> None:
    script = Path(sys.executable).parent / "ngrok"
    if not script.is_file():
        pytest.skip("pyngrok's console script is not installed next to this Python")
    assert is_pyngrok_launcher(script)


def test_an_agent_or_another_python_script_is_not_a_launcher(tmp_path: Path) -> None:
    assert not is_pyngrok_launcher(make_fake_agent(tmp_path))  # a shell wrapper
    other = tmp_path / "other"
    other.write_text("#!/usr/bin/env python3\nprint('ngrok')\n", encoding="utf-8")
    assert not is_pyngrok_launcher(other)
    assert not is_pyngrok_launcher(tmp_path / "missing")


def test_a_launcher_on_path_is_passed_over_for_the_managed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher = make_launcher(tmp_path / "venv" / "bin")
    monkeypatch.setenv("PATH", str(launcher.parent))

    binary = find_agent_binary(None)

    assert (binary.source, binary.path, binary.exists) == ("managed", managed_ngrok_path(), False)
    assert binary.launcher == launcher


def test_a_real_agent_later_on_path_wins_over_a_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher = make_launcher(tmp_path / "venv" / "bin")
    agent = make_fake_agent(tmp_path)
    monkeypatch.setenv("PATH", os.pathsep.join([str(launcher.parent), str(agent.parent)]))

    binary = find_agent_binary(None)

    assert (binary.source, binary.path, binary.launcher) == ("PATH", agent, launcher)


def test_the_tunnel_runs_the_managed_copy_not_the_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_port: int
) -> None:
    launcher = make_launcher(tmp_path / "venv" / "bin")
    monkeypatch.setenv("PATH", str(launcher.parent))
    agent = make_fake_agent(tmp_path)
    managed = managed_ngrok_path()
    managed.parent.mkdir(parents=True)
    shutil.copy2(agent, managed)

    assert open_without_ngrok_path(tmp_path, agent, local_port).startswith("http://")
    assert len(recorded_argv(agent)) == 1
    assert not (launcher.parent / "launcher-ran").exists()
