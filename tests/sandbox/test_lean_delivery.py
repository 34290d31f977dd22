"""The lean delivery path keeps every delivery behaviour: http:// goes through apimw_cli.http1,
https:// through httpx, with the same headers, the same words for each failure, the same
timeout and success rule; attempts are recorded in batches that apply in order; the worker's
loop is the server stack's (uvloop when it imports)."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apimw_cli.protocol import delivery_headers
from apimw_cli.sandbox import delivery as delivery_module
from apimw_cli.sandbox.clock import Clock
from apimw_cli.sandbox.store import AttemptOutcome, FinishedAttempt, Store
from apimw_cli.sandbox.worker import DeliveryWorker
from tests.sandbox.support import (
    MakeApi,
    MakeSandbox,
    create_webhook,
    deliveries_of,
    emit,
    wait_verified,
)
from tests.support.endpoint import Behaviour
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def first_attempt(api: Any, webhook_id: str) -> dict[str, Any]:
    attempts: list[dict[str, Any]] = wait_for(
        lambda: found if (found := deliveries_of(api, webhook_id)) else None,
        timeout=15.0,
        what=f"an attempt to {webhook_id} to be recorded",
    )
    return attempts[-1]


def test_the_http1_headers_are_the_documented_delivery_headers() -> None:
    sent = [
        delivery_module._CONTENT_TYPE,
        delivery_module._USER_AGENT,
        (delivery_module._EVENT, b"message.sent"),
        (delivery_module._DELIVERY, b"dlv_1"),
    ]
    expected = delivery_headers("message.sent", "dlv_1")
    assert {k.decode(): v.decode() for k, v in sent} == expected


def test_a_delivery_over_http_has_the_headers_and_a_valid_signature(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    from apimw_cli.signing import sign

    api = make_sandbox_api(make_sandbox())
    hook = make_endpoint(unique_path=True)
    created = create_webhook(api, hook.url, secret="whsec_lean")
    wait_verified(api, created["id"])
    emit(api, "message.sent", {"message_id": "wamid.LEAN"})
    (delivery,) = hook.wait_deliveries(1)
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    assert delivery.delivery_id is not None
    expected = delivery_headers("message.sent", delivery.delivery_id)
    for name, value in expected.items():
        assert headers[name.lower()] == value
    assert headers["x-apimw-signature"] == sign(delivery.body, "whsec_lean")
    assert first_attempt(api, created["id"])["status_code"] == 200


def test_an_endpoint_slower_than_the_timeout_is_a_timed_out_attempt(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    api = make_sandbox_api(make_sandbox(delivery_timeout=0.3))
    hook = make_endpoint(Behaviour(delay=5.0), unique_path=True)
    created = create_webhook(api, hook.url)
    emit(api, "message.sent")
    attempt = first_attempt(api, created["id"])
    assert attempt["status_code"] is None
    assert attempt["error"] == "timed out after 0.3s"


@pytest.mark.parametrize("status", [201, 204, 301, 500])
def test_only_a_200_is_success_over_http(
    status: int, make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    api = make_sandbox_api(make_sandbox())
    hook = make_endpoint(Behaviour(status=status, body=b""), unique_path=True)
    created = create_webhook(api, hook.url)
    emit(api, "message.sent")
    attempt = first_attempt(api, created["id"])
    assert (attempt["status_code"], attempt["error"]) == (status, f"HTTP {status}")


def test_an_https_webhook_still_goes_through_httpx(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi
) -> None:
    api = make_sandbox_api(make_sandbox())
    created = create_webhook(api, f"https://127.0.0.1:{free_port()}/hook")
    assert wait_verified(api, created["id"])["verified"] is False
    emit(api, "message.sent")
    attempt = first_attempt(api, created["id"])
    assert attempt["error"].startswith("connection failed: ConnectError: "), attempt


class _Canned(socketserver.BaseRequestHandler):
    """Reads a request head and answers with the server's canned bytes, then closes."""

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        self.request.sendall(self.server.answer)  # type: ignore[attr-defined]


@contextmanager
def canned_server(answer: bytes) -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Canned)
    server.daemon_threads = True
    server.answer = answer  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


