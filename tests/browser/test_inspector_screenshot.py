"""The README's screenshot can be made: tests/browser/screenshot.py renders the page over a
realistic session (a replay made through the page, a failed signature selected) into a PNG of
1280x800 that stays small. The committed docs/inspector.png is the same kind of file."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.browser.conftest import Tab
from tests.browser.screenshot import DEFAULT, render

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(90)]

LIMIT = 300 * 1024  # the README's image stays small


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", data[:16]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_screenshot_renders_a_selected_failed_signature_beside_a_replay(
    tab: Tab, tmp_path: Path
) -> None:
    out = tmp_path / "inspector.png"
    render(tab.page, out)
    data = out.read_bytes()
    assert png_size(data) == (1280, 800)
    assert len(data) < LIMIT, len(data)
    page = tab.page
    assert page.is_visible("#detail-diagnosis")
    assert page.locator("#events .event-row.replay-row").count() == 1
    assert tab.dialogs == []


def test_the_committed_screenshot_is_a_small_1280x800_png() -> None:
    data = DEFAULT.read_bytes()
    assert png_size(data) == (1280, 800)
    assert len(data) < LIMIT, len(data)
