"""The load generator: distinct signed ~1 KB events over keep-alive connections.

`signed_requests(n)` pre-generates n raw HTTP/1.1 requests, all the same size, each with its own
delivery id (`dlv_<8 hex: the event number><16 hex>`, so the live view's `[dlv_xxxxxxxx]` label
names the event) and a valid `X-APIMW-Signature`. The receiver deduplicates its last 10,000
delivery ids, so cycling through 50,000 keeps every event new in its eyes; each driver carries on
where it stopped on that port, round after round.

Two drivers send them: `wrk` (one thread, a Lua script cycling through the pre-generated file)
when it is installed, else a Python asyncio client, which then limits the figures: it needs about
as much CPU per request as the fastest servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SECRET = "whsec_benchmark_secret"
PATH = "/webhooks/apimw"
BODY_SIZE = 1024
LABEL = re.compile(rb"\[dlv_([0-9a-f]{8})\]")

# wrk's Lua side: every request of the file (all `size` bytes long) in turn, from `offset`.
WRK_SCRIPT = r"""
local path = os.getenv("APIMW_BENCH_FILE")
local size = tonumber(os.getenv("APIMW_BENCH_SIZE"))
local offset = tonumber(os.getenv("APIMW_BENCH_OFFSET") or "0")
local requests = {}
local count = 0
local i = 0

function init(args)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  count = #data / size
  for k = 0, count - 1 do
    requests[k] = data:sub(k * size + 1, (k + 1) * size)
  end
  i = offset % count
end

