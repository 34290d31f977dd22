"""No delivery is ever stuck: whatever fails while sending (an httpx error or any other
exception, an unreachable port, a URL stored before the URL rule existed), the attempt is
recorded with its reason, retried on the schedule, and the webhook is disabled after the fifth;
a challenge that cannot be sent records `verified: false` with the reason; a fault of the worker
itself is logged and the worker goes on."""

from __future__ import annotations

import asyncio
import logging
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli.http1 import Http1Client
from apimw_cli.sandbox import delivery as delivery_module
from apimw_cli.sandbox import demo
from apimw_cli.sandbox.background import LoopThread
from apimw_cli.sandbox.clock import Clock
from apimw_cli.sandbox.config import DB_NAME
from apimw_cli.sandbox.delivery import Sender
from apimw_cli.sandbox.store import Store
from apimw_cli.sandbox.worker import DeliveryWorker
from tests.sandbox.inprocess import TestClient, asgi_sandbox
from tests.sandbox.support import (
    MakeApi,
    MakeSandbox,
    create_webhook,
    data_of,
    deliveries_of,
    emit,
    get_webhook,
    wait_verified,
)
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for

VERY_FAST = 36000.0  # the whole retry schedule in about 0.26 s


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_disabled(api: httpx.Client, webhook_id: str) -> dict[str, Any]:
    return wait_for(
        lambda: w if (w := get_webhook(api, webhook_id))["active"] is False else None,
        timeout=20.0,
        interval=0.02,
        what=f"{webhook_id} to be disabled after 5 failed attempts",
    )


def assert_five_failures(api: httpx.Client, webhook_id: str, reason: str) -> None:
    """Five recorded failed attempts of one delivery, each saying `reason`; retries were
    scheduled after the first four, none after the fifth; the webhook is disabled."""
    webhook = wait_disabled(api, webhook_id)
    attempts = list(reversed(deliveries_of(api, webhook_id)))
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5], attempts
    assert len({a["id"] for a in attempts}) == 1, "one delivery, retried"
    for attempt in attempts:
        assert attempt["status_code"] is None
        assert reason in attempt["error"], attempt
    assert all(a["next_retry_at"] for a in attempts[:4]) and attempts[4]["next_retry_at"] is None
    assert webhook["failure_count"] == 5
    assert reason in webhook["disabled_reason"], webhook


class Boom(Exception):
    """An error no sender expects: not an httpx.HTTPError."""


def _raise_boom(*args: Any, **kwargs: Any) -> Any:
    raise Boom("boom while sending")


async def _async_boom(*args: Any, **kwargs: Any) -> Any:
    raise Boom("boom while sending")


@pytest.mark.parametrize(
    ("target", "replacement"),
    [
        # inside Sender.deliver (signing, for the http:// client): its own catch-all
        ("sign", _raise_boom),
        # inside Sender.deliver, the http:// client itself
        ("Http1Client.post", _async_boom),
        # Sender.deliver itself raising: the worker's backstop
        ("Sender.deliver", _async_boom),
    ],
)
def test_an_unexpected_error_while_sending_is_a_failed_attempt(
    make_sandbox: MakeSandbox,
    make_sandbox_api: MakeApi,
    make_endpoint: MakeEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    replacement: Any,
) -> None:
    api = make_sandbox_api(make_sandbox(time_scale=VERY_FAST))
    hook = make_endpoint(unique_path=True)
    created = create_webhook(api, hook.url, secret="whsec_boom")
    assert wait_verified(api, created["id"])["verified"] is True
    if target.startswith("Sender."):
        monkeypatch.setattr(Sender, target.split(".")[1], replacement)
    elif target.startswith("Http1Client."):
        monkeypatch.setattr(Http1Client, target.split(".")[1], replacement)
    else:
        monkeypatch.setattr(delivery_module, target, replacement)
    emit(api, "message.sent")
    assert_five_failures(api, created["id"], "Boom: boom while sending")
    assert hook.deliveries() == [], "nothing was sent"


def test_an_unreachable_port_fails_verification_and_every_attempt(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi
) -> None:
    api = make_sandbox_api(make_sandbox(time_scale=VERY_FAST))
    created = create_webhook(api, f"http://127.0.0.1:{free_port()}/hook")
    verified = wait_verified(api, created["id"])
    assert verified["verified"] is False
    assert "could not be reached" in verified["verification_error"]
    emit(api, "message.sent")
    assert_five_failures(api, created["id"], "connection failed: ConnectError")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("sign", "the challenge could not be sent (Boom: boom while sending)"),  # in its try
        ("echoes_challenge", "the challenge could not be sent (Boom: boom while sending)"),
    ],
)
def test_a_challenge_that_fails_unexpectedly_is_recorded_unverified(
    make_sandbox: MakeSandbox,
    make_sandbox_api: MakeApi,
    make_endpoint: MakeEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    reason: str,
) -> None:
    api = make_sandbox_api(make_sandbox())
    monkeypatch.setattr(delivery_module, target, _raise_boom)
    created = create_webhook(api, make_endpoint(unique_path=True).url, secret="whsec_x")
    verified = wait_verified(api, created["id"])
    assert verified["verified"] is False
    assert verified["verification_error"] == reason