HUGE = 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        (b"this is not HTTP\r\n\r\n", None, "connection failed: RemoteProtocolError: "),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", None, "connection failed: "),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % HUGE + b"x" * HUGE,
            200,
            None,
        ),
        # A control character in a header is no valid answer (httpx's h11 refuses it too).
        (
            b"HTTP/1.1 200 OK\r\nX-Evil: \x1b[31m\r\nContent-Length: 0\r\n\r\n",
            None,
            "connection failed: RemoteProtocolError: ",
        ),
    ],
    ids=["not-http", "cut-short", "huge-body", "escape-in-header"],
)
def test_hostile_answers_are_recorded_never_stuck(
    make_sandbox: MakeSandbox,
    make_sandbox_api: MakeApi,
    answer: bytes,
    status: int | None,
    error: str | None,
) -> None:
    api = make_sandbox_api(make_sandbox())
    with canned_server(answer) as url:
        created = create_webhook(api, url)
        wait_verified(api, created["id"])
        emit(api, "message.sent")
        attempt = first_attempt(api, created["id"])
    assert attempt["status_code"] == status, attempt
    if error is None:
        assert attempt["error"] is None
    else:
        assert attempt["error"].startswith(error), attempt


def test_a_challenge_answer_beyond_the_cap_is_refused_not_read_whole(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi
) -> None:
    body = b" " * (delivery_module.MAX_ANSWER + 10)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    api = make_sandbox_api(make_sandbox())
    with canned_server(answer) as url:
        created = create_webhook(api, url)
        verified = wait_verified(api, created["id"])
    assert verified["verified"] is False
    assert verified["verification_error"] == "the endpoint answered 200 without the challenge value"


# --- batches -------------------------------------------------------------------------------


def _claimed(store: Store, webhooks: int, events: int) -> list[Any]:
    for n in range(webhooks):
        store.webhooks.create(
            url=f"http://127.0.0.1:1/{n}",
            events=["message.sent"],
            secret=None,
            active=True,
            description=None,
            now=0,
        )
    for _ in range(events):
        store.deliveries.enqueue_event("message.sent", b"{}", 1.0)
    return store.deliveries.claim_due(2.0, webhooks * events)


def test_a_batch_applies_its_attempts_in_order() -> None:
    store = Store(None)
    try:
        claimed = _claimed(store, webhooks=1, events=6)
        webhook_id = claimed[0].webhook_id
        outcomes = [None, "HTTP 500", "HTTP 500", None, "HTTP 500", "HTTP 500"]
        batch = [
            FinishedAttempt(d, 200 if e is None else 500, e, 1, 10.0 + i, 60.0)
            for i, (d, e) in enumerate(zip(claimed, outcomes, strict=True))
        ]
        recorded = store.deliveries.record_attempts(batch)
        assert [o.next_at for o in recorded] == [None, 71.0, 72.0, None, 74.0, 75.0]
        webhook = store.webhooks.get(webhook_id)
        assert webhook is not None
        assert webhook["failure_count"] == 2  # reset by the success in the middle
        assert webhook["last_delivery_status"] == 500
        attempts, total = store.deliveries.attempts(webhook_id, limit=10)
        assert total == 6
        assert [a["error"] for a in reversed(attempts)] == outcomes
        # The fifth failure of an event (no retry left) disables the webhook, in the batch.
        last = FinishedAttempt(claimed[0], None, "timed out after 5s", 5000, 20.0, None)
        (outcome,) = store.deliveries.record_attempts([last])
        assert outcome.disabled_reason is not None and "timed out" in outcome.disabled_reason
        webhook = store.webhooks.get(webhook_id)
        assert webhook is not None and webhook["active"] is False
    finally:
        store.close()


def test_one_bad_record_costs_only_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    records: list[tuple[str, dict[str, Any]]] = []
    store = Store(None)
    worker = DeliveryWorker(store, Clock(), log=lambda kind, fields: records.append((kind, fields)))
    try:
        good, bad = _claimed(store, webhooks=2, events=1)
        real = store.deliveries.record_attempts

        def picky(batch: Sequence[FinishedAttempt]) -> list[AttemptOutcome]:
            if any(f.delivery.id == bad.id for f in batch):
                raise RuntimeError("the disk is full")
            return real(batch)

        monkeypatch.setattr(store.deliveries, "record_attempts", picky)
        worker._finished = [
            FinishedAttempt(good, 200, None, 1, 3.0, None),
            FinishedAttempt(bad, 200, None, 1, 3.0, None),
        ]
        worker._flush()
        assert store.deliveries.attempts(good.webhook_id, limit=5)[1] == 1
        assert store.deliveries.attempts(bad.webhook_id, limit=5)[1] == 0
        # The bad one is back in line, to be sent again.
        assert [d.id for d in store.deliveries.claim_due(4.0, 10)] == [bad.id]
    finally:
        store.close()
    kinds = [kind for kind, _ in records]
    assert kinds.count("delivery") == 1
    errors = [fields for kind, fields in records if kind == "error"]
    assert errors == [
        {
            "where": f"recording attempt 1 of {bad.id}",
            "error": "RuntimeError: the disk is full",
        }
    ]


