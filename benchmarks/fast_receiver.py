"""A fast webhook receiver for load runs (benchmark and test), run as its own process.

Usage: python fast_receiver.py  -> prints "PORT <n>" on stdout once listening, then serves
until stdin closes. HTTP/1.1 with keep-alive on 127.0.0.1. It answers every POST with 200
(the challenge as text for webhook.verification) and counts deliveries per path, keyed by
X-APIMW-Delivery. GET /stats answers {"deliveries": n, "unique": n, "verifications": n}.
"""

from __future__ import annotations

import asyncio
import json
import sys

MAX_HEAD = 64 * 1024


class Stats:
    def __init__(self) -> None:
        self.deliveries = 0
        self.verifications = 0
        self.unique: set[tuple[str, str]] = set()

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "deliveries": self.deliveries,
                "unique": len(self.unique),
                "verifications": self.verifications,
            }
        ).encode()


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readline()
    length = int(headers.get("content-length") or 0)
    return await reader.readexactly(length) if length else b""


def answer(stats: Stats, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    if method == "GET" and path == "/stats":
        return stats.as_json()
    event = None
    if b"webhook.verification" in body:  # only a challenge needs parsing: keep the sink fast
        try:
            event = json.loads(body)
        except ValueError:
            event = None
    if isinstance(event, dict) and event.get("type") == "webhook.verification":
        stats.verifications += 1
        return str(event.get("challenge", "")).encode()
    stats.deliveries += 1
    stats.unique.add((path, headers.get("x-apimw-delivery", "")))
    return b"ok"


async def serve(stats: Stats, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = [*lines[0].split(" "), "", "", ""][:3]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await read_body(reader, headers)
            payload = answer(stats, method, path, headers, body)
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                + str(len(payload)).encode()
                + (b"\r\nConnection: close" if close else b"")
                + b"\r\n\r\n"
                + payload
            )
            await writer.drain()
            if close:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def main() -> None:
    stats = Stats()
    server = await asyncio.start_server(
        lambda r, w: serve(stats, r, w), "127.0.0.1", 0, limit=MAX_HEAD, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    loop = asyncio.get_running_loop()
    # Serve until the parent closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    try:
        import uvloop  # the fastest loop there is, when installed: the sink must not be the limit
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
