"""`apimw listen` under hostile conditions, end to end: real `listen` processes on loopback.

- stdout stalls (a pipe nobody reads): events are still recorded and answered, memory stays
  bounded, and the view says how many it could not show once it catches up;
- the disk fills up (a real tmpfs): events that cannot be recorded are answered 503, the view
  says so and says when recording resumed, and the session log holds exactly the acknowledged
  events, each readable and replayable;
- the app is slower than the senders: the forward queue spills to disk, `listen` reports the
  backlog, and every event still reaches the app in order, byte for byte;
- the reader of stdout goes away (`listen | head -n 3`): listen stops cleanly and deletes the
  temporary webhook it registered;
- a listen killed with SIGKILL leaves its temporary webhook behind on a shared sandbox: the
  next listen removes it, and the sandbox stops delivering to the dead port.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from apimw_cli.receiver.recorder import read_records, record_body
from apimw_cli.settings import ENV_SANDBOX_URL, SANDBOX_API_KEY, SANDBOX_API_SECRET
from apimw_cli.signing import sign
from tests.support.cli import run
from tests.support.waiting import wait_for

SECRET = "whsec_hostile_e2e"
SECRET_VAR = "APIMW_TEST_LISTEN_SECRET"  # the isolated env drops APIMW_*: the test sets it
BEHIND = re.compile(r"([\d,]+) events? not shown: the view fell behind; all are in the session log")


# --------------------------------------------------------------------------- helpers


def event(n: int, size: int = 0, event_type: str = "message.sent") -> bytes:
    """A compact event, unique per `n`, padded with about `size` bytes of text."""
    payload = {
        "type": event_type,
        "timestamp": "2024-01-15T10:30:00Z",
        "data": {"message_id": f"wamid.HOSTILE{n}", "to": "+14155550123", "text": "x" * size},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def headers_for(body: bytes, n: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-APIMW-Signature": sign(body, SECRET),
        "X-APIMW-Delivery": f"dlv_{n}",
    }


def vm_kib(pid: int, field_name: str) -> int:
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field_name} in /proc/{pid}/status")


def ndjson(text: str) -> list[dict[str, Any]]:
    """The records of NDJSON output (a line still being written is left out)."""
    lines = text.split("\n")[:-1]  # the text after the last line feed is not a line yet
    return [json.loads(line) for line in lines if line.strip()]


class Drain:
    """Reads a pipe to its end in a thread, so the writer never blocks on it, into a file (the
    test process keeps no copy of it: it can be tens of MB); notes whether `needle` passed."""

    def __init__(self, pipe: IO[bytes], path: Path, needle: bytes) -> None:
        self._pipe = pipe
        self.path = path
        self._needle = needle
        self.seen = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = self._pipe.fileno()
        tail = b""
        with self.path.open("wb") as file:
            while chunk := os.read(fd, 1 << 16):
                file.write(chunk)
                file.flush()
                if self._needle in tail + chunk:
                    self.seen.set()
                tail = chunk[-len(self._needle) :]

    def join(self, timeout: float = 30.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the pipe never reached its end"


@dataclass
class Listen:
    """A running `apimw listen`; stderr (and stdout, unless a pipe is wanted) go to files."""

    proc: subprocess.Popen[bytes]
    url: str
    stderr_path: Path
    stdout_path: Path | None

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        assert self.stdout_path is not None
        return self.stdout_path.read_text(errors="replace")


@dataclass
class Processes:
    """Every process a test starts: killed (and reaped) at teardown if still running."""

    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    files: list[IO[bytes]] = field(default_factory=list)

    def listen(self, tmp_path: Path, name: str, *args: str, stdout_pipe: bool = False) -> Listen:
        ready = tmp_path / f"{name}.ready"
        err_path = tmp_path / f"{name}.stderr"
        out_path = None if stdout_pipe else tmp_path / f"{name}.stdout"
        err = err_path.open("wb")
        self.files.append(err)
        out: IO[bytes] | int = subprocess.PIPE
        if out_path is not None:
            out = out_path.open("wb")
            self.files.append(out)
        proc = subprocess.Popen(
            [sys.executable, "-m", "apimw_cli", "listen", "--port", "0",
             "--ready-file", str(ready), *args],
            stdout=out,
            stderr=err,
            # A listen that does not stop dumps every thread's stack on SIGABRT (see stop()).
            env={**os.environ, "PYTHONFAULTHANDLER": "1", SECRET_VAR: SECRET},
        )  # fmt: skip
        self.started.append(proc)

        def url() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"listen exited {proc.returncode}: {err_path.read_text()}")
            return ready.read_text().strip() if ready.exists() else None

        return Listen(proc, wait_for(url, 30, "listen to be ready"), err_path, out_path)

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        for file in self.files:
            file.close()


@pytest.fixture
def procs() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.close()


def stop(listen: Listen, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
    """Send `sig` and wait; when listen hangs, fail with its threads' stacks (faulthandler)."""
    proc = listen.proc
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(10)
        raise AssertionError(
            f"listen did not stop on {sig.name}:\n{listen.stderr[-6000:]}"
        ) from None


