"""A transport of our own on a raw non-blocking socket (loop.add_reader/add_writer), so that a
caller can `poll` it: read what has arrived now, between two of the loop's passes.

Why: the forwarder shares the receiver's loop. With one request in flight (ordered forwarding) a
lane advances once per pass of the loop, while a pass during a burst serves every connection that
became readable: 4-16 received events per forward. asyncio's and uvloop's transports give no way
to read their socket outside a pass, so the connections the forwarder polls use this one.

It does what Connection needs of a transport and no more: write (straight to the socket; what
the kernel does not take waits for the socket to be writable), close and abort; the protocol's
callbacks as asyncio calls them.
"""

from __future__ import annotations

import asyncio
import socket

__all__ = ["PolledTransport", "open_polled"]

_READ_SIZE = 256 * 1024  # as asyncio's selector transports


class PolledTransport:
    """One connected non-blocking socket driving an asyncio.Protocol."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: asyncio.Protocol
    ) -> None:
        self._loop = loop
        self._sock: socket.socket | None = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._pending = bytearray()  # written but not yet taken by the kernel
        loop.add_reader(self._fd, self.poll)
        protocol.connection_made(self)  # type: ignore[arg-type]  # has what Connection uses

    def poll(self) -> None:
        """Read what has arrived, if anything, and hand it to the protocol: one recv, which
        fails with EAGAIN when nothing has (the loop's own read of bytes a poll took, too)."""
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lose(exc)
            return
        if data:
            self._protocol.data_received(data)
            return
        self._loop.remove_reader(self._fd)  # EOF
        if not self._protocol.eof_received():
            self.close()

    def write(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            return
        if not self._pending:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._lose(exc)
                return
            if sent == len(data):
                return
            data = data[sent:]
            self._loop.add_writer(self._fd, self._flush)
        self._pending += data

    def close(self) -> None:
        """Close now; the protocol hears connection_lost on the next pass. Unlike asyncio's,
        what the kernel has not taken yet is dropped, not flushed first: a Connection closes
        only between requests or to give one up (an app that stopped reading must not keep
        the connection, and its request's outcome, open)."""
        self._lose(None)

    def abort(self) -> None:
        self._lose(None)

    def is_closing(self) -> bool:
        return self._sock is None

    def _flush(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sent = sock.send(self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lose(exc)
            return
        del self._pending[:sent]
        if not self._pending:
            self._loop.remove_writer(self._fd)

    def _lose(self, exc: Exception | None) -> None:
        """Close the socket now; the protocol's connection_lost on the next pass, as asyncio."""
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        self._pending.clear()
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        sock.close()
        self._loop.call_soon(self._protocol.connection_lost, exc)


async def open_polled(
    host: str, port: int, protocol: asyncio.Protocol
) -> tuple[PolledTransport, asyncio.Protocol]:
    """Connect to `host`:`port` (each address it resolves to in turn, as create_connection)
    and run `protocol` on a PolledTransport; the OSError of the first address if none works."""
    loop = asyncio.get_running_loop()
    try:  # an IP address (the usual 127.0.0.1) needs no lookup, nor loop.getaddrinfo's thread
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    first: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            first = first or exc
            continue
        except BaseException:
            sock.close()
            raise
        return PolledTransport(loop, sock, protocol), protocol
    raise first or OSError(f"{host} did not resolve")
