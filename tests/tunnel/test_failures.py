"""Each way the agent can fail to start is a TunnelError (exit code 7) with a hint, and leaves
no agent process behind."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path

import pytest
from pyngrok import installer
from pyngrok.exception import PyngrokError

from apimw_cli.errors import ExitCode, TunnelError
from apimw_cli.settings import ENV_NGROK_PATH
from apimw_cli.tunnel import Tunnel, TunnelSettings
from tests.fake_ngrok import (
    ERR_105_LINE,
    ERR_108_LINE,
    ERR_4018_LINE,
    error_line,
    pid_alive,
    recorded_argv,
    recorded_pids,
)
from tests.support.waiting import wait_for
from tests.tunnel.conftest import AUTHTOKEN, MakeTunnel, agent_of


def open_fails(tunnel: Tunnel, port: int = 9) -> TunnelError:
    with pytest.raises(TunnelError) as info:
        tunnel.open(port)
    return info.value


def assert_no_agent_left(tunnel: Tunnel) -> None:
    pids = recorded_pids(agent_of(tunnel))
    assert pids, "the fake agent never started"
    assert [pid for pid in pids if pid_alive(pid)] == []


def test_tunnel_errors_exit_with_code_7(make_tunnel: MakeTunnel) -> None:
    error = open_fails(make_tunnel(authtoken=None))

    assert error.exit_code == ExitCode.TUNNEL


def test_no_authtoken_says_where_to_get_one_and_starts_no_agent(
    make_tunnel: MakeTunnel,
) -> None:
    tunnel = make_tunnel(authtoken=None)

    error = open_fails(tunnel)

    assert "no ngrok authtoken" in error.message
    assert error.hint is not None
    assert "https://dashboard.ngrok.com/get-started/your-authtoken" in error.hint
    assert "apimw config set ngrok_authtoken" in error.hint
    assert "NGROK_AUTHTOKEN" in error.hint
    assert recorded_argv(agent_of(tunnel)) == []


def test_agent_refusing_without_authtoken_gets_the_authtoken_hint(
    make_tunnel: MakeTunnel,
) -> None:
    tunnel = make_tunnel("fail", error_line=ERR_4018_LINE)

    error = open_fails(tunnel)

    assert "ERR_NGROK_4018" in error.message
    assert error.hint is not None and "apimw config set ngrok_authtoken" in error.hint
    assert isinstance(error.__cause__, PyngrokError)
    assert_no_agent_left(tunnel)


def test_missing_ngrok_path_fails_before_any_download(
    make_tunnel: MakeTunnel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("pyngrok tried to download ngrok")

    monkeypatch.setattr(installer, "install_ngrok", no_download)
    tunnel = make_tunnel(ngrok_path=str(tmp_path / "nowhere" / "ngrok"))

    error = open_fails(tunnel)

    assert "not found" in error.message and str(tmp_path / "nowhere" / "ngrok") in error.message
    assert error.hint is not None
    assert "apimw config set ngrok_path" in error.hint and ENV_NGROK_PATH in error.hint
    assert capfd.readouterr().out == ""


def test_ngrok_path_that_is_not_executable_is_refused(
    make_tunnel: MakeTunnel, tmp_path: Path
) -> None:
    binary = tmp_path / "ngrok"
    binary.write_text("not a program")
    binary.chmod(0o644)

    error = open_fails(make_tunnel(ngrok_path=str(binary)))

    assert "not executable" in error.message
    assert error.hint is not None and "chmod +x" in error.hint


def test_download_impossible_says_how_to_install_and_prints_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # No ngrok_path, no ngrok on PATH, no managed copy yet: pyngrok's real installer runs
    # against a download URL that refuses connections.
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(
        installer, "get_ngrok_cdn_url", lambda version: f"http://127.0.0.1:{port}/ngrok.tgz"
    )
    settings = TunnelSettings(
        authtoken=AUTHTOKEN, ngrok_path=None, region=None, config_dir=tmp_path / "ngrok"
    )

    with Tunnel(settings) as tunnel, pytest.raises(TunnelError) as info:
        tunnel.open(9)

    assert "could not be downloaded" in info.value.message
    assert info.value.hint is not None
    assert "https://ngrok.com/download" in info.value.hint
    assert ENV_NGROK_PATH in info.value.hint
    assert isinstance(info.value.__cause__, PyngrokError)
    assert capfd.readouterr().out == ""


def test_another_agent_session_is_err_ngrok_108_with_its_fix(make_tunnel: MakeTunnel) -> None:
    tunnel = make_tunnel("fail", error_line=ERR_108_LINE)

    error = open_fails(tunnel)

    assert "another ngrok agent session is already online" in error.message
    assert "ERR_NGROK_108" in error.message
    assert error.hint is not None and "https://dashboard.ngrok.com/agents" in error.hint
    assert isinstance(error.__cause__, PyngrokError)
    assert_no_agent_left(tunnel)


def test_invalid_authtoken_is_err_ngrok_107_with_its_fix(make_tunnel: MakeTunnel) -> None:
    tunnel = make_tunnel(
        valid_authtokens=["2someOtherToken"], authtoken_source="env NGROK_AUTHTOKEN"
    )

    error = open_fails(tunnel)

    assert "ngrok rejected the authtoken" in error.message
    assert "ERR_NGROK_107" in error.message and "env NGROK_AUTHTOKEN" in error.message
    assert error.hint is not None
    assert "https://dashboard.ngrok.com/get-started/your-authtoken" in error.hint
    assert_no_agent_left(tunnel)


def test_malformed_authtoken_is_err_ngrok_105(make_tunnel: MakeTunnel) -> None:
    error = open_fails(make_tunnel("fail", error_line=ERR_105_LINE))

    assert "ngrok rejected the authtoken" in error.message and "ERR_NGROK_105" in error.message


def test_unknown_agent_error_links_to_ngrok_docs(make_tunnel: MakeTunnel) -> None:
    tunnel = make_tunnel("fail", error_line=error_line("something broke\\r\\nERR_NGROK_9999"))

    error = open_fails(tunnel)

    assert error.message == "the ngrok agent failed to start: something broke"
    assert error.hint == "see https://ngrok.com/docs/errors/err_ngrok_9999/"


def test_silent_agent_hits_our_deadline_and_leaves_no_orphan(make_tunnel: MakeTunnel) -> None:
    tunnel = make_tunnel("silent", startup_timeout=0.5)

    error = open_fails(tunnel)

    # Our deadline's message, not pyngrok's own (longer) timeout's.
    assert error.message == "the ngrok agent did not start within 0.5 s"
    assert_no_agent_left(tunnel)


def test_tunnel_works_after_a_silent_agent_was_abandoned(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    open_fails(make_tunnel("silent", startup_timeout=0.5))

    assert make_tunnel().open(local_port).startswith("http://")


def test_agent_exiting_before_ready_is_reported(make_tunnel: MakeTunnel) -> None:
    tunnel = make_tunnel("exit")

    error = open_fails(tunnel)

    assert error.message.startswith("the ngrok agent exited before it was ready (its last line:")
    assert 'msg="open config file"' in error.message
    assert error.hint is not None and "version" in error.hint
    assert_no_agent_left(tunnel)


def test_endpoint_refused_for_unreserved_domain_is_err_ngrok_319(
    make_tunnel: MakeTunnel,
) -> None:
    tunnel = make_tunnel(
        domain="mine.ngrok.app",
        endpoint_error="failed to bind: You must reserve a custom hostname ... ERR_NGROK_319",
    )

    error = open_fails(tunnel)

    assert error.message == (
        "the domain mine.ngrok.app is not reserved for this ngrok account (ERR_NGROK_319)"
    )
    assert error.hint is not None and "https://dashboard.ngrok.com/domains" in error.hint
    assert_no_agent_left(tunnel)


def test_binary_that_is_not_ngrok_is_reported(make_tunnel: MakeTunnel, tmp_path: Path) -> None:
    binary = tmp_path / "not-ngrok"
    binary.write_bytes(b"\x7fELF garbage")
    binary.chmod(0o700)

    error = open_fails(make_tunnel(ngrok_path=str(binary)))

    assert error.message.startswith(f"cannot run the ngrok agent {binary}")


def test_ctrl_c_while_the_agent_starts_propagates_and_leaves_no_orphan(
    make_tunnel: MakeTunnel,
) -> None:
    tunnel = make_tunnel("silent", startup_timeout=30)
    main = threading.get_ident()

    def press_ctrl_c_once_the_agent_runs() -> None:
        wait_for(lambda: recorded_pids(agent_of(tunnel)), what="the agent to start")
        signal.pthread_kill(main, signal.SIGINT)  # the main thread waits for the outcome

    interrupt = threading.Thread(target=press_ctrl_c_once_the_agent_runs, daemon=True)
    interrupt.start()

    with pytest.raises(KeyboardInterrupt):
        tunnel.open(9)

    interrupt.join(5)
    assert tunnel.public_url is None
    assert_no_agent_left(tunnel)
