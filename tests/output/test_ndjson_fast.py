"""`listen --format ndjson` through orjson (output/ndjson.py) means what the general path
(Python's json through `untrusted.json_text`) means, for any body: the same object once read
by `json.loads`, on one line, with no raw control character, no NaN, and every URL's password
masked. The body is embedded as it came only when that holds; otherwise the general path
writes the line, as before."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apimw_cli.models import Forwarded, Received, Verdict, VerdictCode
from apimw_cli.output import ndjson
from apimw_cli.output.payload import parse_body, verdict_dict
from apimw_cli.receiver import wire

# Never raw in a line: C0 (the line feed too: one record a line), DEL, C1, U+2028/9, bidi
# controls, lone surrogates.
BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
RAW = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{BIDI}\ud800-\udfff]")
NOW = 1700000000.125
VALID = Verdict(VerdictCode.VALID, "Signature valid.")

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def general(r: Received) -> str:
    """The line as it was written before orjson: Python's json, the body parsed and re-encoded."""
    body, problem = parse_body(r.body) if r.kind != "rejected" else (None, None)
    fields: dict[str, Any] = {
        "id": r.record_id, "kind": r.kind, "type": r.event_type,
        "delivery_id": r.delivery_id, "status": r.status,
        "verdict": verdict_dict(r.verdict), "duplicate": r.duplicate,
        "attempt": r.attempt, "size": len(r.body), "path": r.path, "note": r.note, "body": body,
    }  # fmt: skip
    if problem is not None and r.body:
        fields["body_error"] = problem
    if r.record_error is not None:
        fields["record_error"] = r.record_error
    return ndjson.line("event" if r.kind != "challenge" else "challenge", NOW, **fields)


def strict(line: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(line, parse_constant=refuse)


def check_line(new: str, old: str) -> None:
    assert new.endswith("\n") and new.count("\n") == 1, ascii(new)
    assert RAW.search(new[:-1]) is None, ascii(new)
    assert strict(new) == strict(old)


def record(body: bytes, **fields: Any) -> Received:
    values: dict[str, Any] = {
        "record_id": "rec_000000000001", "received_at": NOW, "method": "POST", "path": "/hook",
        "headers": {}, "body": body, "status": 200, "kind": "event", "event_type": "message.sent",
        "delivery_id": "dlv_0001", "verdict": VALID, **fields,
    }  # fmt: skip
    return Received(**values)


# Text as hostile senders write it: escape sequences, C1, separators, bidi, surrogates, URLs
# with passwords (plain, and with the `@` or the slashes written as escapes by json.dumps).
PIECES = [
    *"az09 :/@\\\"'{}[]", "\x1b", "\x00", "\n", "\r", "\t", "\x7f", "\x85", "\x9b", "é",
    "\u061c", "\u200f", "\u2028", "\u2029", "\u202e", "\u2066", "\ud800", "\udfff", "😀",
    "https://", "user:pw@", "ws://a:b@h/", "\ufeff",
]  # fmt: skip
HOSTILE = st.lists(st.sampled_from(PIECES) | st.characters(), max_size=12).map("".join)
LEAVES = (
    st.none() | st.booleans() | HOSTILE
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
)  # fmt: skip
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE, inner, max_size=4),
    max_leaves=20,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    """A body Python's json would write for a hostile value, in any of its styles."""
    value = draw(VALUES)
    indent = draw(st.sampled_from([None, 2, "\t"]))
    separators = draw(st.sampled_from([None, (",", ":"), (" , ", " : ")]))
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), indent=indent, separators=separators)
    return text.encode("utf-8", "surrogatepass")


def nested(depth: int, opener: bytes = b"[") -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    inner = b"1" if opener == b"[" else b""
    if opener == b"{":
        return b'{"a":' * depth + b"1" + closer * depth
    return opener * depth + inner + closer * depth


BODIES = (
    json_bodies()
    | st.binary(max_size=200)
    | st.builds(
        lambda b, tail: b + tail, json_bodies(), st.sampled_from([b"\xff", b"\xc3", b"\x00", b" x"])
    )
    | st.builds(nested, st.integers(1, 1100), st.sampled_from([b"[", b"{"]))
)


