"""The page itself (apimw_cli/inspector/static/): its script never turns data into markup, it
needs no inline code (the CSP forbids it) and nothing from the internet, and it has the element
ids and classes the browser tests drive."""

from __future__ import annotations

import re
from importlib import resources

from apimw_cli.inspector.security import CSP


def static_text(name: str) -> str:
    return (resources.files("apimw_cli.inspector") / "static" / name).read_text("utf-8")


def test_the_csp_is_the_strict_one() -> None:
    assert CSP == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


FORBIDDEN_IN_SCRIPT = (
    "innerHTML",
    "outerHTML",
    "insertAdjacentHTML",
    "document.write",
    "createContextualFragment",
    "DOMParser",
    "srcdoc",
    "eval(",
    "new Function",
    'setTimeout("',
    "setTimeout('",
    "javascript:",
)


def test_the_script_never_turns_data_into_markup() -> None:
    script = static_text("app.js")
    for word in FORBIDDEN_IN_SCRIPT:
        assert word not in script, word
    assert "textContent" in script and "createTextNode" in script


def test_the_page_has_no_inline_code_and_no_outside_resources() -> None:
    """The CSP forbids inline scripts and styles; the page must not need them, nor the
    internet (no CDN)."""
    page = static_text("index.html")
    assert re.findall(r"<script\b[^>]*>", page) == ['<script src="/app.js" defer>']
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page, re.IGNORECASE)
    for name in ("index.html", "app.js", "app.css"):
        text = static_text(name)
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE), name
        assert "@import" not in text and "url(http" not in text


def test_the_ids_the_browser_tests_rely_on_are_there() -> None:
    page = static_text("index.html")
    script = static_text("app.js")
    for element_id in (
        "events",
        "filter-type",
        "filter-verdict",
        "filter-forward",
        "search",
        "detail",
        "detail-headers",
        "detail-body-pretty",
        "detail-body-raw",
        "detail-size",
        "detail-forwards",
        "detail-attempts",
        "detail-replays",
        "replay-verbatim",
        "replay-resigned",
        "copy-curl",
        "curl-command",
        "download-body",
        "status",
    ):
        assert f'id="{element_id}"' in page, element_id
    assert '"detail-diagnosis"' in script  # made when a signature failed
    for name in ("event-row", "replay-row", "forward-attempt"):
        assert f'"{name}"' in script, name
    for column in ("time", "type", "delivery", "verdict", "mark", "status", "forwards"):
        assert f'"col-{column}"' in script, column
    assert re.search(r'<a id="download-body"[^>]*\bdownload\b', page)
    assert 'select id="filter-verdict"' in page and 'select id="filter-forward"' in page
