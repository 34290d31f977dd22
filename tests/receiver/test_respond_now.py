"""The receiver's two ways in give the same answers and the same reports: `respond_now` (the
fast stack's protocol calls it for a request whose body is all in) and the ASGI `__call__`
(the pure-Python stack, and requests that wait), for every kind of request the first may take.
Driven in-process, request by request, so each pair is compared exactly."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apimw_cli.models import Forwarded, Received
from apimw_cli.receiver.app import ReceiverApp, create_app
from apimw_cli.receiver.events import ReceiverConfig, Respond
from apimw_cli.receiver.recorder import Recorder, read_records
from apimw_cli.receiver.wire import Reply
from apimw_cli.signing import sign

SECRET = "whsec_respond_now_test"
PROBE = "probe-token-for-the-test"


def scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "headers": headers}


async def over_asgi(app: ReceiverApp, request: dict[str, Any], body: bytes) -> Reply:
    """What the ASGI way sends, as a Reply (Content-Length taken out: the sender adds it)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await app(request, receive, send)
    start, content = sent
    headers = tuple(h for h in start["headers"] if h[0] != b"content-length")
    assert dict(start["headers"])[b"content-length"] == str(len(content["body"])).encode()
    return start["status"], content["body"], headers


class Pair:
    """Two receivers alike, each with its own sink and log: one taken each way."""

    def __init__(self, tmp_path: Path, **config: Any) -> None:
        self.seen: dict[str, list[Received]] = {"now": [], "asgi": []}
        self.recorders = []
        self.apps = {}
        for way in ("now", "asgi"):
            recorder = Recorder(tmp_path / f"{way}.jsonl")
            self.recorders.append(recorder)
            settings_ = ReceiverConfig(secrets=(SECRET,), probe_token=PROBE, **config)
            self.apps[way] = create_app(settings_, self._sink(way), recorder, None)

    def _sink(self, way: str) -> Callable[[Received | Forwarded], None]:
        def sink(record: Received | Forwarded) -> None:
            assert isinstance(record, Received)  # nothing is forwarded here
            self.seen[way].append(record)

        return sink

    def both(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        now = self.apps["now"].respond_now(scope(method, path, list(raw)), body)
        asgi = asyncio.run(over_asgi(self.apps["asgi"], scope(method, path, list(raw)), body))
        assert now == asgi
        a, b = self.seen["now"][-1:], self.seen["asgi"][-1:]
        assert [same(r) for r in a] == [same(r) for r in b]
        return now

    def close(self) -> None:
        for recorder in self.recorders:
            recorder.close()


def same(r: Received) -> dict[str, Any]:
    """A report's fields but its id and time (each receiver draws its own)."""
    fields = dataclasses.asdict(r)
    del fields["record_id"], fields["received_at"]
    return fields


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    made = Pair(tmp_path)
    yield made
    made.close()


def signed(body: bytes, **extra: str) -> dict[str, str]:
    return {"X-APIMW-Signature": sign(body, SECRET), "Content-Type": "application/json", **extra}


EVENT = b'{"type":"message.sent","data":{"id":"m1"}}'


def test_the_usual_event_the_same_either_way(pair: Pair) -> None:
    assert pair.both("POST", "/hook", signed(EVENT, **{"X-APIMW-Delivery": "dlv_1"}), EVENT) == (
        200,
        b"",
        (),
    )
    received = pair.seen["now"][-1]
    assert (received.kind, received.event_type, received.strict_json) == (
        "event",
        "message.sent",
        True,
    )


def test_a_duplicate_an_invalid_signature_a_challenge_alike(pair: Pair) -> None:
    headers = signed(EVENT, **{"X-APIMW-Delivery": "dlv_dup"})
    pair.both("POST", "/hook", headers, EVENT)
    pair.both("POST", "/hook", headers, EVENT)
    assert pair.seen["now"][-1].duplicate and pair.seen["now"][-1].attempt == 2
    status, text, _ = pair.both("POST", "/hook", {"X-APIMW-Signature": "sha256=00"}, EVENT)
    assert status == 401 and text
    challenge = b'{"type":"webhook.verification","challenge":"c-123"}'
    assert pair.both("POST", "/hook", {}, challenge)[:2] == (200, b"c-123")


def test_refusals_before_the_body_alike(pair: Pair) -> None:
    assert pair.both("GET", "/hook", {}, b"")[0] == 405
    assert pair.both("PUT", "/hook", {"X-APIMW-Probe": "not-ours"}, b"")[0] == 405
    reported = len(pair.seen["now"])
    assert pair.both("GET", "/hook", {"X-APIMW-Probe": PROBE}, b"")[0] == 405
    assert len(pair.seen["now"]) == reported  # the session's own probe is not an event


def test_a_body_that_is_not_strict_json_is_said_so(pair: Pair) -> None:
    for body in (b'{"type":"message.sent","n":NaN}', b"\xff\xfe", b"not json", b""):
        pair.both("POST", "/hook", signed(body), body)
        assert pair.seen["now"][-1].strict_json is False, body
    pair.both("POST", "/hook", signed(b"[1,2]"), b"[1,2]")
    assert pair.seen["now"][-1].strict_json is True  # JSON, if not an object


@pytest.mark.parametrize(
    "config",
    [
        {"path": "/only"},
        {"respond": Respond.FIXED, "status": 503},
        {"fail_rate": 1.0},
        {"skip_verify": True},
        {"events": ("message.*",)},
        {"events": ("call.*",)},
        {"dedupe_size": 0},
    ],
)
def test_every_mode_answered_at_once_alike(tmp_path: Path, config: dict[str, Any]) -> None:
    pair = Pair(tmp_path, **config)
    try:
        for path in ("/only", "/other"):
            for _ in range(2):
                pair.both("POST", path, signed(EVENT, **{"X-APIMW-Delivery": "dlv_9"}), EVENT)
        assert all(app.answers_at_once for app in pair.apps.values())
    finally:
        pair.close()
    # Both logs hold the same lines, but for each line's id and time.
    logs = [list(read_records(tmp_path / f"{way}.jsonl")) for way in ("now", "asgi")]
    for line in (*logs[0], *logs[1]):
        line.pop("id"), line.pop("received_at")
    assert logs[0] == logs[1] and len(logs[0]) == 4


def test_passthrough_and_delay_take_the_asgi_way(tmp_path: Path) -> None:
    for config in ({"respond": Respond.PASSTHROUGH}, {"delay": 0.01}):
        app = create_app(ReceiverConfig(**config), lambda _r: None, None, None)
        assert not app.answers_at_once


HEADER_NAMES = st.sampled_from(
    ["X-APIMW-Signature", "X-APIMW-Delivery", "X-APIMW-Event", "Content-Length", "X-Other"]
)
LATIN1 = st.text(st.characters(max_codepoint=255, blacklist_characters="\r\n"), max_size=40)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["POST", "GET", "DELETE"]),
    path=st.sampled_from(["/hook", "/other", "/%2e%2e"]),
    headers=st.dictionaries(HEADER_NAMES, LATIN1, max_size=5),
    body=st.binary(max_size=300)
    | st.builds(
        lambda v: json.dumps(v).encode(),
        st.dictionaries(
            st.sampled_from(["type", "challenge", "data"]),
            st.sampled_from(["message.sent", "webhook.verification", "x"]) | st.integers(),
        ),
    ),
    sign_it=st.booleans(),
)
def test_any_request_the_same_either_way(
    tmp_path: Path,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    sign_it: bool,
) -> None:
    pair = Pair(tmp_path, path="/hook")
    try:
        if sign_it:
            headers = {**headers, "X-APIMW-Signature": sign(body, SECRET)}
        pair.both(method, path, headers, body)
    finally:
        pair.close()
