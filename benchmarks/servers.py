"""The contenders of benchmarks/receiver.py, each in its own process, and how to drain them.

- a bare starlette app that answers 200 on uvicorn, with h11 + asyncio (`bare-h11`) or with
  httptools + uvloop (`bare-fast`): `python benchmarks/servers.py --serve h11|fast`;
- Node's `http` server verifying the HMAC (node_hmac_server.js);
- `apimw listen` as users run it (`python -m apimw_cli listen --no-tunnel --port 0`, a fixed
  secret so events verify, recording to a session log as it does by default), with
  `--format ndjson` into a pipe, or with the live view on a real pseudo-terminal of 160x45;
- the fast sink `listen --forward-to` forwards to (fast_receiver.py).

Every child's output is read as fast as it comes by a `Drain` thread, which counts lines and can
note when each event's `[dlv_xxxxxxxx]` label first appears (the live view's display lag).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import json
import os
import pty
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import cpu_seconds, pinned, rss_mb, stop_process
from benchmarks.load import LABEL, SECRET

HERE = Path(__file__).resolve().parent
SECRET_ENV = "APIMW_BENCH_SECRET"
COLUMNS, ROWS = 160, 45
HEAD = 1 << 14


class Drain(threading.Thread):
    """Reads a pipe or pty until it closes; counts lines; when `watching`, records the
    perf_counter time at which each `[dlv_xxxxxxxx]` label (its number) first showed."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.lines = 0
        self.bytes = 0
        self.watching = False
        self.seen: dict[int, float] = {}
        self.head = bytearray()  # the first HEAD bytes (listen's `ready` record is there)

    def run(self) -> None:
        tail = b""
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:  # a pty whose child exited reads EIO
                return
            if not chunk:
                return
            now = time.perf_counter()
            if len(self.head) < HEAD:
                self.head += chunk[: HEAD - len(self.head)]
            self.lines += chunk.count(b"\n")
            self.bytes += len(chunk)
            if self.watching:
                data = tail + chunk
                for match in LABEL.finditer(data):
                    self.seen.setdefault(int(match.group(1), 16), now)
                tail = data[-32:]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    drain: Drain | None = None
    notes: list[str] = field(default_factory=list)
    log: Path | None = None  # a listen's session log

    def fresh_log(self) -> None:
        """Empty the session log (listen appends on at the new end; its inspector, reading
        the file, starts its index over), so a round writes into a fresh log."""
        if self.log is not None:
            with contextlib.suppress(FileNotFoundError):
                os.truncate(self.log, 0)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_mb(self) -> float:
        return rss_mb(self.pid)


def _port_line(process: subprocess.Popen[bytes], what: str) -> int:
    assert process.stdout is not None
    line = process.stdout.readline().decode(errors="replace")
    if not line.startswith("PORT "):
        raise RuntimeError(f"{what} did not start: {line!r}")
    return int(line.split()[1])


