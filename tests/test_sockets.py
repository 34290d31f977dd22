"""The listening helpers both servers use."""

from __future__ import annotations

import socket

import pytest

from apimw_cli.sockets import bind, local_url, port_is_free


def test_a_bound_port_is_not_free() -> None:
    with bind("127.0.0.1", 0) as sock:
        assert not port_is_free("127.0.0.1", sock.getsockname()[1])


def test_a_free_port_is_free() -> None:
    with bind("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
    assert port_is_free("127.0.0.1", port)


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_ipv6_hosts_are_probed_as_ipv6(host: str) -> None:
    with bind("::1", 0) as sock:
        port = sock.getsockname()[1]
        assert not port_is_free(host, port)
    assert port_is_free(host, port)  # an AF_INET probe said "in use" for any IPv6 host


def test_wildcard_hosts_are_reached_through_loopback() -> None:
    assert local_url("0.0.0.0", 80) == "http://127.0.0.1:80"
    assert local_url("::", 80) == "http://[::1]:80"