@pytest.mark.parametrize(
    "stored_url",
    [
        "http://127.0.0.1:99999/hook",  # httpx takes the port, the socket layer does not
        "http://127.0.0.1:1/ho\r\nok",  # httpx.InvalidURL: no httpx.HTTPError
        "http://[::1/x",
        "https://xn--zz.example/",  # idna's error, raised by httpx
    ],
)
def test_a_url_stored_before_the_rule_is_never_stuck(
    tmp_path: Path, make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, stored_url: str
) -> None:
    """An older sandbox stored such URLs; their deliveries stayed `sending` forever."""
    first = make_sandbox(data_dir=tmp_path, time_scale=VERY_FAST)
    api = make_sandbox_api(first)
    created = create_webhook(api, f"http://127.0.0.1:{free_port()}/hook")
    wait_verified(api, created["id"])
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("UPDATE webhooks SET url = ? WHERE id = ?", (stored_url, created["id"]))
    emit(api, "message.sent")
    assert_five_failures(api, created["id"], "")
    errors = [a["error"] for a in deliveries_of(api, created["id"])]
    assert all(e and ("could not send" in e or "connection failed" in e) for e in errors), errors
    # Re-enabled, it is tried again (and fails again, recorded): nothing is held.
    data_of(api.patch(f"webhooks/{created['id']}", json={"active": True}))
    emit(api, "message.sent")
    wait_disabled(api, created["id"])
    assert len(deliveries_of(api, created["id"])) == 10


def test_the_worker_survives_a_fault_of_its_own_and_logs_it(make_endpoint: MakeEndpoint) -> None:
    records: list[tuple[str, dict[str, Any]]] = []
    store = Store(None)
    worker = DeliveryWorker(
        store, Clock(VERY_FAST), log=lambda kind, fields: records.append((kind, fields))
    )
    real_apply = worker.outbox.apply_due
    faults = iter([RuntimeError("the store hiccuped")])

    def flaky_apply(now: float) -> None:
        fault = next(faults, None)
        if fault is not None:
            raise fault
        real_apply(now)

    worker.outbox.apply_due = flaky_apply  # type: ignore[method-assign]
    hook = make_endpoint(unique_path=True)
    store.webhooks.create(
        url=hook.url, events=["message.sent"], secret=None, active=True, description=None, now=0
    )
    worker.start()
    try:
        worker.emit("message.sent", {"message_id": "wamid.X", "to": "+14155550123"})
        hook.wait_requests(1, timeout=10.0)
    finally:
        worker.stop()
        store.close()
    errors = [fields for kind, fields in records if kind == "error"]
    assert errors == [
        {"where": "the delivery loop", "error": "RuntimeError: the store hiccuped"}
    ], records


class _Idle(LoopThread):
    def __init__(self) -> None:
        super().__init__()
        self.failed: list[BaseException] = []
        self.reported = threading.Event()

    async def _run(self) -> None:
        while not self._stopping:
            assert self._wake is not None
            self._wake.clear()
            await self._wake.wait()

    def _task_failed(self, exc: BaseException) -> None:
        self.failed.append(exc)
        self.reported.set()


def test_a_failed_background_task_is_reported_at_once() -> None:
    """No "Task exception was never retrieved": the done-callback takes every exception."""

    async def fails() -> None:
        await asyncio.sleep(0)
        raise Boom("in a task")

    thread = _Idle()
    thread.start()
    try:
        thread.call_soon(fails())
        assert thread.reported.wait(10.0), "the task's exception was never reported"
    finally:
        thread.stop()
    assert [str(e) for e in thread.failed] == ["in a task"]


def test_work_handed_to_a_stopped_loop_is_dropped_quietly() -> None:
    async def nothing() -> None:
        return None

    thread = _Idle()
    thread.start()
    thread.stop()
    thread.call_soon(nothing())  # the loop is closed: no RuntimeError, no unawaited coroutine


def test_a_failing_demo_turn_is_logged_and_the_traffic_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    turns: list[int] = []

    def flaky_turn(worker: Any, rng: Any) -> None:
        turns.append(1)
        if len(turns) == 1:
            raise RuntimeError("a turn broke")

    monkeypatch.setattr(demo, "_turn", flaky_turn)
    monkeypatch.setattr(demo, "INTERVAL", 0.001)

    async def run() -> None:
        task = demo.start_demo(None)  # type: ignore[arg-type]
        while len(turns) < 3:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger=demo.__name__):
        asyncio.run(run())
    assert "a turn failed: RuntimeError: a turn broke" in caplog.text


def test_an_exception_in_a_route_is_a_500_envelope(monkeypatch: pytest.MonkeyPatch) -> None:
    """The catch-all, for what validation misses (the fuzz test finds nothing that gets here)."""
    with asgi_sandbox() as api:
        store = api.app.state.sandbox.store  # type: ignore[attr-defined]

        def broken() -> None:
            raise RuntimeError("the store broke")

        monkeypatch.setattr(store.webhooks, "all", broken)
        # The same app, without a second lifespan, answering crashes as a server would.
        raw = TestClient(api.app, base_url=str(api.base_url), raise_server_exceptions=False)
        answer = raw.get("/v1/webhooks", headers={"Authorization": api.headers["Authorization"]})
    assert answer.status_code == 500
    assert answer.json() == {
        "success": False,
        "error": {"code": "INTERNAL_ERROR", "message": "sandbox fault: RuntimeError"},
    }
