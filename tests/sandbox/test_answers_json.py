"""Answers are written by orjson, and by the json module where orjson refuses: whatever a client
sent in event data comes back as it was sent, integers beyond 64 bits included."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apimw_cli.sandbox.envelopes import Answer
from tests.sandbox.support import data_of


@pytest.mark.parametrize(
    "value",
    [2**64, -(2**70), 10**99, 1e16, 0.1, -0.0, "é→\u2028", [[[{"a": None}]]], True],
)
def test_event_data_comes_back_as_sent(sandbox_api: httpx.Client, value: Any) -> None:
    body = {"type": "message.sent", "data": {"message_id": "wamid.BIG", "value": value}}
    answer = sandbox_api.post("sandbox/events", json=body)
    assert data_of(answer)["data"]["value"] == value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # any size: beyond 64 bits goes through the json module
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_an_answer_reads_back_as_the_same_data(value: Any) -> None:
    assert json.loads(bytes(Answer({"data": value}).body)) == {"data": value}
