"""The authtoken stays out of the agent's command line, error messages, logs and the terminal."""

from __future__ import annotations

import logging
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apimw_cli.errors import TunnelError
from tests.fake_ngrok import ERR_105_LINE, make_fake_agent, recorded_argv
from tests.tunnel.conftest import AUTHTOKEN, MakeTunnel, agent_of

ROOT = Path(__file__).resolve().parents[2]


def test_authtoken_is_not_on_the_agent_command_line(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)

    argv = recorded_argv(agent_of(tunnel))[0]
    assert argv[:4] == ["start", "--none", "--log", "stdout"]
    assert "--authtoken" not in argv
    assert not any(AUTHTOKEN in arg for arg in argv)


def test_authtoken_from_the_environment_stays_off_the_command_line(
    make_tunnel: MakeTunnel, local_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PyngrokConfig picks NGROK_AUTHTOKEN up by itself and would pass it as --authtoken.
    monkeypatch.setenv("NGROK_AUTHTOKEN", AUTHTOKEN)
    tunnel = make_tunnel()
    tunnel.open(local_port)

    argv = recorded_argv(agent_of(tunnel))[0]
    assert not any(AUTHTOKEN in arg for arg in argv)


def test_agent_reads_the_authtoken_from_our_private_config_file(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)

    argv = recorded_argv(agent_of(tunnel))[0]
    config = tunnel.settings.config_file
    assert argv[argv.index("--config") + 1] == str(config)
    assert AUTHTOKEN in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_rejected_authtoken_is_masked_in_error_and_agent_log(make_tunnel: MakeTunnel) -> None:
    # Like the real agent, the fake echoes the token it rejects (ERR_NGROK_107).
    tunnel = make_tunnel(valid_authtokens=["2someOtherToken"])

    with pytest.raises(TunnelError) as info:
        tunnel.open(9)

    text = f"{info.value.message}\n{info.value.hint}"
    assert AUTHTOKEN not in text
    assert f"...{AUTHTOKEN[-4:]}" in info.value.message
    assert any("ERR_NGROK_107" in line for line in tunnel.agent_log)
    assert not any(AUTHTOKEN in line for line in tunnel.agent_log)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_agent_lines_stay_off_the_terminal_and_the_root_handlers(
    make_tunnel: MakeTunnel, capfd: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    collect, level = Collect(), root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        tunnel = make_tunnel(valid_authtokens=["2someOtherToken"])
        with pytest.raises(TunnelError):
            tunnel.open(9)
    finally:
        root.removeHandler(collect)
        root.setLevel(level)

    assert capfd.readouterr() == ("", "")
    assert [r for r in collect.records if r.name.startswith("pyngrok")] == []
    ours = [r for r in collect.records if r.name.startswith("apimw_cli.tunnel")]
    assert any("ERR_NGROK_107" in r.getMessage() for r in ours)
    assert {r.levelno for r in ours} == {logging.DEBUG}


def test_no_log_record_carries_the_authtoken(
    make_tunnel: MakeTunnel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tunnel = make_tunnel(valid_authtokens=["2someOtherToken"])

    with pytest.raises(TunnelError):
        tunnel.open(9)

    assert any("ERR_NGROK_107" in r.getMessage() for r in caplog.records)
    assert not any(AUTHTOKEN in r.getMessage() for r in caplog.records)


def test_settings_repr_hides_the_authtoken(make_tunnel: MakeTunnel) -> None:
    tunnel = make_tunnel()

    assert AUTHTOKEN not in repr(tunnel.settings)


UNCONFIGURED = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from apimw_cli.errors import TunnelError
    from apimw_cli.tunnel import Tunnel, TunnelSettings

    settings = TunnelSettings(
        authtoken=sys.argv[3], ngrok_path=sys.argv[1], region=None, config_dir=Path(sys.argv[2])
    )
    try:
        Tunnel(settings).open(9)
    except TunnelError as exc:
        print(exc.message)
    """
)


def test_agent_error_lines_are_not_printed_when_logging_is_unconfigured(tmp_path: Path) -> None:
    # A fresh interpreter, as in `apimw listen`: no logging setup, so an unhandled ERROR record
    # would go to logging's last-resort handler, raw, on stderr.
    agent = make_fake_agent(tmp_path, "fail", error_line=ERR_105_LINE)

    done = subprocess.run(
        [sys.executable, "-c", UNCONFIGURED, str(agent), str(tmp_path / "ngrok"), AUTHTOKEN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert "ERR_NGROK_105" in done.stdout
    assert AUTHTOKEN not in done.stdout
    assert done.stderr == ""
