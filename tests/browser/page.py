"""The inspector page as the browser tests read and drive it, through the element ids and
classes /work/notes' shared design fixes (kept stable by apimw_cli/inspector/static/):
`#events .event-row[data-id]`, `.replay-row[data-of]`, the filters, the `#detail-*` panes,
the action buttons and `#curl-command`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.support.waiting import wait_for

ROWS = "#events .event-row"
PATIENCE = 15.0  # seconds a test waits for the page to show something


def open_page(page: Page, url: str) -> None:
    """Load the page and wait until its list is loaded and its live stream connected (so what
    a test sends next reaches the page through the stream, not the first load)."""
    page.goto(url)
    page.wait_for_selector("#events", state="attached")

    def settled() -> bool:
        status = text(page, "#status").lower()
        return bool(status) and not any(w in status for w in ("loading", "connecting"))

    wait_for(
        settled, PATIENCE, f"the page to load and connect (#status: {text(page, '#status')!r})"
    )


def row_ids(page: Page) -> list[str]:
    """The rows' record ids, top to bottom (newest first)."""
    ids: list[str] = page.eval_on_selector_all(ROWS, "rows => rows.map(r => r.dataset.id)")
    return ids


def visible_row_ids(page: Page) -> list[str]:
    """The ids of the rows shown (a filter may hide rows instead of removing them)."""
    ids: list[str] = page.eval_on_selector_all(
        ROWS, "rows => rows.filter(r => r.getClientRects().length > 0).map(r => r.dataset.id)"
    )
    return ids


def wait_rows(page: Page, ids: list[str], what: str = "") -> list[str]:
    """Wait until exactly `ids` are shown (in any order); returns the order shown."""

    def shown() -> list[str] | None:
        now = visible_row_ids(page)
        return now if sorted(now) == sorted(ids) else None

    return wait_for(shown, PATIENCE, what or f"the rows {ids} (shown: {visible_row_ids(page)})")


def wait_row(page: Page, record_id: str) -> None:
    page.wait_for_selector(f'{ROWS}[data-id="{record_id}"]', timeout=PATIENCE * 1000)


def row(page: Page, record_id: str) -> Any:
    return page.locator(f'{ROWS}[data-id="{record_id}"]')


def cell(page: Page, record_id: str, column: str) -> str:
    """The text of a cell: `time`, `type`, `delivery`, `verdict`, `mark`, `status`, `forwards`."""
    text: str = row(page, record_id).locator(f".col-{column}").inner_text()
    return text


def select(page: Page, record_id: str, patience: float = PATIENCE) -> None:
    """Click a row and wait until the details show that record: its title names it and its
    body has arrived (the size is written with the body views, in one go)."""
    page.evaluate(
        "() => { for (const id of ['detail-title', 'detail-size'])"
        " { const e = document.getElementById(id); if (e) e.textContent = ''; } }"
    )
    row(page, record_id).click()

    def shown() -> bool:
        return record_id in text(page, "#detail-title") and bool(text(page, "#detail-size"))

    wait_for(shown, patience, f"the details of {record_id}")


def text(page: Page, selector: str) -> str:
    """An element's text as the page holds it (textContent: exact, whatever the CSS shows);
    a textarea's or input's value."""
    value: str = page.eval_on_selector(
        selector,
        "e => (e.tagName === 'TEXTAREA' || e.tagName === 'INPUT') ? e.value : e.textContent",
    )
    return value


def header_rows(page: Page) -> list[tuple[str, str]]:
    """The request headers pane as (name, value) pairs."""
    pairs: list[list[str]] = page.eval_on_selector(
        "#detail-headers",
        """t => [...t.querySelectorAll('tr')]
            .map(tr => [...tr.querySelectorAll('th, td')].map(c => c.textContent))
            .filter(cells => cells.length >= 2)""",
    )
    return [(cells[0].strip(), cells[1]) for cells in pairs]


def set_filter(page: Page, selector: str, value: str | None) -> None:
    """Set a filter (select or text input) to `value`; None: back to everything."""
    tag = page.eval_on_selector(selector, "e => e.tagName")
    control = page.locator(selector)
    if tag == "SELECT":
        if value is None:
            control.select_option(index=0)
            return
        values = page.eval_on_selector(selector, "s => [...s.options].map(o => o.value)")
        if value in values:
            control.select_option(value=value)
        else:
            control.select_option(label=value)
    else:
        control.fill(value or "")  # the page re-queries on input


def download_body(page: Page, downloads: Path) -> bytes:
    """Click #download-body and return the bytes the browser saved."""
    with page.expect_download() as info:
        page.click("#download-body")
    saved = downloads / "downloaded.body"
    info.value.save_as(saved)
    return saved.read_bytes()


def curl_command(page: Page) -> str:
    """Click #copy-curl and return the command the page shows (and copied)."""
    page.click("#copy-curl")
    wait_for(lambda: text(page, "#curl-command").strip(), PATIENCE, "the curl command")
    return text(page, "#curl-command").strip()


def replay_rows_of(page: Page, original: str) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        f'{ROWS}.replay-row[data-of="{original}"]', "rows => rows.map(r => r.dataset.id)"
    )
    return ids


def injected(page: Page) -> dict[str, int]:
    """Elements a body could only have added through markup: any <img>, <iframe>, <svg>,
    <object> or <embed>, and scripts other than the page's own /app.js."""
    found: dict[str, int] = page.evaluate(
        """() => ({
            img: document.querySelectorAll('img').length,
            iframe: document.querySelectorAll('iframe').length,
            svg: document.querySelectorAll('svg').length,
            object: document.querySelectorAll('object, embed').length,
            foreign_scripts: [...document.scripts].filter(
                s => !s.src || new URL(s.src).pathname !== '/app.js').length,
            pwned: window.__pwned ? 1 : 0,
        })"""
    )
    return found
