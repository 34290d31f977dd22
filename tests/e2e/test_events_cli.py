"""`apimw events`: the catalog and its sample payloads (no API involved)."""

from __future__ import annotations

import json

import pytest

from apimw_cli import catalog
from tests.support.cli import run


def test_list_table_shows_every_type_with_its_description() -> None:
    result = run("events", "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TYPE", "DESCRIPTION", "DATA"]
    for event in catalog.EVENT_TYPES:
        assert any(
            line.split()[:1] == [event.name] and event.description in line for line in lines
        ), event.name


def test_list_json_is_every_type_with_a_description() -> None:
    result = run("-o", "json", "events", "list")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [row["type"] for row in data] == list(catalog.EVENT_NAMES)
    assert len(data) == 9
    assert all(isinstance(row["description"], str) and row["description"] for row in data)


@pytest.mark.parametrize("event_type", catalog.EVENT_NAMES)
def test_show_prints_a_sample_envelope(event_type: str) -> None:
    result = run("events", "show", event_type)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"type", "timestamp", "data"}
    assert data["type"] == event_type
    assert isinstance(data["timestamp"], str) and data["timestamp"].endswith("Z")
    event = catalog.get(event_type)
    assert event is not None
    assert set(data["data"]) == set(event.fields)


def test_show_json_output_is_the_same_envelope() -> None:
    result = run("-o", "json", "events", "show", "message.received")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["type"] == "message.received"
    assert data["data"]["contact"]["wa_id"]


def test_show_unknown_type_suggests_the_closest() -> None:
    result = run("events", "show", "message.delivred")
    assert result.exit_code == 2
    assert "did you mean 'message.delivered'" in result.stderr
    assert result.stdout == ""


def test_show_unknown_type_without_a_close_match_points_at_the_list() -> None:
    result = run("events", "show", "zzz")
    assert result.exit_code == 2
    assert "apimw events list" in result.stderr
