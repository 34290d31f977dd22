"""The template rules on their own (placeholders, a media header, rendering), and the store's
upgrade of a database made before templates."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.sandbox import templating
from apimw_cli.sandbox.store import Store

PHOTO_TEMPLATE: dict[str, Any] = {
    "name": "delivery_photo",
    "language": "en",
    "components": [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Your parcel {{1}} was left at the door."},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://example.com/{{1}}"}]},
    ],
}
IMAGE = {"type": "image", "image": {"link": "https://example.com/image.jpg"}}


def test_placeholders_counts_up_to_the_highest() -> None:
    assert templating.placeholders("Hi {{1}}, {{2}} and {{ 3 }} and {{2}}") == 3
    assert templating.placeholders("no parameters") == 0


def test_a_media_header_needs_one_parameter_of_its_kind() -> None:
    body = {"type": "body", "parameters": [{"type": "text", "text": "P-1"}]}
    button = {"type": "button", "sub_type": "url", "index": 0, "parameters": []}
    good = templating.check_components([{"type": "header", "parameters": [IMAGE]}, body, button])
    templating.check_against(PHOTO_TEMPLATE, good)
    for header in ([], [{"type": "text", "text": "x"}], [IMAGE, IMAGE]):
        components = templating.check_components([{"type": "HEADER", "parameters": header}, body])
        with pytest.raises(ValueError, match="one image parameter"):
            templating.check_against(PHOTO_TEMPLATE, components)


def test_render_fills_the_body_with_each_kind_of_parameter() -> None:
    template = {
        "name": "t",
        "language": "en",
        "components": [{"type": "BODY", "text": "{{1}} paid {{2}} on {{3}}"}],
    }
    components = templating.check_components(
        [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "John"},
                    {"type": "currency", "currency": {"code": "USD", "amount_1000": 99990}},
                    {"type": "date_time", "date_time": {"fallback_value": "May 3"}},
                ],
            }
        ]
    )
    templating.check_against(template, components)
    assert templating.render(template, components) == "John paid USD 99.99 on May 3"


def test_a_database_from_before_templates_is_upgraded(tmp_path: Path) -> None:
    """A stored sandbox made before template messages keeps its messages and gains templates."""
    path = tmp_path / "sandbox.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE messages (id TEXT PRIMARY KEY, to_number TEXT NOT NULL, type TEXT NOT NULL,"
        " text TEXT NOT NULL, status TEXT NOT NULL, sent_at REAL NOT NULL, delivered_at REAL,"
        " read_at REAL, failed_at REAL, error TEXT)"
    )
    old.execute(
        "INSERT INTO messages VALUES ('wamid.old', '+14155550123', 'text', 'hi', 'read',"
        " 1.0, 2.0, 3.0, NULL, NULL)"
    )
    old.commit()
    old.close()
    store = Store(path)
    try:
        kept = store.messages.get("wamid.old")
        assert kept is not None and kept["type"] == "text" and "template" not in kept
        store.messages.create("wamid.new", "+14155550123", "Hello", 4.0, "hello_world")
        made = store.messages.get("wamid.new")
        assert made is not None and made["template"] == "hello_world"
        assert store.templates.versions("order_confirmation")
    finally:
        store.close()