def test_attempts_that_finished_are_recorded_when_the_worker_stops() -> None:
    store = Store(None)
    worker = DeliveryWorker(store, Clock())
    try:
        (claimed,) = _claimed(store, webhooks=1, events=1)
        worker.start()
        worker._finished.append(FinishedAttempt(claimed, 200, None, 1, 3.0, None))
        worker.stop()
        assert store.deliveries.attempts(claimed.webhook_id, limit=5)[1] == 1
    finally:
        store.close()


# --- the loop ------------------------------------------------------------------------------


@pytest.mark.skipif(
    sys.platform == "win32" or sys.implementation.name != "cpython", reason="no uvloop"
)
def test_the_worker_runs_on_uvloop_when_asked(make_endpoint: MakeEndpoint) -> None:
    uvloop = pytest.importorskip("uvloop")
    store = Store(None)
    worker = DeliveryWorker(store, Clock(), loop="uvloop")
    hook = make_endpoint(unique_path=True)
    store.webhooks.create(
        url=hook.url, events=["message.sent"], secret=None, active=True, description=None, now=0
    )
    worker.start()
    try:
        assert isinstance(worker._loop, uvloop.Loop)
        worker.emit("message.sent", {"message_id": "wamid.UV"})
        hook.wait_deliveries(1)
    finally:
        worker.stop()
        store.close()


def test_the_worker_falls_back_to_asyncio_when_uvloop_does_not_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    store = Store(None)
    worker = DeliveryWorker(store, Clock(), loop="uvloop")
    worker.start()
    try:
        assert type(worker._loop).__module__.startswith("asyncio")
        assert isinstance(worker._loop, asyncio.AbstractEventLoop)
    finally:
        worker.stop()
        store.close()


NO_HTTPX_SCRIPT = r"""
import json, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from apimw_cli.sandbox.server import SandboxConfig, run_in_thread
from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET

got = []

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        event = json.loads(body)
        got.append(event["type"])
        answer = event.get("challenge", "ok").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass

hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()

def call(base, path, body, token=None):
    data = json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/{path}", data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)["data"]

with run_in_thread(SandboxConfig(port=0, ephemeral=True, rate_limit=0)) as running:
    base = running.base_url
    credentials = {"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET}
    token = call(base, "auth/token", credentials)["access_token"]
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    call(base, "webhooks", {"url": url, "events": ["message.sent"]}, token)
    call(base, "sandbox/events", {"type": "message.sent"}, token)
    deadline = time.monotonic() + 20
    # The challenge goes out in the background: it and the event may arrive in either order.
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
print(json.dumps({"got": got, "httpx": "httpx" in sys.modules}))
"""


def test_a_sandbox_with_only_http_webhooks_never_imports_httpx() -> None:
    import json
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", NO_HTTPX_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(outcome["got"]) == ["message.sent", "webhook.verification"], outcome
    assert outcome["httpx"] is False, "httpx was imported for http:// webhooks"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=30),
    st.lists(st.integers(1, 8), min_size=1, max_size=30),
)
def test_batches_of_any_split_leave_the_webhooks_as_one_by_one_would(
    outcomes: list[tuple[int, bool]], splits: list[int]
) -> None:
    """failure_count is the run of failures since the last success and last_delivery_status
    the last attempt's, however the attempts were cut into batches."""
    store = Store(None)
    try:
        claimed = _claimed(store, webhooks=3, events=len(outcomes))
        by_webhook: dict[str, list[Any]] = {}
        for delivery in claimed:
            by_webhook.setdefault(delivery.webhook_id, []).append(delivery)
        ids = sorted(by_webhook)
        finished = [
            FinishedAttempt(
                by_webhook[ids[w]].pop(), 200 if ok else 500, None if ok else "HTTP 500", 1,
                float(n), 60.0,
            )
            for n, (w, ok) in enumerate(outcomes)
        ]  # fmt: skip
        start = 0
        for size in [*splits, len(finished)]:
            if start < len(finished):
                store.deliveries.record_attempts(finished[start : start + size])
            start += size
        for w, webhook_id in enumerate(ids):
            mine = [ok for v, ok in outcomes if v == w]
            webhook = store.webhooks.get(webhook_id)
            assert webhook is not None
            run = 0
            for ok in mine:
                run = 0 if ok else run + 1
            assert webhook["failure_count"] == run
            expected_status = None if not mine else 200 if mine[-1] else 500
            assert webhook["last_delivery_status"] == expected_status
    finally:
        store.close()
