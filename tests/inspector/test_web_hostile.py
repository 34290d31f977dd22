"""A session log is input from outside: whatever it holds (not JSON, invalid UTF-8, huge or
deeply nested lines, fields of any JSON type, escape sequences, markup, ids no URL can carry),
every route answers (a 404 for what cannot be found, a 409 for what cannot be sent), never a
500, and every JSON answer is JSON a browser parses."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apimw_cli.inspector.web import dumps
from tests.inspector.web_support import Inspector, SessionLog, inspector_over
from tests.support import strategies
from tests.support.capture import CaptureServer, Reply

HOSTILE_TEXT = "\x1b[31m<script>alert(1)</script>\x00\u202e\ud800 ' \" % \\ é"

HOSTILE_LINES = [
    b"not json at all\n",
    b"\xff\xfe\x00 invalid utf-8 \x80\n",
    b"[1, 2, 3]\n",
    b'"just a string"\n',
    b"{}\n",
    b"[" * 100_000 + b"]" * 100_000 + b"\n",
    b'{"schema":2,"record":"request","id":"rec_nested","body":'
    + b"[" * 5000
    + b"]" * 5000
    + b"}\n",
    b'{"schema":2,"record":"request","id":"rec_nan","received_at":NaN,"body":"x","kind":"event"}\n',
    b'{"schema":2,"record":"request","id":"rec_big","received_at":1e400,"status":'
    + b"9" * 400
    + b',"body":"x"}\n',
    b'{"schema":2,"record":"request","id":"rec_surrogate\\ud800","body":"\\udc00\\ud800",'
    b'"headers":{"x-\\ud800":"\\udfff"},"event_type":"\\ud800","kind":"event"}\n',
    b'{"schema":2,"record":"request","id":123,"body":456,"headers":[1,[2]],"verdict":"valid",'
    b'"kind":["event"],"status":"200","duplicate":"yes","event_type":{"a":1}}\n',
    b'{"schema":2,"record":"request","id":"rec/with/slashes?and#hash%20","body":"x",'
    b'"event_type":null,"delivery_id":null,"kind":"event","status":200,"duplicate":false,'
    b'"verdict":{"code":5,"reason":[],"diagnosis":{}}}\n',
    b'{"schema":2,"record":"request","id":"rec_b64","body_b64":"!!!","kind":"event"}\n',
    b'{"schema":2,"record":"request","id":"rec_both","body":null,"body_b64":7}\n',
    b'{"schema":2,"record":"forward","id":"rec_nowhere","status":"x","ms":"y","error":5}\n',
    b'{"schema":2,"record":"forward","id":"rec_nested","status":200,"ms":1e999,'
    b'"response_headers":"nope","response_body_b64":"%%%"}\n',
    b'{"schema":2,"record":"replay","id":"rec_r1","of":"rec_nowhere","mode":"sideways",'
    b'"status":[],"target":7}\n',
    b'{"schema":2,"record":"replay","id":"rec_r2","of":"rec_nested","mode":"verbatim",'
    b'"status":200,"ms":1,"response_headers":[["a"],["b","c","d"],[1,2]]}\n',
    b'{"schema":2,"record":"request","id":"rec_ok","received_at":1.5,"method":"POST",'
    b'"path":"/\\u001b[2J","headers":{"x-note":"\\u001b]0;pwned\\u0007"},'
    b'"body":"\\u001b[31m<img src=x onerror=alert(1)>","event_type":"<b>t</b>",'
    b'"delivery_id":"dlv","kind":"event","status":200,"duplicate":false,"verdict":null}\n',
    b"x" * (3 * 1024 * 1024) + b"\n",
    b'{"schema":2,"record":"request","id":"rec_torn","body":"no newline at the end"',
]


@pytest.fixture
def page(log: SessionLog) -> Iterator[Inspector]:
    with CaptureServer(Reply(200)) as app:
        yield from inspector_over(log, target=app.url)


def parsed(answer: Any) -> Any:
    """The answer's JSON as a browser's JSON.parse would take it (no NaN, no Infinity)."""

    def refuse(word: str) -> None:
        raise AssertionError(f"not JSON for a browser: {word}")

    return json.loads(answer.content, parse_constant=refuse)


def walk(page: Inspector) -> list[str]:
    """Every route for every row; asserts no 500 and browser-parseable JSON. Returns the ids.
    (An id with a slash cannot be a path segment: its routes are a plain 404.)"""
    listing = page.get("/api/events?limit=500")
    assert listing.status_code == 200, listing.text
    rows = parsed(listing)["rows"]
    ids = [row["id"] for row in rows]
    for record_id in ids:
        path = "/api/events/" + quote(str(record_id), safe="")
        for suffix in ("", "/body"):
            answer = page.get(path + suffix)
            assert answer.status_code in (200, 404), (record_id, suffix, answer.text[:300])
            if suffix == "" and answer.status_code == 200:
                parsed(answer)
        curl = page.client.get(path + "/curl", headers=page.action_headers())
        assert curl.status_code in (200, 404, 409), (record_id, curl.text[:300])
        replay = page.client.post(
            path + "/replay", json={"mode": "verbatim"}, headers=page.action_headers()
        )
        assert replay.status_code in (200, 404, 409), (record_id, replay.text[:300])
        if replay.status_code == 200:
            parsed(replay)
    return [str(record_id) for record_id in ids]


def test_hostile_lines_never_make_a_500(page: Inspector, log: SessionLog) -> None:
    log.event()
    for line in HOSTILE_LINES:
        log.raw(line)
    log.raw(b"\n")  # the torn line ends
    log.event(event_type=HOSTILE_TEXT.replace("\ud800", ""))
    ids = walk(page)
    assert "rec_ok" in ids
    for query in (
        "?q=%1b",
        "?q=%3Cscript",
        "?type=%3Cb%3E*",
        "?q=" + quote(HOSTILE_TEXT.replace("\ud800", "")),
        "?verdict=invalid&forward=failed",
        "?before=rec_nowhere",
        "?before=" + quote("rec/with/slashes?and#hash%20", safe=""),
    ):
        answer = page.get("/api/events" + query)
        assert answer.status_code == 200, (query, answer.text[:300])
        parsed(answer)


def test_the_json_encoder_takes_whatever_a_log_gave() -> None:
    nested: Any = []
    for _ in range(3000):
        nested = [nested]
    for value in (
        {"lone": "\ud800"},
        {"big": 10**40},
        {"nan": math.nan, "inf": -math.inf},
        {"deep": nested},
        {"bytes": b"\xff"},
        {1: "not a str key"},
    ):
        text = dumps(value)
        json.loads(text, parse_constant=lambda word: pytest.fail(word))


json_values = strategies.json_values(8)
FIELDS = ("id", "received_at", "method", "path", "headers", "body", "body_b64", "event_type")
MORE_FIELDS = ("delivery_id", "kind", "status", "duplicate", "verdict", "of", "mode", "target")


@st.composite
def log_lines(draw: st.DrawFn) -> bytes:
    record: dict[str, Any] = {
        "schema": draw(st.sampled_from([2, 1, "2", None])),
        "record": draw(st.sampled_from(["request", "forward", "replay", "other", 5])),
    }
    for name in FIELDS + MORE_FIELDS + ("ms", "error", "response_headers", "response_body"):
        if draw(st.booleans()):
            record[name] = draw(json_values)
    line = json.dumps(record).encode()
    if draw(st.integers(0, 9)) == 0:
        line = line[: draw(st.integers(0, len(line)))] + draw(st.binary(max_size=20))
    return line.replace(b"\n", b" ") + b"\n"


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(log_lines(), min_size=1, max_size=8))
def test_any_log_lines_never_make_a_500(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        log = SessionLog(Path(directory) / "session.jsonl")
        try:
            log.event()
            for line in lines:
                log.raw(line)
            for page in inspector_over(log, target="http://127.0.0.1:9/unreachable"):
                walk(page)
        finally:
            log.close()
