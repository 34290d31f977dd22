"""Fixtures: tunnels through fake ngrok agents, and a local server for them to reach.

Every tunnel is closed and every fake agent killed at teardown, whatever the test did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.tunnel import Tunnel, TunnelSettings
from tests.fake_ngrok import Mode, kill_all, make_fake_agent
from tests.support.capture import Captured, CaptureServer, Reply

# Shaped like an ngrok authtoken; the fake accepts any non-empty one unless told otherwise.
AUTHTOKEN = "2fAkeTokenForTests0123456789_aBcDeFgHiJkLmNoPqRsT"

MakeTunnel = Callable[..., Tunnel]


def agent_of(tunnel: Tunnel) -> Path:
    """The fake agent (wrapper path) a tunnel runs."""
    assert tunnel.settings.ngrok_path is not None
    return Path(tunnel.settings.ngrok_path)


@pytest.fixture
def make_tunnel(tmp_path: Path) -> Iterator[MakeTunnel]:
    """A Tunnel on a fresh fake agent: `make_tunnel(mode, authtoken=..., **fake_options)`."""
    tunnels: list[Tunnel] = []

    def make(
        mode: Mode = "ok",
        *,
        authtoken: str | None = AUTHTOKEN,
        startup_timeout: float = 10.0,
        domain: str | None = None,
        region: str | None = None,
        ngrok_path: str | None = None,
        authtoken_source: str | None = None,
        **options: Any,
    ) -> Tunnel:
        path = ngrok_path or str(make_fake_agent(tmp_path, mode, **options))
        settings = TunnelSettings(
            authtoken=authtoken,
            ngrok_path=path,
            region=region,
            config_dir=tmp_path / "config" / "ngrok",
            domain=domain,
            startup_timeout=startup_timeout,
            authtoken_source=authtoken_source,
        )
        tunnel = Tunnel(settings)
        tunnels.append(tunnel)
        return tunnel

    yield make
    for tunnel in tunnels:
        tunnel.close()
        if tunnel.settings.ngrok_path and Path(tunnel.settings.ngrok_path).exists():
            kill_all(Path(tunnel.settings.ngrok_path))


def echo(request: Captured) -> Reply:
    """Answers every request with `<METHOD> <path>\\n<body>` and echoes X-Test."""
    reply = f"{request.method} {request.path}\n".encode() + request.body
    return Reply(
        200,
        reply,
        "application/octet-stream",
        headers={"X-Test": request.headers.get("X-Test", "")},
    )


@pytest.fixture
def local_port() -> Iterator[int]:
    """The port of an echo server on 127.0.0.1 (the tunnel's upstream)."""
    with CaptureServer(echo, keep_alive=True) as server:
        yield server.port
