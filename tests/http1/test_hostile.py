"""Hostile input for the client's pure parts (Hypothesis): any header bytes are either refused
or sent as exactly the one line given; any answer bytes end in a response or ProtocolFailed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apimw_cli.http1 import ProtocolFailed
from apimw_cli.http1.client import _header_block
from apimw_cli.http1.parsing import PARSERS

names = st.one_of(st.binary(max_size=20), st.sampled_from([b"X-A", b"Host", b"x-b"]))


@given(st.lists(st.tuples(names, st.binary(max_size=40)), max_size=6))
def test_a_header_is_refused_or_sent_as_exactly_its_line(
    headers: list[tuple[bytes, bytes]],
) -> None:
    try:
        block = _header_block(headers, 3)
    except ProtocolFailed:
        return
    lines = block.split(b"\r\n")
    assert lines[-1] == b"" and lines[0] == b"Content-Length: 3"
    sent = [(n, v) for n, v in headers if n.lower() not in (b"host", b"content-length")]
    assert lines[1:-1] == [b"%s: %s" % header for header in sent]


@pytest.mark.parametrize("parser", sorted(PARSERS))
@settings(max_examples=300)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=64),
            st.sampled_from(
                [
                    b"HTTP/1.1 200 OK\r\n",
                    b"Content-Length: 5\r\n",
                    b"Transfer-Encoding: chunked\r\n",
                    b"\r\n",
                    b"5\r\nhello\r\n0\r\n\r\n",
                    b"HTTP/1.1 100 Continue\r\n\r\n",
                ]
            ),
        ),
        max_size=8,
    ),
    st.booleans(),
)
def test_any_answer_bytes_parse_or_fail_cleanly(
    parser: str, pieces: list[bytes], eof: bool
) -> None:
    response = PARSERS[parser](16)
    try:
        for piece in pieces:
            response.feed(piece)
            if response.complete or response.truncated:
                break
        if eof and not response.complete:
            response.feed_eof()
    except ProtocolFailed:
        return
    assert len(response.body) <= 16
    if response.complete:
        assert 200 <= response.status <= 999