class App:
    """A local app: keeps the headers and body of each request in arrival order, answers 200.

    With `hold`, every request waits until `released` is set (or 60 s), playing a busy app.
    HTTP/1.1 keep-alive, as a real app server speaks it.
    """

    def __init__(self, *, hold: bool = False) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.arrived = threading.Event()  # a request arrived (and, with hold, waits)
        if not hold:
            self.released.set()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The status line and the body go out in two writes: with Nagle's algorithm the
            # second waits for the client's delayed ACK, 40 ms an answer (real servers set
            # TCP_NODELAY too).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                app.arrived.set()
                app.released.wait(60)
                with app.lock:
                    app.bodies.append(body)
                    app.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def count(self) -> int:
        with self.lock:
            return len(self.bodies)

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)


@contextlib.contextmanager
def local_app(*, hold: bool = False) -> Iterator[App]:
    app = App(hold=hold)
    try:
        yield app
    finally:
        app.close()


# --------------------------------------------------------------------------- a sandbox process


@dataclass
class SandboxProcess:
    """`apimw -o json sandbox` as a separate process; its NDJSON log is collected as it comes."""

    proc: subprocess.Popen[bytes]
    base_url: str
    records: list[dict[str, Any]]
    lock: threading.Lock

    def log(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.records if r.get("record") == kind]

    def bearer(self) -> dict[str, str]:
        answer = httpx.post(
            f"{self.base_url}/auth/token",
            json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET},
        )
        return {"Authorization": f"Bearer {answer.json()['data']['access_token']}"}

    def emit(self, event_type: str = "message.sent") -> int:
        """Make the sandbox send an event; returns to how many webhooks it delivers it."""
        answer = httpx.post(
            f"{self.base_url}/sandbox/events", json={"type": event_type}, headers=self.bearer()
        )
        answer.raise_for_status()
        return int(answer.json()["data"]["deliveries"])


def webhooks_listed() -> list[dict[str, Any]]:
    """`apimw --sandbox -o json webhooks list`, against the sandbox APIMW_SANDBOX_URL names."""
    result = run("--sandbox", "-o", "json", "webhooks", "list")
    assert result.exit_code == 0, result.stderr
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return listed


@pytest.fixture
def sandbox_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxProcess]:
    """A sandbox that outlives the listens of a test (`apimw sandbox --port 0`), retrying a
    failed delivery after 1.5 s, then 7.5 s, 45 s (--time-scale 40)."""
    ready = tmp_path / "sandbox.ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "apimw_cli", "-o", "json", "sandbox", "--port", "0",
         "--ephemeral", "--rate-limit", "0", "--time-scale", "40", "--quiet",
         "--ready-file", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def collect() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                records.append(json.loads(line))

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:

        def url() -> str | None:
            assert proc.poll() is None, "the sandbox exited"
            return ready.read_text().strip() if ready.exists() else None

        base_url = wait_for(url, 30, "the sandbox to be ready")
        monkeypatch.setenv(ENV_SANDBOX_URL, base_url)
        yield SandboxProcess(proc, base_url, records, lock)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        reader.join(10)
        assert proc.stdout is not None
        proc.stdout.close()


