"""Opening and closing a tunnel through a fake agent, driven by pyngrok's real code path."""

from __future__ import annotations

import pytest

from tests.fake_ngrok import pid_alive, recorded_argv, recorded_pids, recorded_requests
from tests.tunnel.conftest import MakeTunnel, agent_of
from tests.tunnel.support import request


def test_request_to_public_url_reaches_local_server(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    tunnel = make_tunnel()
    url = tunnel.open(local_port)

    body = b'{"type":"message.sent"}\r\n\x00\xff'
    status, headers, reply = request(f"{url}/webhooks/apimw?x=1", "POST", body, {"X-Test": "kept"})

    assert status == 200
    assert reply == b"POST /webhooks/apimw?x=1\n" + body
    assert headers["X-Test"] == "kept"


def test_open_returns_the_public_url_the_agent_gave(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    tunnel = make_tunnel()

    url = tunnel.open(local_port)

    assert url.startswith("http://127.0.0.1:")
    assert tunnel.public_url == url
    posted = [r for r in recorded_requests(agent_of(tunnel)) if r["method"] == "POST"]
    assert posted[0]["body"]["upstream"] == {"url": f"http://localhost:{local_port}"}


def test_open_without_bind_tls_or_v2_fields(make_tunnel: MakeTunnel, local_port: int) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)

    posted = [r for r in recorded_requests(agent_of(tunnel)) if r["method"] == "POST"]
    assert not {"bind_tls", "schemes", "addr", "proto"} & set(posted[0]["body"])


def test_upstream_host_can_be_an_ipv4_address(make_tunnel: MakeTunnel, local_port: int) -> None:
    tunnel = make_tunnel()
    url = tunnel.open(local_port, local_host="127.0.0.1")

    status, _, reply = request(f"{url}/ping")

    assert (status, reply) == (200, b"GET /ping\n")


def test_domain_asks_the_agent_for_that_url(make_tunnel: MakeTunnel, local_port: int) -> None:
    tunnel = make_tunnel(domain="apimw-dev.ngrok.app")

    url = tunnel.open(local_port)

    assert url == "https://apimw-dev.ngrok.app"
    posted = [r for r in recorded_requests(agent_of(tunnel)) if r["method"] == "POST"]
    assert posted[0]["body"]["url"] == "https://apimw-dev.ngrok.app"


def test_region_is_passed_to_the_agent(make_tunnel: MakeTunnel, local_port: int) -> None:
    tunnel = make_tunnel(region="eu")
    tunnel.open(local_port)

    argv = recorded_argv(agent_of(tunnel))[0]
    assert argv[argv.index("--region") + 1] == "eu"


def test_close_kills_the_agent(make_tunnel: MakeTunnel, local_port: int) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)
    pid = tunnel.agent_pid
    assert pid is not None and pid_alive(pid)

    tunnel.close()

    assert not pid_alive(pid)
    assert tunnel.public_url is None
    assert not tunnel.alive()


def test_close_removes_the_endpoint_before_killing_the_agent(
    make_tunnel: MakeTunnel, local_port: int
) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)

    tunnel.close()

    deletes = [r for r in recorded_requests(agent_of(tunnel)) if r["method"] == "DELETE"]
    assert len(deletes) == 1
    assert deletes[0]["path"].startswith("/api/endpoints/apimw-")


def test_close_twice_is_harmless(make_tunnel: MakeTunnel, local_port: int) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)

    tunnel.close()
    tunnel.close()

    assert tunnel.public_url is None


def test_leaving_the_with_block_kills_the_agent(make_tunnel: MakeTunnel, local_port: int) -> None:
    with make_tunnel() as tunnel:
        tunnel.open(local_port)
        pid = tunnel.agent_pid

    assert pid is not None and not pid_alive(pid)


def test_opening_an_open_tunnel_is_a_bug(make_tunnel: MakeTunnel, local_port: int) -> None:
    tunnel = make_tunnel()
    tunnel.open(local_port)

    with pytest.raises(RuntimeError, match="already open"):
        tunnel.open(local_port)

    assert recorded_pids(agent_of(tunnel)) == [tunnel.agent_pid]