@contextlib.contextmanager
def stdin_child(name: str, command: list[str], cpus: set[int] | None) -> Iterator[Server]:
    """A child that prints "PORT n" and serves until its stdin closes."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, SECRET_ENV: SECRET},
        preexec_fn=pinned(cpus),
    )
    try:
        yield Server(name, process, _port_line(process, name))
    finally:
        if process.stdin is not None:
            process.stdin.close()
        stop_process(process, signal.SIGTERM, 10)
        if process.stdout is not None:
            process.stdout.close()


def bare(stack: str, cpus: set[int] | None) -> contextlib.AbstractContextManager[Server]:
    command = [sys.executable, str(HERE / "servers.py"), "--serve", stack]
    return stdin_child(f"bare-{stack}", command, cpus)


def fast_stack_missing() -> str | None:
    missing = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m) is None]
    return f"{' and '.join(missing)} not installed" if missing else None


def node_missing() -> str | None:
    return None if shutil.which("node") else "node not found on PATH"


def node(cpus: set[int] | None) -> contextlib.AbstractContextManager[Server]:
    node_path = shutil.which("node") or "node"
    return stdin_child("node", [node_path, str(HERE / "node_hmac_server.js")], cpus)


def sink(cpus: set[int] | None) -> contextlib.AbstractContextManager[Server]:
    return stdin_child("sink", [sys.executable, str(HERE / "fast_receiver.py")], cpus)


def sink_deliveries(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as answer:
        return int(json.loads(answer.read())["deliveries"])


def sink_reached(port: int, count: int) -> Callable[[], bool]:
    """A condition: the sink has got at least `count` deliveries."""
    return lambda: sink_deliveries(port) >= count


@contextlib.contextmanager
def listen(
    name: str,
    workdir: Path,
    cpus: set[int] | None,
    live: bool = False,
    forward_to: str | None = None,
    tree: Path | None = None,
    inspect: bool | None = None,
    record: bool = True,
) -> Iterator[Server]:
    """`apimw listen` as users run it, in its own config and data directories; with `tree`,
    the apimw_cli of that source tree (PYTHONPATH comes before the installed package).
    `inspect`: None leaves the inspector as users get it, False adds --no-inspect, True an
    inspector on any free port (--inspect-port 0; `inspector_url` finds it). Without `record`,
    --no-record (no session log, and so no inspector either)."""
    home = workdir / name
    home.mkdir(parents=True)
    ready = home / "ready"
    env = {
        **os.environ,
        "APIMW_CONFIG_DIR": str(home / "config"),
        "APIMW_DATA_DIR": str(home / "data"),
        SECRET_ENV: SECRET,
    }
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "apimw_cli", "listen", "--no-tunnel", "--port", "0"]
    command += ["--secret-env", SECRET_ENV, "--ready-file", str(ready)]
    command += ["--record", str(home / "session.jsonl")] if record else ["--no-record"]
    if not live:
        command += ["--format", "ndjson"]
    if forward_to:
        command += ["--forward-to", forward_to]
    if inspect is not None:
        command += ["--inspect-port", "0"] if inspect else ["--no-inspect"]
    master = -1
    with open(home / "stderr", "wb") as stderr:
        if live:
            master, terminal = pty.openpty()
            fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
            env["TERM"] = "xterm-256color"
            for variable in ("NO_COLOR", "COLUMNS", "LINES"):
                env.pop(variable, None)
            process = subprocess.Popen(
                command, stdin=terminal, stdout=terminal, stderr=terminal, env=env, cwd=home,
                start_new_session=True, preexec_fn=pinned(cpus),
            )  # fmt: skip
            os.close(terminal)
            drain = Drain(master)
        else:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                env=env, cwd=home, preexec_fn=pinned(cpus),
            )  # fmt: skip
            assert process.stdout is not None
            drain = Drain(process.stdout.fileno())
    drain.start()
    try:
        deadline = time.monotonic() + 60
        while not (port := ready_port(ready)):
            if process.poll() is not None or time.monotonic() > deadline:
                problem = (home / "stderr").read_text(errors="replace")[-1000:]
                raise RuntimeError(f"{' '.join(command[2:])} did not start: {problem}")
            time.sleep(0.02)
        yield Server(name, process, port, drain, log=home / "session.jsonl" if record else None)
    finally:
        stop_process(process, signal.SIGINT, 15)
        drain.join(5)
        if process.stdout is not None:
            process.stdout.close()
        if master >= 0:
            os.close(master)
        report_errors(name, home / "stderr")


def ready_port(ready: Path) -> int | None:
    """The port of the URL listen wrote to its --ready-file; None until it is all there."""
    try:
        return urlsplit(ready.read_text().strip()).port
    except (OSError, ValueError):
        return None


def inspector_url(server: Server, timeout: float = 30) -> str:
    """The inspector's URL from the `ready` record of a `listen --format ndjson`."""
    assert server.drain is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in bytes(server.drain.head).splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("record") == "ready":
                    url = record.get("inspector")
                    if not isinstance(url, str):
                        raise RuntimeError(f"{server.name}: no inspector in {record}")
                    return url
        time.sleep(0.02)
    raise RuntimeError(f"{server.name}: no ready record within {timeout:g} s")


@contextlib.contextmanager
def watcher(url: str, sse: bool = False) -> Iterator[str]:
    """One viewer on the inspector page at `url` (inspector_client.py: headless Chromium, or
    an SSE client on /api/stream); yields what it watches with. It runs with the harness's CPU
    affinity (the client's CPU), as a user's browser would run beside the receiver."""
    command = [sys.executable, str(HERE / "inspector_client.py"), url, *(["--sse"] if sse else [])]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdin is not None
    try:
        first = process.stdout.readline().strip()
        if not first.startswith("WATCHING "):
            raise RuntimeError(f"the inspector's viewer did not start: {first!r}")
        yield first.removeprefix("WATCHING ")
    finally:
        try:
            saw = process.communicate(timeout=30)[0].strip()  # closes its stdin: it stops
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            saw = "(the viewer did not stop)"
        if saw:
            print(f"inspector viewer: {saw}", flush=True)


def report_errors(name: str, stderr: Path) -> None:
    """Say so when `listen` logged a traceback: its figures are then not the code's speed."""
    text = stderr.read_text(errors="replace") if stderr.exists() else ""
    if "Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        print(f"note: listen ({name}) logged {text.count('Traceback')} tracebacks: {last}")


# --------------------------------------------------------------------------- the bare apps


def serve_bare(stack: str) -> None:
    """Child process: a starlette app answering 200 on uvicorn's `stack`; stops at stdin EOF."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def ok(_request: Request) -> Response:
        return Response(status_code=200)

    app = Starlette(routes=[Route("/{path:path}", ok, methods=["POST"])])
    loop, http = ("uvloop", "httptools") if stack == "fast" else ("asyncio", "h11")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until uvicorn accepts them
    config = uvicorn.Config(
        app, loop=loop, http=http, log_level="warning", access_log=False, server_header=False
    )
    server = uvicorn.Server(config)

    def stop_at_eof() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=stop_at_eof, daemon=True).start()
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve one bare contender.")
    parser.add_argument("--serve", choices=["h11", "fast"], required=True)
    serve_bare(parser.parse_args().serve)