@SETTINGS
@given(BODIES)
@example(b"")
@example(b'{"a":"\\u0040"}')
@example(b'{"u":"https:\\/\\/user:secret@host\\/x"}')
@example(b'{"u":"https://user:secret\\u0040host/x"}')
@example(b'{"u":"https://user:secret@host/x"}')
@example(b'{"big":18446744073709551616,"neg":-9223372036854775809}')
@example(b"[1e999]")
@example(b'{"a": NaN}')
@example(b'"\\ud800"')
@example(b"\xef\xbb\xbf{}")
@example(b'{\r\n\t"a" : [ 1 ,\n 2 ]\r\n}')
@example('{"t":"\u0085\u2028\u202e\x7f"}'.encode())
@example(b"[" * 300 + b"]" * 300)
def test_an_event_line_means_what_the_general_path_wrote(body: bytes) -> None:
    r = record(body)
    check_line(ndjson.received_line(r, NOW), general(r))


@SETTINGS
@given(BODIES)
@example(b'{"a": NaN}')
@example(b'"\\ud800"')
@example(b"\xff")
@example(b"[" * 600 + b"]" * 600)
@example(b'{"u":"https:\\/\\/user:secret@host\\/x"}')
def test_the_receivers_strict_verdict_spares_the_parse_not_the_checks(body: bytes) -> None:
    """The receiver tells the line its body is strict JSON (orjson read it): the line is then
    embedded without parsing it again, and still means what the general path wrote."""
    _, strict_json = wire.parse_body(body)
    r = record(body, strict_json=strict_json)
    check_line(ndjson.received_line(r, NOW), general(r))
    assert ndjson.received_line(r, NOW) == ndjson.received_line(record(body), NOW)


@SETTINGS
@given(
    body=BODIES,
    kind=st.sampled_from(["event", "challenge", "rejected", "invalid"]),
    path=HOSTILE,
    note=st.none() | HOSTILE,
    event_type=st.none() | HOSTILE,
    delivery=st.none() | HOSTILE,
    record_error=st.none() | HOSTILE,
)
def test_any_field_from_outside_keeps_the_line_safe(
    body: bytes, kind: str, path: str, note: str | None, event_type: str | None,
    delivery: str | None, record_error: str | None,
) -> None:  # fmt: skip
    r = record(body, kind=kind, path=path, note=note, event_type=event_type,
               delivery_id=delivery, record_error=record_error)  # fmt: skip
    check_line(ndjson.received_line(r, NOW), general(r))


def test_a_huge_body_is_embedded_whole() -> None:
    body = json.dumps({"type": "message.sent", "data": {"text": "x" * 2_000_000}}).encode()
    r = record(body)
    line = ndjson.received_line(r, NOW)
    check_line(line, general(r))
    assert strict(line)["body"]["data"]["text"] == "x" * 2_000_000


def test_a_plain_body_is_embedded_as_it_came() -> None:
    body = b'{"type":"message.sent","data":{"to":"+1","n":18446744073709551616}}'
    line = ndjson.received_line(record(body), NOW)
    assert body.decode() in line  # the fragment, byte for byte: no parse and re-encode
    assert strict(line)["body"]["data"]["n"] == 18446744073709551616


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":1.5e999}',  # infinite once read
        b'{"a":"\\ud800"}',  # a lone surrogate
        b'{"a":"\\u0040"}' + b"\\",  # not JSON
        '{"a":"\x85"}'.encode(),  # C1, raw
        b"[" * (ndjson.MAX_BRACKETS + 1) + b"]" * (ndjson.MAX_BRACKETS + 1),
        b'{"u":"https:\\/\\/u:p@h"}',  # an escape and an `@`: masking must see it decoded
    ],
)
def test_what_the_fast_path_cannot_vouch_for_goes_the_general_way(body: bytes) -> None:
    r = record(body)
    assert ndjson.received_line(r, NOW) == general(r)


@given(
    target=HOSTILE,
    status=st.none() | st.integers(100, 599),
    ms=st.floats(0, 1e9),
    error=st.none() | HOSTILE,
)
@SETTINGS
def test_a_forward_line_means_what_the_general_path_wrote(
    target: str, status: int | None, ms: float, error: str | None
) -> None:
    f = Forwarded("rec_1", target, status, ms, error)
    fields = {"id": f.record_id, "target": f.target, "status": f.status,
              "ms": round(f.ms, 1), "error": f.error}  # fmt: skip
    check_line(ndjson.forwarded_line(f, NOW), ndjson.line("forward", NOW, **fields))


def test_a_url_password_in_a_forward_error_is_masked() -> None:
    f = Forwarded("rec_1", "http://user:hunter22@app/h", None, 1.0, "refused by http://a:b@c/")
    line = strict(ndjson.forwarded_line(f, NOW))
    assert line["target"] == "http://user:***@app/h"
    assert "b@c" not in line["error"]


