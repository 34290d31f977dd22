"""Listening sockets for the servers apimw runs (the sandbox and the listen receiver)."""

from __future__ import annotations

import socket


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so port 0 tells us which port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose protocol
    # says TCP. With protocol 0, Nagle and delayed ACKs added ~40 ms to keep-alive requests.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def port_is_free(host: str, port: int) -> bool:
    """Could a server bind host:port? Asks `bind` itself, so the answer (address family,
    IPv6 brackets, SO_REUSEADDR) is the one the server will get."""
    try:
        bind(host, port).close()
    except OSError:
        return False
    return True


def local_url(host: str, port: int) -> str:
    """The URL that reaches a server bound to host:port from this machine (a wildcard address
    is reached through loopback)."""
    bare = host.strip("[]")
    if bare in ("", "0.0.0.0"):
        bare = "127.0.0.1"
    elif bare == "::":
        bare = "::1"
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}"