# --------------------------------------------------------------------------- 1. stdout stalls


def blocked_writing(pid: int, fd: int) -> bool:
    """Whether process `pid`'s main thread is blocked writing to the pipe whose read end is
    `fd`: the kernel says where it sleeps (wchan: in the write, or in the select() that waits
    for room before each write, output/batched.py); where it hides that, or in select(), the
    pipe holds about as much as it can (short of one ~20 KB line: writes do not fill every
    page)."""
    wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
    if "pipe_write" in wchan:
        return True
    if wchan not in ("", "0") and "select" not in wchan and "poll" not in wchan:
        return False
    queued = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, queued)
    capacity = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    return int.from_bytes(queued, sys.byteorder) > capacity - 24 * 1024


@pytest.mark.slow
@pytest.mark.parametrize("output", ["pretty", "ndjson"])
def test_a_stalled_stdout_loses_no_event_and_keeps_memory_bounded(
    output: str, tmp_path: Path, procs: Processes
) -> None:
    total, size = 5_000, 20_000
    session = tmp_path / "session.jsonl"
    listen = procs.listen(
        tmp_path, "listen", "--no-tunnel", "--secret-env", SECRET_VAR, "--format", output,
        "--record", str(session), stdout_pipe=True,
    )  # fmt: skip
    assert listen.proc.stdout is not None
    out_fd = listen.proc.stdout.fileno()
    # Digests, not the 100 MB of bodies: the test process keeps its own memory small too (a
    # child's ru_maxrss starts from its parent's peak).
    sent: dict[str, bytes] = {}
    with httpx.Client(timeout=30) as http:
        for n in range(total):
            body = event(n, size)
            answer = http.post(listen.url, content=body, headers=headers_for(body, n))
            assert answer.status_code == 200, (n, answer.status_code, answer.text)
            sent[f"dlv_{n}"] = hashlib.sha256(body).digest()
    # Nobody has read stdout: the pipe is full, the view is blocked writing to it, and it has not
    # reached the point where it says what it could not show.
    assert blocked_writing(listen.proc.pid, out_fd)
    assert "not shown" not in listen.stderr
    high_water = vm_kib(listen.proc.pid, "VmHWM")  # the peak of VmRSS so far
    assert high_water < 100 * 1024, f"listen's RSS peaked at {high_water // 1024} MiB"

    recorded = {
        r["delivery_id"]: hashlib.sha256(record_body(r)).digest()
        for r in read_records(session)
        if r["record"] == "request"
    }
    assert recorded == sent  # all 5,000, byte for byte

    # The reader is back: the view catches up.
    stdout = Drain(listen.proc.stdout, tmp_path / "stdout", b'"record": "skipped"')
    if output == "pretty":
        wait_for(lambda: BEHIND.search(listen.stderr), 30, "the fell-behind warning")
    else:
        wait_for(stdout.seen.is_set, 30, "a skipped record")
    assert stop(listen) == 0, listen.stderr
    stdout.join()
    err = listen.stderr
    assert "Traceback" not in err
    if output == "pretty":
        out = stdout.path.read_text()
        shown = sum(1 for line in out.splitlines() if "→ message.sent" in line)
        skipped = sum(int(m.group(1).replace(",", "")) for m in BEHIND.finditer(err))
        assert f"summary: {total} events ({total} message.sent)" in err
    else:
        shown = skipped = 0
        last: dict[str, Any] = {}
        with stdout.path.open("rb") as lines:  # one at a time: events carry their 20 KB bodies
            for line in lines:
                last = json.loads(line)
                shown += last["record"] == "event"
                skipped += last["events"] if last["record"] == "skipped" else 0
        assert last["record"] == "summary"
        assert last["total"] == total and last["not_recorded"] == 0
    # Every event was either shown or counted as not shown; many were skipped (the view stalled).
    assert shown + skipped == total
    assert skipped > total // 2, (shown, skipped)
    print(f"{output}: shown {shown}, skipped {skipped}, RSS peak {high_water // 1024} MiB")