def test_orjson_reads_what_the_fragment_carries() -> None:
    """The fragment is strict JSON: orjson (and so any reader) takes the line whole."""
    line = ndjson.received_line(record(b'{"a":[1,{"b":null}]}'), NOW)
    assert orjson.loads(line)["body"] == {"a": [1, {"b": None}]}


VERDICTS = [
    VALID,
    Verdict(VerdictCode.VALID, "Signature valid (secret 2 of 2).", matched_secret=1),
    Verdict(VerdictCode.MISMATCH, "no match \x1b]0;x\x07", diagnosis="see http://u:p@h/"),
    None,
]


@given(st.lists(st.sampled_from(VERDICTS), min_size=1, max_size=12))
@SETTINGS
def test_each_line_carries_its_own_verdict_in_any_order(verdicts: list[Verdict | None]) -> None:
    """The fast path keeps the JSON of the last verdict it saw (the one every valid event
    shares): whatever order verdicts come in, each line holds its own."""
    for verdict in verdicts:
        r = record(b'{"type":"message.sent"}', verdict=verdict)
        line = ndjson.received_line(r, NOW)
        check_line(line, general(r))
        assert strict(line)["verdict"] == strict(general(r))["verdict"]


@pytest.mark.parametrize(
    "body", [b'{"a":"\xc3\xa9 \\u00e9"}', b'{"u":"https://u:p@h/"}', b"not json \xff", b""]
)
def test_the_bytes_the_view_writes_are_the_line(body: bytes) -> None:
    r = record(body)
    assert ndjson.received_bytes(r, NOW) == ndjson.received_line(r, NOW).encode()
    check_line(ndjson.received_bytes(r, NOW).decode(), general(r))
    f = Forwarded("rec_1", "http://user:pw@app/h", 200, 1.25, None)
    assert ndjson.forwarded_bytes(f, NOW) == ndjson.forwarded_line(f, NOW).encode()
    assert b"pw@" not in ndjson.forwarded_bytes(f, NOW)


def dict_encoded(r: Received, now: float) -> bytes | None:
    """The fast way's line as orjson writes the record's fields as one dict (what the
    assembled line must equal byte for byte)."""
    fragment = ndjson.body_fragment(r.body, r.strict_json)
    if fragment is None:
        return None
    record_kind = "event" if r.kind != "challenge" else "challenge"
    fields = {
        "schema": ndjson.SCHEMA, "record": record_kind, "time": now, "id": r.record_id,
        "kind": r.kind, "type": r.event_type, "delivery_id": r.delivery_id, "status": r.status,
        "verdict": None if r.verdict is None else verdict_dict(r.verdict),
        "duplicate": r.duplicate, "attempt": r.attempt, "size": len(r.body), "path": r.path,
        "note": r.note, "body": fragment,
    }  # fmt: skip
    try:
        encoded = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return None
    return ndjson._vouched(encoded)


ALIKE = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["event", "challenge", "invalid"]),
        "event_type": st.none() | st.sampled_from(["message.sent", "a\ud800", "x\x1b"]) | HOSTILE,
        "delivery_id": st.none() | st.sampled_from(["dlv_1", 'dlv_"2\\']) | HOSTILE,
        "status": st.sampled_from([200, 202, 401, 503]),
        "verdict": st.sampled_from(VERDICTS),
        "duplicate": st.booleans(),
        "attempt": st.integers(1, 5),
        "path": st.sampled_from(["/hook", "/a\u2028b"]) | HOSTILE,
        "note": st.none() | st.sampled_from(["answered 500 on purpose (--fail-rate)"]),
        "body": st.sampled_from([b'{"type":"message.sent"}', b'{\n"u":"http://u:p@h/"}', b"[1]"])
        | json_bodies(),
    }
)


@given(st.lists(st.tuples(ALIKE, st.sampled_from([NOW, NOW + 1, 0.1 + 0.2, 1e16])), max_size=10))
@SETTINGS
def test_an_assembled_event_line_is_the_one_orjson_writes(
    records: list[tuple[dict[str, Any], float]],
) -> None:
    """Events come in runs of alike records, and each line reuses the pieces its neighbours
    share: whatever the order, every line is the bytes orjson writes for its own fields."""
    for fields, now in records:
        r = record(**fields)
        expected = dict_encoded(r, now)
        if expected is not None:
            assert ndjson.received_bytes(r, now) == expected
        check_line(ndjson.received_line(r, now), general_at(r, now))


def general_at(r: Received, now: float) -> str:
    """`general` at another time than NOW."""
    line = general(r)
    return json.dumps({**json.loads(line), "time": now}, separators=(",", ":")) + "\n"