-- Paced (APIMW_BENCH_DELAY_MS > 0): each connection waits that long before its next request,
-- so the offered rate is the same whatever else runs beside the client. (Defined only then:
-- wrk schedules a timer per request once the script has a delay function.)
local pause = tonumber(os.getenv("APIMW_BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause
  end
end

function request()
  local r = requests[i]
  i = (i + 1) % count
  return r
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def delivery_id(n: int, tag: str) -> str:
    return f"dlv_{n % 16**8:08x}{tag}"


def signed_requests(count: int, first: int = 0, secret: str = SECRET) -> list[bytes]:
    """`count` distinct signed events as raw HTTP/1.1 requests, all of one size, numbered from
    `first`."""
    marker = "#" * 12  # replaced by the event number, so every body has the same size

    def encode(text: str) -> str:
        data = {
            "message_id": f"wamid.BENCH{marker}",
            "from": "+15551234567",
            "message_type": "text",
            "text": text,
            "contact": {"name": "Benchmark", "wa_id": "15551234567"},
        }
        event = {"type": "message.received", "timestamp": "2024-01-15T10:30:00Z", "data": data}
        return json.dumps(event, separators=(",", ":"))

    padding = "x" * (BODY_SIZE - len(encode("")))
    before, after = (part.encode() for part in encode(padding).split(marker))
    key = secret.encode()
    tag = secrets.token_hex(8)  # a fresh run never repeats a previous run's ids
    requests = []
    for n in range(first, first + count):
        body = b"%s%012d%s" % (before, n, after)
        signature = hmac.new(key, body, hashlib.sha256).hexdigest()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nUser-Agent: APIMW-Webhooks/1.0\r\n"
            f"X-APIMW-Event: message.received\r\nX-APIMW-Delivery: {delivery_id(n, tag)}\r\n"
            f"X-APIMW-Signature: sha256={signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


@dataclass
class Burst:
    """One closed-loop burst: how many requests were answered in how long."""

    requests: int
    seconds: float
    failures: int  # non-200 answers and socket errors
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_path() -> str | None:
    return shutil.which("wrk")


class Driver:
    """Sends the pre-generated requests in closed-loop bursts, carrying on per port."""

    def __init__(
        self,
        requests: list[bytes],
        workdir: Path,
        connections: int = 16,
        use_wrk: bool = True,
        cpus: set[int] | None = None,
    ) -> None:
        self.requests = requests
        self.connections = connections
        self.cpus = cpus
        self.offsets: dict[int, int] = {}
        self.wrk = wrk_path() if use_wrk else None
        self.why_not_wrk = "wrk not found" if use_wrk else "--python-client"
        self.file = workdir / "requests.bin"
        self.script = workdir / "requests.lua"
        if self.wrk:
            self.file.write_bytes(b"".join(requests))
            self.script.write_text(WRK_SCRIPT)

    @property
    def name(self) -> str:
        if self.wrk:
            return f"wrk (1 thread, {self.connections} connections)"
        return (
            f"Python asyncio client ({self.connections} connections; {self.why_not_wrk}:"
            " the client limits the figures)"
        )

    def burst(
        self,
        port: int,
        seconds: float,
        stop_when: Callable[[], bool] | None = None,
        pace: float | None = None,
    ) -> Burst:
        """Closed loop for `seconds`, or until `stop_when()` holds (checked every 10 ms).
        `pace` (wrk only): about that many requests a second, each connection waiting
        connections/pace seconds (whole milliseconds) before its next request."""
        offset = self.offsets.get(port, 0)
        if pace is not None and not self.wrk:
            raise RuntimeError("a paced burst needs wrk")
        if self.wrk:
            result = self._wrk(port, seconds, offset, stop_when, pace)
        else:
            result = asyncio.run(self._python(port, seconds, offset, stop_when))
        # Requests in flight when the burst stopped were sent but not counted: skip them too.
        self.offsets[port] = offset + result.requests + self.connections
        return result

    def pause_ms(self, pace: float) -> int:
        """The whole-millisecond wait per connection that offers about `pace` requests/s."""
        return max(1, round(self.connections * 1000 / pace))

    def _wrk(
        self,
        port: int,
        seconds: float,
        offset: int,
        stop_when: Callable[[], bool] | None,
        pace: float | None = None,
    ) -> Burst:
        assert self.wrk is not None
        env = {
            **os.environ,
            "APIMW_BENCH_FILE": str(self.file),
            "APIMW_BENCH_SIZE": str(len(self.requests[0])),
            "APIMW_BENCH_OFFSET": str(offset % len(self.requests)),
            "APIMW_BENCH_DELAY_MS": str(self.pause_ms(pace) if pace else 0),
        }
        duration = 3600 if stop_when else max(1, round(seconds))
        command = [self.wrk, "-t1", f"-c{self.connections}", f"-d{duration}s", "--latency"]
        command += ["-s", str(self.script), f"http://127.0.0.1:{port}{PATH}"]
        cpus = self.cpus
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        if stop_when is not None:
            deadline = time.monotonic() + seconds
            while not stop_when() and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.01)
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=duration + 60)
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("WRK "):
                data = json.loads(line[4:])
                return Burst(
                    data["requests"],
                    data["duration_us"] / 1e6,
                    data["status_errors"] + data["socket_errors"],
                    data["p50_us"] / 1000,
                    data["p99_us"] / 1000,
                )
        raise RuntimeError(f"wrk printed no summary: {out.decode(errors='replace')[-500:]}")

    async def _python(
        self, port: int, seconds: float, offset: int, stop_when: Callable[[], bool] | None
    ) -> Burst:
        pool = [await Connection.open(port) for _ in range(self.connections)]
        latencies: list[float] = []
        failures = 0
        sent = 0
        started = time.perf_counter()
        deadline = started + seconds
        total = len(self.requests)

        async def client(conn: Connection) -> None:
            nonlocal failures, sent
            while time.perf_counter() < deadline and not (stop_when and stop_when()):
                request = self.requests[(offset + sent) % total]
                sent += 1
                begin = time.perf_counter()
                status = await conn.exchange(request)
                latencies.append(time.perf_counter() - begin)
                failures += status != 200

        try:
            await asyncio.gather(*(client(conn) for conn in pool))
        finally:
            for conn in pool:
                conn.close()
        elapsed = time.perf_counter() - started
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
        p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
        return Burst(len(latencies), elapsed, failures, p50, p99)


class Connection:
    """One keep-alive HTTP/1.1 connection of the Python client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        """Send one request, read its response; returns the status."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return int(head[9:12])

    def close(self) -> None:
        self.writer.close()


async def fixed_rate(
    port: int,
    requests: list[bytes],
    rate: float,
    seconds: float,
    sent: Callable[[int, float], None],
    connections: int = 16,
) -> int:
    """Send requests[0..] at `rate`/s, each at its scheduled time, round-robin over connections;
    `sent(index, when)` is told each one's send time (its scheduled time when it left late, so a
    stalled server is not hidden). Returns the number of non-200 answers."""
    pool = [await Connection.open(port) for _ in range(connections)]
    count = min(len(requests), int(rate * seconds))
    begin = time.perf_counter() + 0.05
    failures = 0

    async def client(k: int, conn: Connection) -> None:
        nonlocal failures
        for i in range(k, count, connections):
            due = begin + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            sent(i, due if pause <= 0 else time.perf_counter())
            failures += await conn.exchange(requests[i]) != 200

    try:
        await asyncio.gather(*(client(k, conn) for k, conn in enumerate(pool)))
    finally:
        for conn in pool:
            conn.close()
    return failures
