"""Smoke test against the real ngrok service: runs only with NGROK_AUTHTOKEN and an `ngrok`
binary on PATH (and network access); skipped, with the reason, everywhere else."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from apimw_cli.tunnel import Tunnel, TunnelSettings
from tests.fake_ngrok import pid_alive
from tests.tunnel.support import request

# Read at import: the autouse fixture of tests/conftest.py removes NGROK_* before each test.
REAL_AUTHTOKEN = os.environ.get("NGROK_AUTHTOKEN")
REAL_NGROK = shutil.which("ngrok")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REAL_AUTHTOKEN, reason="NGROK_AUTHTOKEN is not set"),
    pytest.mark.skipif(not REAL_NGROK, reason="no `ngrok` binary on PATH"),
]


def test_real_ngrok_tunnel_reaches_local_server(tmp_path: Path, local_port: int) -> None:
    settings = TunnelSettings(
        authtoken=REAL_AUTHTOKEN,
        ngrok_path=REAL_NGROK,
        region=None,
        config_dir=tmp_path / "ngrok",
        startup_timeout=30.0,
    )
    with Tunnel(settings) as tunnel:
        url = tunnel.open(local_port, local_host="127.0.0.1")
        pid = tunnel.agent_pid

        status, _, body = request(
            f"{url}/smoke", "POST", b"hello", {"ngrok-skip-browser-warning": "1"}
        )

        assert url.startswith("https://")
        assert (status, body) == (200, b"POST /smoke\nhello")
    assert pid is not None and not pid_alive(pid)
