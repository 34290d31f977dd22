"""The fake agent itself: what its relay does when the upstream is down."""

from __future__ import annotations

import socket

from tests.tunnel.conftest import MakeTunnel
from tests.tunnel.support import request


def test_fake_agent_answers_502_when_the_upstream_is_down(make_tunnel: MakeTunnel) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    url = make_tunnel().open(free_port)

    status, _, body = request(f"{url}/webhook", "POST", b"{}")

    assert status == 502 and b"ERR_NGROK_8012" in body
