"""The --where conditions (apimw_cli/session/matching.py), without a receiver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apimw_cli.errors import UsageError
from apimw_cli.models import Received
from apimw_cli.session.matching import Condition, Matcher, field_text, matching, parse_where


def event(event_type: str, data: object, **fields: bool) -> Received:
    body = json.dumps({"type": event_type, "data": data}).encode()
    return Received(
        record_id="r", received_at=0.0, method="POST", path="/webhooks", headers={}, body=body,
        status=200, kind="event", event_type=event_type, duplicate=bool(fields.get("duplicate")),
    )  # fmt: skip


def test_paths_and_values_compare_as_text() -> None:
    payload = {"data": {"n": 3, "ok": True, "none": None, "items": [{"id": "a"}], "s": "x"}}
    assert field_text(payload, ("data", "n")) == "3"
    assert field_text(payload, ("data", "ok")) == "true"
    assert field_text(payload, ("data", "none")) == "null"
    assert field_text(payload, ("data", "items", "0", "id")) == "a"
    assert field_text(payload, ("data", "s")) == "x"
    assert field_text(payload, ("data", "missing")) is None
    assert field_text(payload, ("data", "items", "5")) is None
    assert field_text("not an object", ("data",)) is None


def test_every_condition_must_hold() -> None:
    matcher = Matcher(parse_where(["data.message_id=wamid.X", "data.to=+1"]))
    matcher.add(event("message.read", {"message_id": "wamid.X", "to": "+1"}))
    matcher.add(event("message.read", {"message_id": "wamid.X", "to": "+2"}))
    matcher.add(event("message.read", {"message_id": "wamid.Y", "to": "+1"}))
    matcher.add(event("message.read", {"message_id": "wamid.X", "to": "+1"}, duplicate=True))
    assert matcher.counts() == {"message.read": 1}


def test_a_file_value_counts_events_that_came_before_it_was_written(tmp_path: Path) -> None:
    id_file = tmp_path / "id"
    matcher = Matcher(parse_where([f"data.message_id=@{id_file}"]))
    matcher.add(event("message.sent", {"message_id": "wamid.X"}))
    matcher.add(event("message.sent", {"message_id": "wamid.Y"}))
    assert matcher.counts() == {}
    id_file.write_text("wamid.X\n")
    assert matcher.counts() == {"message.sent": 1}
    matcher.add(event("message.read", {"message_id": "wamid.X"}))
    assert matcher.counts() == {"message.sent": 1, "message.read": 1}


def test_parse_where() -> None:
    assert parse_where(["data.message_id=wamid.X=1"]) == (
        Condition(("data", "message_id"), "wamid.X=1"),
    )
    for bad in ("nothing", "=x", "a..b=1", "a.=1", "a="):
        with pytest.raises(UsageError, match="PATH=VALUE"):
            parse_where([bad])


def test_expect_message_is_sugar_for_message_events_with_that_id() -> None:
    expectations, conditions = matching([], [], "wamid.X")
    assert expectations == {"message.*": 1}
    assert conditions == (Condition(("data", "message_id"), "wamid.X"),)
    assert matching(["message.read:2", "message.read"], [], "wamid.X")[0] == {
        "message.read": 3,
        "message.*": 1,
    }
    with pytest.raises(UsageError, match="--where needs --expect"):
        matching([], ["data.x=1"], None)
