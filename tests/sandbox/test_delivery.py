"""Event delivery: headers, body, signature, routing, retries, disabling, restart-resume."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from apimw_cli.sandbox.clock import Clock
from apimw_cli.sandbox.server import SandboxConfig, run_in_thread
from apimw_cli.signing import verify
from tests.sandbox.support import (
    DELIVERY_FIELDS,
    RETRY_GAPS,
    MakeApi,
    MakeSandbox,
    client,
    create_webhook,
    data_of,
    deliveries_of,
    emit,
    get_webhook,
    parse_time,
    token_pair,
    wait_verified,
)
from tests.support.capture import Captured, Reply
from tests.support.endpoint import Behaviour, Endpoint
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for

SECRET = "whsec_delivery_secret_0123"
# Fast enough that a whole 5-attempt schedule takes about 0.26 s.
VERY_FAST = 36000.0


@pytest.fixture
def fast_api(make_sandbox: MakeSandbox, make_sandbox_api: MakeApi) -> httpx.Client:
    """A client on a sandbox whose whole retry schedule takes about 0.26 s."""
    return make_sandbox_api(make_sandbox(time_scale=VERY_FAST))


def subscribe(
    sandbox_api: httpx.Client, hook: Endpoint, events: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """Create a webhook for `hook` and wait until its verification is done."""
    created = create_webhook(sandbox_api, hook.url, events or ["message.sent"], **fields)
    wait_verified(sandbox_api, created["id"])
    return created


def exhaust(sandbox_api: httpx.Client, hook: Endpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """Subscribe a failing `hook`, emit one event and wait until the webhook is disabled."""
    hook.behaviour.status = 500
    created = subscribe(sandbox_api, hook)
    answer = emit(sandbox_api, "message.sent")
    disabled = wait_for(
        lambda: w if (w := get_webhook(sandbox_api, created["id"]))["active"] is False else None,
        timeout=20.0,
        interval=0.02,
        what="the webhook to be disabled after 5 failed attempts",
    )
    return disabled, answer


# --------------------------------------------------------------------------- one delivery


def test_delivery_has_contract_headers(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    subscribe(sandbox_api, hook, secret=SECRET)
    emit(sandbox_api, "message.sent")
    (delivery,) = hook.wait_deliveries(1)
    assert delivery.method == "POST"
    assert delivery.path == "/hook"
    assert (delivery.header("Content-Type") or "").startswith("application/json")
    assert delivery.header("User-Agent") == "APIMW-Webhooks/1.0"
    assert delivery.header("X-APIMW-Event") == "message.sent"
    assert delivery.delivery_id


def test_delivery_body_is_compact_event_envelope(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    subscribe(sandbox_api, hook)
    emit(sandbox_api, "message.sent", {"to": "+14155550199"})
    (delivery,) = hook.wait_deliveries(1)
    body = delivery.json()
    assert list(body) == ["type", "timestamp", "data"]
    assert body["type"] == "message.sent"
    parse_time(body["timestamp"])
    assert body["data"]["to"] == "+14155550199"
    compact = {
        json.dumps(body, separators=(",", ":"), ensure_ascii=ascii).encode()
        for ascii in (True, False)
    }
    assert delivery.body in compact


def test_emit_answers_event_id_type_and_delivery_count(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    subscribe(sandbox_api, make_endpoint())
    subscribe(sandbox_api, make_endpoint(path="/second"))
    answer = emit(sandbox_api, "message.sent")
    assert {"event_id", "type", "deliveries"} <= set(answer)
    assert answer["type"] == "message.sent"
    assert isinstance(answer["event_id"], str) and answer["event_id"]
    assert answer["deliveries"] == 2


def test_every_subscribed_webhook_gets_the_event(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    first, second = make_endpoint(), make_endpoint(path="/second")
    subscribe(sandbox_api, first)
    subscribe(sandbox_api, second, ["message.sent", "message.read"])
    emit(sandbox_api, "message.sent")
    (one,) = first.wait_deliveries(1)
    (two,) = second.wait_deliveries(1)
    assert one.json() == two.json()
    assert one.delivery_id and two.delivery_id


def test_signature_is_valid_hmac_of_raw_body(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    subscribe(sandbox_api, hook, secret=SECRET)
    emit(sandbox_api, "message.sent")
    (delivery,) = hook.wait_deliveries(1)
    header = delivery.header("X-APIMW-Signature")
    assert verify(delivery.body, header, SECRET).valid
    digest = hmac.new(SECRET.encode("utf-8"), delivery.body, hashlib.sha256).hexdigest()
    assert header == "sha256=" + digest


def test_no_signature_header_without_secret(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    subscribe(sandbox_api, hook)
    emit(sandbox_api, "message.sent")
    (delivery,) = hook.wait_deliveries(1)
    assert delivery.header("X-APIMW-Signature") is None


def test_patched_secret_signs_later_deliveries(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    created = subscribe(sandbox_api, hook, secret=SECRET)
    data_of(sandbox_api.patch(f"webhooks/{created['id']}", json={"secret": "whsec_rotated"}))
    emit(sandbox_api, "message.sent")
    (delivery,) = hook.wait_deliveries(1)
    header = delivery.header("X-APIMW-Signature")
    assert verify(delivery.body, header, "whsec_rotated").valid
    assert not verify(delivery.body, header, SECRET).valid


def test_only_subscribed_types_are_delivered(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    subscribe(sandbox_api, hook, ["message.sent"])
    assert emit(sandbox_api, "message.read")["deliveries"] == 0
    assert emit(sandbox_api, "quota.warning")["deliveries"] == 0
    assert emit(sandbox_api, "message.sent")["deliveries"] == 1
    hook.wait_deliveries(1)
    assert [d.event_type for d in hook.deliveries()] == ["message.sent"]


def test_inactive_webhook_gets_nothing(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    active, inactive = make_endpoint(), make_endpoint(path="/inactive")
    subscribe(sandbox_api, inactive, active=False)
    subscribe(sandbox_api, active)
    assert emit(sandbox_api, "message.sent")["deliveries"] == 1
    active.wait_deliveries(1)
    assert inactive.deliveries() == []


def test_success_updates_last_delivery_fields(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint()
    created = subscribe(sandbox_api, hook)
    emit(sandbox_api, "message.sent")
    hook.wait_deliveries(1)
    webhook = wait_for(
        lambda: w if (w := get_webhook(sandbox_api, created["id"]))["last_delivery_at"] else None,
        what="last_delivery_at to be set",
    )
    parse_time(webhook["last_delivery_at"])
    assert webhook["last_delivery_status"] is not None
    assert webhook["failure_count"] == 0


# --------------------------------------------------------------------------- failures, retries


def fail_first(count: int) -> Behaviour:
    """A receiver answering 500 to the first `count` deliveries, then 200."""
    seen: list[Captured] = []

    def handler(request: Captured) -> Reply | None:
        if request.is_verification:
            return None
        seen.append(request)
        return Reply(500, b"boom") if len(seen) <= count else Reply(200)

    return Behaviour(handler=handler)


def test_retries_keep_delivery_id_and_body(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint(fail_first(2))
    subscribe(sandbox_api, hook, secret=SECRET)
    emit(sandbox_api, "message.sent")
    attempts = hook.wait_deliveries(3)
    assert len({a.delivery_id for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1
    assert all(verify(a.body, a.header("X-APIMW-Signature"), SECRET).valid for a in attempts)


def test_success_after_failures_resets_failure_count_and_stops_retrying(
    sandbox_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    hook = make_endpoint(fail_first(2))
    created = subscribe(sandbox_api, hook)
    emit(sandbox_api, "message.sent")
    hook.wait_deliveries(3)
    attempts = wait_for(
        lambda: a if len(a := deliveries_of(sandbox_api, created["id"])) >= 3 else None,
        what="3 attempts listed",
    )
    assert [a["attempt"] for a in attempts] == [3, 2, 1]
    assert [a["status_code"] for a in attempts] == [200, 500, 500]
    assert attempts[0]["next_retry_at"] is None
    webhook = wait_for(
        lambda: w if (w := get_webhook(sandbox_api, created["id"]))["failure_count"] == 0 else None,
        what="failure_count reset by the success",
    )
    assert webhook["active"] is True


@pytest.mark.parametrize("status", [201, 202, 204, 302, 404, 500, 503])
def test_any_status_but_200_is_a_failure(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint, status: int
) -> None:
    sandbox_api = make_sandbox_api(
        make_sandbox(time_scale=60.0)
    )  # the retry comes 1 s later: time to look
    hook = make_endpoint(Behaviour(status=status, body=b""))
    created = subscribe(sandbox_api, hook)
    emit(sandbox_api, "message.sent")
    hook.wait_deliveries(1)
    (attempt,) = wait_for(lambda: deliveries_of(sandbox_api, created["id"]), what="attempt listed")
    assert attempt["attempt"] == 1
    assert attempt["status_code"] == status
    assert attempt["next_retry_at"] is not None
    assert get_webhook(sandbox_api, created["id"])["failure_count"] == 1


def test_timeout_is_a_failure_with_null_status(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    sandbox_api = make_sandbox_api(make_sandbox(time_scale=60.0, delivery_timeout=0.5))
    hook = make_endpoint(Behaviour(delay=30.0))
    created = subscribe(sandbox_api, hook)
    emit(sandbox_api, "message.sent")
    (attempt,) = wait_for(lambda: deliveries_of(sandbox_api, created["id"]), what="attempt listed")
    assert attempt["status_code"] is None
    assert isinstance(attempt["error"], str) and attempt["error"]
    assert attempt["next_retry_at"] is not None


def test_connection_error_is_a_failure_with_null_status(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    sandbox_api = make_sandbox_api(make_sandbox(time_scale=60.0))
    hook = make_endpoint()
    created = subscribe(sandbox_api, hook)
    hook.close()
    emit(sandbox_api, "message.sent")
    (attempt,) = wait_for(lambda: deliveries_of(sandbox_api, created["id"]), what="attempt listed")
    assert attempt["status_code"] is None
    assert isinstance(attempt["error"], str) and attempt["error"]


def test_the_retry_schedule_is_apimws_divided_by_time_scale() -> None:
    clock = Clock(time_scale=3600.0)
    assert [clock.retry_delay(made) for made in range(1, 5)] == [g / 3600.0 for g in RETRY_GAPS]
    assert clock.retry_delay(5) is None  # five attempts in all


def test_retries_follow_the_schedule_and_never_come_early(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    """Each attempt waits at least its gap (a late one is the machine's business, not ours)."""
    scale = 3600.0  # gaps of 17 ms, 83 ms, 0.5 s, 2 s
    sandbox_api = make_sandbox_api(make_sandbox(time_scale=scale))
    hook = make_endpoint(Behaviour(status=500))
    subscribe(sandbox_api, hook)
    emit(sandbox_api, "message.sent")
    attempts = hook.wait_deliveries(5, timeout=20.0)
    assert len({a.delivery_id for a in attempts}) == 1
    times = [a.time for a in attempts]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    expected = [gap / scale for gap in RETRY_GAPS]
    report = ", ".join(f"{g:.3f}/{e:.3f}" for g, e in zip(gaps, expected, strict=True))
    for gap, want in zip(gaps, expected, strict=True):
        assert gap >= want * 0.8, f"gaps (measured/expected s): {report}"


def test_fifth_failure_disables_webhook(
    fast_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    sandbox_api = fast_api
    hook = make_endpoint()
    disabled, _ = exhaust(sandbox_api, hook)
    assert disabled["active"] is False
    assert isinstance(disabled["disabled_reason"], str) and disabled["disabled_reason"]
    assert disabled["failure_count"] == 5
    assert len(hook.deliveries()) == 5


def test_disabled_webhook_gets_no_new_events(
    fast_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    sandbox_api = fast_api
    hook = make_endpoint()
    exhaust(sandbox_api, hook)
    hook.behaviour.status = 200
    assert emit(sandbox_api, "message.sent")["deliveries"] == 0
    # A live webhook proves the event went out; the disabled one must not have got it.
    other = make_endpoint(path="/other")
    subscribe(sandbox_api, other)
    assert emit(sandbox_api, "message.sent")["deliveries"] == 1
    other.wait_deliveries(1)
    assert len(hook.deliveries()) == 5


def test_reenable_resets_failure_count_and_delivers(
    fast_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    sandbox_api = fast_api
    hook = make_endpoint()
    disabled, _ = exhaust(sandbox_api, hook)
    hook.behaviour.status = 200
    enabled = data_of(sandbox_api.patch(f"webhooks/{disabled['id']}", json={"active": True}))
    assert enabled["active"] is True
    assert enabled["failure_count"] == 0
    assert enabled["disabled_reason"] is None
    assert emit(sandbox_api, "message.sent")["deliveries"] == 1
    latest = hook.wait_deliveries(6)[-1]
    assert latest.event_type == "message.sent"


def test_deliveries_lists_attempts_newest_first(
    fast_api: httpx.Client, make_endpoint: MakeEndpoint
) -> None:
    sandbox_api = fast_api
    hook = make_endpoint()
    disabled, answer = exhaust(sandbox_api, hook)
    attempts = deliveries_of(sandbox_api, disabled["id"])
    assert [a["attempt"] for a in attempts] == [5, 4, 3, 2, 1]
    header_id = hook.deliveries()[0].delivery_id
    for attempt in attempts:
        assert set(attempt) >= DELIVERY_FIELDS
        assert attempt["id"] == header_id
        assert attempt["event_id"] == answer["event_id"]
        assert attempt["event_type"] == "message.sent"
        assert attempt["status_code"] == 500
        assert isinstance(attempt["duration_ms"], int | float) and attempt["duration_ms"] >= 0
        parse_time(attempt["delivered_at"])
    assert attempts[0]["next_retry_at"] is None
    for attempt in attempts[1:]:
        parse_time(attempt["next_retry_at"])
    stamps = [parse_time(a["delivered_at"]) for a in attempts]
    assert stamps == sorted(stamps, reverse=True)


def test_deliveries_of_unknown_webhook_is_404(sandbox_api: httpx.Client) -> None:
    response = sandbox_api.get("webhooks/whk_nope/deliveries")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


# --------------------------------------------------------------------------- concurrency, restart


def test_hanging_endpoint_does_not_delay_other_webhooks(
    make_sandbox: MakeSandbox, make_sandbox_api: MakeApi, make_endpoint: MakeEndpoint
) -> None:
    timeout = 1.0
    sandbox_api = make_sandbox_api(make_sandbox(delivery_timeout=timeout))
    hanging, fast = make_endpoint(Behaviour(delay=30.0)), make_endpoint(path="/fast")
    subscribe(sandbox_api, hanging)
    subscribe(sandbox_api, fast)
    sent_at: dict[str, float] = {}
    for i in range(5):
        message_id = f"wamid.HANG{i}"
        sent_at[message_id] = time.monotonic()
        emit(sandbox_api, "message.sent", {"message_id": message_id})
    lags: dict[str, float] = {}
    for delivery in fast.wait_deliveries(5, timeout=10.0):
        message_id = delivery.json()["data"]["message_id"]
        lags[message_id] = round(delivery.time - sent_at[message_id], 3)
    assert max(lags.values()) < timeout * 0.8, f"delivery lag per event (s): {lags}"
    assert hanging.deliveries(), "the hanging endpoint was not even tried"


def test_pending_retries_resume_after_restart(tmp_path: Path, make_endpoint: MakeEndpoint) -> None:
    hook = make_endpoint(Behaviour(status=500))
    data_dir = tmp_path / "data"
    # First run: attempt 2 is due 1 s after attempt 1, plenty of time to stop in between.
    slow = SandboxConfig(host="127.0.0.1", port=0, data_dir=data_dir, time_scale=60.0, rate_limit=0)
    with run_in_thread(slow) as first:
        with client(first.base_url, token_pair(first.base_url)["access_token"]) as sandbox_api:
            created = subscribe(sandbox_api, hook)
            answer = emit(sandbox_api, "message.sent")
        hook.wait_deliveries(1)
    stopped_at = time.monotonic()
    before = len(hook.deliveries())

    # Second run on the same data: the rest of the schedule, fast (3-4-5 within 0.3 s).
    fast = SandboxConfig(
        host="127.0.0.1", port=0, data_dir=data_dir, time_scale=36000.0, rate_limit=0
    )
    with run_in_thread(fast) as second:
        token = token_pair(second.base_url)["access_token"]
        with client(second.base_url, token) as sandbox_api:
            disabled = wait_for(
                lambda: (
                    w if (w := get_webhook(sandbox_api, created["id"]))["active"] is False else None
                ),
                timeout=20.0,
                interval=0.05,
                what=f"the remaining attempts after the restart ({before} before it)",
            )
            attempts = deliveries_of(sandbox_api, created["id"])
    arrivals = [round(d.time - stopped_at, 3) for d in hook.deliveries()]
    report = f"arrivals relative to the stop (s): {arrivals}; listed: {attempts}"
    assert disabled["failure_count"] == 5, report
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3, 4, 5], report
    assert {a["event_id"] for a in attempts} == {answer["event_id"]}, report
    assert any(t > 0 for t in arrivals), "no attempt arrived after the restart: " + report
    assert len({d.delivery_id for d in hook.deliveries()}) == 1, report


def test_the_worker_stops_even_when_its_cancellation_is_lost(tmp_path: Path) -> None:
    # Python 3.11's asyncio.wait_for can swallow a cancellation that lands as its wait ends;
    # the worker must stop all the same, before the store is closed under it.
    from apimw_cli.sandbox.clock import Clock
    from apimw_cli.sandbox.store import Store
    from apimw_cli.sandbox.worker import DeliveryWorker

    store = Store(tmp_path / "sandbox.db")
    worker = DeliveryWorker(store, Clock())
    worker.start()
    worker._task = None  # as if the cancel never reached the loop
    worker.stop(timeout=5)
    assert worker._thread is not None and not worker._thread.is_alive()
    store.close()