# --------------------------------------------------------------------------- 2. a full disk


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of `size` mounted at `where` (root only); the test is skipped otherwise."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up: {mounted.stderr.strip() or 'not root'}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_refuses_with_503_and_the_log_holds_exactly_the_acknowledged(
    tmp_path: Path, procs: Processes
) -> None:
    with small_tmpfs(tmp_path / "disk", "256k") as disk:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (224 * 1024))  # leaves ~32 KiB: about 20 events
        session = disk / "session.jsonl"
        listen = procs.listen(
            tmp_path, "listen", "--no-tunnel", "--secret-env", SECRET_VAR,
            "--record", str(session),
        )  # fmt: skip
        try:
            statuses: dict[int, int] = {}
            acknowledged: list[bytes] = []
            refusals: list[str] = []
            sizes = [0]  # of the session log after each acknowledged event
            with httpx.Client(timeout=10) as http:

                def send(n: int) -> int:
                    body = event(n, 1_000)
                    answer = http.post(listen.url, content=body, headers=headers_for(body, n))
                    statuses[n] = answer.status_code
                    if answer.status_code == 200:
                        acknowledged.append(body)
                        sizes.append(session.stat().st_size)
                    else:
                        refusals.append(answer.text)
                        # Nothing of the refused line is left (it is written before the answer).
                        assert session.stat().st_size == sizes[-1]
                    return answer.status_code

                n = 0
                while len(refusals) < 5:  # until the disk is full and a few were refused
                    assert n < 500, "the disk never filled up"
                    send(n)
                    n += 1
                first_full = len(acknowledged)
                assert set(statuses.values()) == {200, 503}
                assert first_full > 0
                assert refusals == ["not recorded: No space left on device"] * len(refusals)
                wait_for(
                    lambda: (
                        "warning: not recorded: No space left on device. Events are "
                        "answered 503" in listen.stderr
                    ),
                    10,
                    "the not-recorded warning",
                )
                filler.unlink()  # room again
                for _ in range(20):
                    assert send(n) == 200
                    n += 1
            refused = len(refusals)
            wait_for(
                lambda: f"recording resumed ({refused} events refused meanwhile)" in listen.stderr,
                10,
                "the recording-resumed warning",
            )
        finally:
            assert stop(listen) == 0, listen.stderr
        assert "Traceback" not in listen.stderr
        assert f"{refused} refused (not recorded)" in listen.stderr
        assert listen.stderr.count("warning: not recorded:") == 1  # said once, not per event
        assert listen.stdout.count("answered 503, not recorded: No space left on device") == (
            refused
        )

        # The session log: every acknowledged event, whole, in order; nothing refused; no
        # fragment of a refused line glued to the next one.
        logged = run("-o", "json", "events", "log", str(session))
        assert logged.exit_code == 0, logged.stderr
        assert "skipped" not in logged.stderr
        rows = json.loads(logged.stdout)
        assert len(rows) == len(acknowledged) == n - refused
        assert {(r["kind"], r["type"], r["status"]) for r in rows} == {
            ("event", "message.sent", 200)
        }
        assert [record_body(r) for r in read_records(session)] == acknowledged
        with local_app() as app:
            replayed = run("events", "replay", str(session), "--all", "--to", app.url)
            assert replayed.exit_code == 0, replayed.stderr
            assert app.bodies == acknowledged
        # (A log that was full in the middle of a page means the first refused line was partly
        # written, then taken back.)
        print(
            f"full disk: {first_full} recorded before it filled ({sizes[first_full]} bytes, "
            f"{sizes[first_full] % 4096} into a page), {refused} refused"
        )


