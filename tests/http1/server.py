"""A scripted HTTP/1.1 peer for the client's tests: an asyncio server on 127.0.0.1:0 whose
handler gets each connection's reader and writer, so a test answers byte for byte (chunked,
closed early, malformed, never)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Peer"], Awaitable[None]]


@dataclass
class Peer:
    """What the server saw: connections accepted and raw requests read (by `read_request`)."""

    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    open_now: int = 0
    most_open: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


async def read_request(reader: asyncio.StreamReader, peer: Peer) -> bytes | None:
    """One request (head and Content-Length body), recorded; None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    request = head + await reader.readexactly(length)
    peer.requests.append(request)
    return request


def reply(status: int = 200, body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


async def keep_alive(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
) -> None:
    """A well-behaved app: answers 200 `ok` to every request on the connection."""
    while await read_request(reader, peer) is not None:
        writer.write(reply())
        await writer.drain()


@contextlib.asynccontextmanager
async def serving(handler: Handler = keep_alive) -> AsyncIterator[Peer]:
    peer = Peer()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer.connections += 1
        peer.open_now += 1
        peer.most_open = max(peer.most_open, peer.open_now)
        try:
            await handler(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            peer.open_now -= 1
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)
