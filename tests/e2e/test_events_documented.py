"""Where APIMW documents an event type's name but not its data (account.*, quota.*), the sample
shape is ours, and `events list` / `events show` say so: a user must not build on it as fact."""

from __future__ import annotations

import json

import pytest

from apimw_cli import catalog
from tests.support.cli import run

UNDOCUMENTED = ["account.connected", "account.disconnected", "quota.warning", "quota.exceeded"]


def test_the_catalog_marks_exactly_the_types_whose_data_apimw_leaves_undocumented() -> None:
    assert [e.name for e in catalog.EVENT_TYPES if not e.documented] == UNDOCUMENTED


def test_events_list_labels_each_type_and_explains_the_mark() -> None:
    result = run("events", "list")
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    for name in catalog.EVENT_NAMES:
        assert (
            rows[name]
            .rstrip()
            .endswith("undocumented (*)" if name in UNDOCUMENTED else "documented")
        ), rows[name]
    assert catalog.UNDOCUMENTED in result.stderr


def test_events_list_json_says_documented_per_type() -> None:
    result = run("-o", "json", "events", "list")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert {r["type"]: r["documented"] for r in rows} == {
        name: name not in UNDOCUMENTED for name in catalog.EVENT_NAMES
    }
    assert result.stderr == ""  # the footnote belongs to the table


@pytest.mark.parametrize("name", UNDOCUMENTED)
def test_events_show_prints_the_sample_and_says_its_shape_is_ours(name: str) -> None:
    result = run("-o", "json", "events", "show", name)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["type"] == name  # stdout stays the bare sample
    assert f"{name}: {catalog.UNDOCUMENTED}" in result.stderr


def test_a_documented_type_gets_no_such_note() -> None:
    result = run("events", "show", "message.received")
    assert result.exit_code == 0
    assert catalog.UNDOCUMENTED not in result.stderr
