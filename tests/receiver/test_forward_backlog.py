"""A forward queue that falls behind keeps bodies out of memory: past its budget a job holds
only its place in the session log (or a private spill file) and is read back in turn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apimw_cli.receiver import forwarder as forwarder_module
from apimw_cli.signing import sign
from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import SECRET, event_body, headers_map
from tests.support.waiting import wait_for


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forwarder_module, "MEMORY_JOBS", 10)


@pytest.mark.parametrize("record", [True, False], ids=["from-the-log", "no-record"])
def test_a_backlog_is_forwarded_in_order_byte_for_byte(
    small_budget: None, start_receiver: StartReceiver, start_app: StartApp, record: bool,
    tmp_path: Path,
) -> None:  # fmt: skip
    app = start_app(delay=lambda n: 30.0 if n == 0 else 0.0)  # the first answer waits
    live = start_receiver(forward_to=(app.url,), record=tmp_path / "s.jsonl" if record else None)
    bodies = [event_body(n=n, text="é\u2028\x1b") for n in range(300)]
    for n, body in enumerate(bodies):
        assert live.post(body, delivery=f"dlv_{n}").status_code == 200
    forwarder = live.running.forwarder
    assert forwarder is not None and forwarder.spilling
    assert forwarder.pending >= 290
    app.release.set()
    hits = app.wait_hits(300, timeout=30)
    assert [h.body for h in hits] == bodies
    for n, hit in enumerate(hits):
        headers = headers_map(hit)
        assert headers["x-apimw-signature"] == sign(bodies[n], SECRET)
        assert headers["x-apimw-delivery"] == f"dlv_{n}"
    live.sink.wait_forwarded(300, timeout=10)
    assert all(f.status == 200 for f in live.sink.forwarded)
    wait_for(lambda: forwarder.pending == 0, what="an empty queue")
    assert not forwarder.spilling


def test_a_job_whose_line_is_gone_is_reported_not_raised(
    small_budget: None, start_receiver: StartReceiver, start_app: StartApp
) -> None:
    app = start_app(delay=lambda n: 30.0 if n == 0 else 0.0)
    live = start_receiver(forward_to=(app.url,))
    for n in range(20):
        assert live.post(event_body(n=n)).status_code == 200
    os.truncate(live.record, 0)  # someone emptied the log under us
    app.release.set()
    outcomes = live.sink.wait_forwarded(20, timeout=20)
    failed = [f for f in outcomes if f.status is None]
    assert failed and all("could not read it back" in (f.error or "") for f in failed)
    assert len(app.wait_hits(20 - len(failed))) == 20 - len(failed)


_RSS_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pathlib import Path
    from apimw_cli.models import Received
    from apimw_cli.receiver.forwarder import Forwarder
    from apimw_cli.receiver.recorder import Recorder

    COUNT = int(sys.argv[2])
    def event(n):  # a distinct 1 KB body each, as real events are
        return json.dumps({"type": "message.sent", "n": n, "data": {"text": "x" * 1000}}).encode()
    headers = [(b"content-type", b"application/json"), (b"x-apimw-signature", b"sha256=" + b"0")]

    async def main():
        async def hold(reader, writer):  # an app that never answers
            await reader.read()
            writer.close()
        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        outcomes = []
        with Recorder(Path(sys.argv[1])) as recorder:
            forwarder = Forwarder([f"http://127.0.0.1:{port}/"], 60, 1, outcomes.append, recorder)
            await forwarder.start()
            for n in range(COUNT):
                body = event(n)
                rid = f"rec_{n:012x}"
                received = Received(rid, time.time(), "POST", "/", {}, body, 200, "event")
                where = recorder.write_request(received, locate=forwarder.spilling)
                forwarder.submit(received.record_id, body, headers, None, where)
                if n % 1000 == 0:
                    await asyncio.sleep(0)
            pending = forwarder.pending
            # VmHWM, not ru_maxrss: on Linux the latter starts from the parent's peak (pytest's).
            status = Path("/proc/self/status").read_text()
            rss = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1])
            rss //= 1024
            await forwarder.drain(0.1)
        server.close()
        await server.wait_closed()
        print(json.dumps({"pending": pending, "max_rss_mb": rss, "reported": len(outcomes)}))

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmHWM")
def test_a_backlog_of_100000_events_stays_under_100_mb(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(tmp_path / "s.jsonl"), "100000"],
        capture_output=True,
        text=True,
        timeout=110,
        check=True,
    )
    assert "Traceback" not in done.stderr, done.stderr
    result = json.loads(done.stdout)
    assert result["pending"] == 100_000
    assert result["max_rss_mb"] < 100, result
    # Nothing vanished: every queued job was reported (here as not forwarded, at shutdown).
    assert result["reported"] == 100_000