# --------------------------------------------------------------------------- 3. a slow app


@pytest.mark.slow
@pytest.mark.parametrize("recording", ["record", "no-record"])
def test_a_forward_backlog_is_reported_and_delivered_in_order(
    recording: str, tmp_path: Path, procs: Processes
) -> None:
    total = 3_000
    session = tmp_path / "session.jsonl"
    where = ["--record", str(session)] if recording == "record" else ["--no-record"]
    with local_app(hold=True) as app:
        listen = procs.listen(
            tmp_path, "listen", "--no-tunnel", "--secret-env", SECRET_VAR, "--format", "ndjson",
            "--forward-to", app.url, *where,
        )  # fmt: skip
        sent: list[bytes] = []
        started = time.monotonic()
        with httpx.Client(timeout=10) as http:
            for n in range(total):
                body = event(n, 500)
                answer = http.post(listen.url, content=body, headers=headers_for(body, n))
                assert answer.status_code == 200, (n, answer.text)
                sent.append(body)
        wait_for(app.arrived.is_set, 10, "the first forward at the app")
        assert app.count() == 0  # the app holds it: the others wait in listen's queue

        def notes() -> list[dict[str, Any]]:
            return [
                r for r in ndjson(listen.stdout) if r["record"] == "note" and "forward_backlog" in r
            ]

        wait_for(lambda: notes(), 10, "the forwarding-is-behind note")
        behind = notes()[0]
        assert behind["forward_backlog"] >= 100
        assert re.fullmatch(r"forwarding is behind: [\d,]+ events waiting for your app",
                            behind["message"])  # fmt: skip
        app.released.set()
        wait_for(lambda: app.count() >= total, 60, f"{total} events at the app")
        wait_for(lambda: notes()[-1]["forward_backlog"] == 0, 10, "forwarding caught up")
        assert notes()[-1]["message"] == "forwarding caught up"
        assert stop(listen) == 0, listen.stderr
        elapsed = time.monotonic() - started
    assert app.bodies == sent  # all of them, in order, byte for byte
    assert [h["x-apimw-delivery"] for h in app.headers] == [f"dlv_{n}" for n in range(total)]
    assert all(
        h["x-apimw-signature"] == sign(b, SECRET) for h, b in zip(app.headers, sent, strict=True)
    )
    summary = ndjson(listen.stdout)[-1]
    assert summary["record"] == "summary"
    assert (summary["total"], summary["forwarded"], summary["forward_failures"]) == (
        total,
        total,
        0,
    )
    if recording == "record":
        forwards = [r for r in read_records(session) if r["record"] == "forward"]
        assert len(forwards) == total and {f["status"] for f in forwards} == {200}
    assert "Traceback" not in listen.stderr
    print(f"{recording}: {total} forwarded through a backlog in {elapsed:.1f} s")


# --------------------------------------------------------------------------- 4. | head -n 3


def read_lines(fd: int, count: int, timeout: float) -> list[bytes]:
    """The first `count` lines from the pipe `fd`, read without blocking past `timeout`."""
    deadline = time.monotonic() + timeout
    data = b""
    while data.count(b"\n") < count:
        left = deadline - time.monotonic()
        assert left > 0, f"fewer than {count} lines within {timeout} s: {data!r}"
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            chunk = os.read(fd, 4096)
            assert chunk, f"the pipe ended after {data!r}"
            data += chunk
    return data.split(b"\n")[:count]


def test_listen_piped_into_head_stops_cleanly_and_deletes_its_webhook(
    sandbox_process: SandboxProcess, tmp_path: Path, procs: Processes
) -> None:
    listen = procs.listen(
        tmp_path, "listen", "--sandbox", "--secret-env", SECRET_VAR, "--format", "ndjson",
        stdout_pipe=True,
    )  # fmt: skip
    assert listen.proc.stdout is not None
    first = [json.loads(line) for line in read_lines(listen.proc.stdout.fileno(), 3, 20)]
    # The webhook registered (and verified) before the header: head gets exactly those lines.
    assert [r["record"] for r in first] == ["note", "note", "ready"], first
    ready = first[2]
    assert first[0]["message"].startswith(f"registered temporary webhook {ready['webhook_id']}")
    [ours] = webhooks_listed()
    assert ours["id"] == ready["webhook_id"]
    listen.proc.stdout.close()  # `head -n 3` has what it wanted and exits
    answers: list[int] = []
    with httpx.Client(timeout=5) as http:
        n = 0
        deadline = time.monotonic() + 20
        while True:  # the first line listen cannot write ends it
            assert time.monotonic() < deadline, "listen kept running with nobody reading"
            body = event(n)
            with contextlib.suppress(httpx.TransportError):  # it stopped accepting
                answers.append(
                    http.post(listen.url, content=body, headers=headers_for(body, n)).status_code
                )
            n += 1
            with contextlib.suppress(subprocess.TimeoutExpired):
                listen.proc.wait(0.1)
                break
    assert listen.proc.wait(30) == 0, listen.stderr
    assert answers[0] == 200  # accepted, then listen found nobody to show it to
    print(f"head: listen stopped after {n} events; stderr: {listen.stderr!r}")
    assert "Traceback" not in listen.stderr
    assert "BrokenPipe" not in listen.stderr
    assert webhooks_listed() == []  # it deleted what it registered


# --------------------------------------------------------------------------- 5. kill -9


@pytest.mark.slow
def test_a_killed_listens_webhook_is_removed_by_the_next_and_no_longer_delivered(
    sandbox_process: SandboxProcess, tmp_path: Path, procs: Processes
) -> None:
    sandbox = sandbox_process
    killed = procs.listen(tmp_path, "killed", "--sandbox", "--format", "ndjson")
    [stale] = webhooks_listed()
    assert stale["description"].startswith("apimw listen (temporary) host=")
    assert f"pid={killed.proc.pid}" in stale["description"]
    killed.proc.kill()
    assert killed.proc.wait(10) == -signal.SIGKILL
    assert [w["id"] for w in webhooks_listed()] == [stale["id"]]  # nobody cleaned up

    # The sandbox delivers to the dead port, fails, and retries (after 1.5 s, then 7.5 s).
    assert sandbox.emit() == 1

    def to_stale() -> list[dict[str, Any]]:
        return [d for d in sandbox.log("delivery") if d["webhook_id"] == stale["id"]]

    wait_for(lambda: len(to_stale()) >= 2, 10, "two failed deliveries to the dead listen")
    assert all(d["error"] and d["status_code"] is None for d in to_stale())
    last = to_stale()[-1]
    retry_due = last["time"] + last["next_retry_in"]

    fresh = procs.listen(tmp_path, "fresh", "--sandbox", "--format", "ndjson")
    pruned_at = time.time()
    notes = [r["message"] for r in ndjson(fresh.stdout) if r["record"] == "note"]
    assert f"removed stale temporary webhook {stale['id']} ({stale['url']})" in notes
    ready = next(r for r in ndjson(fresh.stdout) if r["record"] == "ready")
    listed = webhooks_listed()
    assert [w["id"] for w in listed] == [ready["webhook_id"]]
    assert f"pid={fresh.proc.pid}" in listed[0]["description"]

    # New events go to the new listen only, and the dead port gets no retry any more.
    assert sandbox.emit("message.read") == 1
    wait_for(
        lambda: any(r.get("type") == "message.read" for r in ndjson(fresh.stdout)),
        15,
        "the event at the new listen",
    )
    assert retry_due > pruned_at, "the retry was due before the prune: the test is too slow"
    print(f"kill -9: pruned {pruned_at - last['time']:.1f} s after the last failed delivery")
    wait_for(lambda: time.time() > retry_due + 1.5, 15, "the time the retry was due")
    assert [d for d in to_stale() if d["time"] > pruned_at] == []
    assert stop(fresh) == 0, fresh.stderr
    assert webhooks_listed() == []
