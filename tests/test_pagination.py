"""`webhooks.list_webhooks` reads every page, whichever way the API pages (api/pagination.py):
servers answering in each shape, 45 webhooks, a page size capped at 20."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from apimw_cli.api import pagination, webhooks
from apimw_cli.api.client import ApiClient
from apimw_cli.errors import ServerError

BASE = "https://api.test/v1"
TOTAL = 45
CAP = 20
HOOKS = [
    {
        "id": f"whk_{n:03d}",
        "url": f"https://app.test/hooks/{n}",
        "events": ["message.sent"],
        "active": True,
        "created_at": "2024-01-15T10:30:00Z",
    }
    for n in range(TOTAL)
]
Shape = Callable[[httpx.Request], httpx.Response]


def ok(data: Any, **extras: Any) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "data": data, **extras})


def query(request: httpx.Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(request.url.query.decode()).items()}


def window(request: httpx.Request) -> tuple[int, int, list[dict[str, Any]]]:
    """The page asked for (1-based), the capped page size, and its items."""
    asked = query(request)
    page = int(asked.get("page", "1"))
    size = min(int(asked.get("per_page", "20")), CAP)
    return page, size, HOOKS[(page - 1) * size : page * size]


def docs_shape(request: httpx.Request) -> httpx.Response:
    """APIMW's only documented shape: `pagination` with total, page and per_page."""
    page, size, items = window(request)
    return ok({"webhooks": items, "pagination": {"total": TOTAL, "page": page, "per_page": size}})


def cursor_shape(request: httpx.Request) -> httpx.Response:
    start = int(query(request).get("cursor", "0"))
    items = HOOKS[start : start + CAP]
    following = str(start + CAP) if start + CAP < TOTAL else None
    return ok({"webhooks": items, "next_cursor": following})


def has_more_shape(request: httpx.Request) -> httpx.Response:
    page, _size, items = window(request)
    return ok({"webhooks": items, "has_more": page * CAP < TOTAL})


def total_pages_shape(request: httpx.Request) -> httpx.Response:
    page, _size, items = window(request)
    return ok({"webhooks": items, "pagination": {"page": page, "total_pages": 3}})


def links_next_shape(request: httpx.Request) -> httpx.Response:
    page, _size, items = window(request)
    following = f"/v1/webhooks?page={page + 1}" if page * CAP < TOTAL else None
    return ok({"webhooks": items, "links": {"next": following}})


def next_url_shape(request: httpx.Request) -> httpx.Response:
    page, _size, items = window(request)
    following = f"{BASE}/webhooks?page={page + 1}" if page * CAP < TOTAL else None
    return ok({"webhooks": items, "next": following})


def link_header_shape(request: httpx.Request) -> httpx.Response:
    page, _size, items = window(request)
    headers = {}
    if page * CAP < TOTAL:
        headers["Link"] = f'<{BASE}/webhooks?page={page + 1}>; rel="next"'
    return httpx.Response(200, json={"success": True, "data": items}, headers=headers)


def envelope_level_shape(request: httpx.Request) -> httpx.Response:
    page, size, items = window(request)
    return ok(items, pagination={"total": TOTAL, "page": page, "per_page": size})


def meta_shape(request: httpx.Request) -> httpx.Response:
    page, size, items = window(request)
    meta = {"pagination": {"current_page": page, "per_page": size, "total_count": TOTAL}}
    return ok(items, meta=meta)


def offset_shape(request: httpx.Request) -> httpx.Response:
    start = int(query(request).get("offset", "0"))
    return ok({"webhooks": HOOKS[start : start + CAP], "offset": start, "limit": CAP})


def silent_bare_list(request: httpx.Request) -> httpx.Response:
    """Pages of a bare list, capped without saying so: only a short page ends it."""
    return ok(window(request)[2])


def silent_object(request: httpx.Request) -> httpx.Response:
    return ok({"webhooks": window(request)[2]})


SHAPES = [
    docs_shape,
    cursor_shape,
    has_more_shape,
    total_pages_shape,
    links_next_shape,
    next_url_shape,
    link_header_shape,
    envelope_level_shape,
    meta_shape,
    offset_shape,
    silent_bare_list,
    silent_object,
]


def listing(handler: Shape) -> tuple[list[str], list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    with ApiClient(BASE, transport=httpx.MockTransport(record)) as client:
        ids = [w.id for w in webhooks.list_webhooks(client)]
    return ids, seen


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.__name__)
def test_every_webhook_is_listed_once_whatever_the_paging_shape(shape: Shape) -> None:
    ids, requests = listing(shape)
    assert ids == [hook["id"] for hook in HOOKS]
    assert len(requests) <= 4  # three pages, plus at most one that comes back empty


def test_the_documented_shape_asks_exactly_three_pages() -> None:
    _, requests = listing(docs_shape)
    assert [query(r)["page"] for r in requests] == ["1", "2", "3"]


def test_a_server_that_ignores_the_page_ends_the_reading_without_duplicates() -> None:
    ids, requests = listing(lambda request: ok({"webhooks": HOOKS[:CAP], "has_more": True}))
    assert ids == [hook["id"] for hook in HOOKS[:CAP]]
    assert len(requests) == 2


def test_a_bare_list_that_ignores_paging_is_read_whole() -> None:
    ids, requests = listing(lambda request: ok(HOOKS))
    assert len(ids) == TOTAL and len(set(ids)) == TOTAL
    assert len(requests) == 2  # the second page said nothing new


def test_a_total_that_overstates_ends_on_the_empty_page() -> None:
    def overstated(request: httpx.Request) -> httpx.Response:
        page, size, items = window(request)
        return ok({"webhooks": items, "pagination": {"total": 500, "page": page, "per_page": size}})

    ids, requests = listing(overstated)
    assert len(ids) == TOTAL and len(requests) == 4


def test_a_next_link_to_another_host_is_not_followed() -> None:
    def elsewhere(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "api.test", "the bearer token went to another host"
        page, _size, items = window(request)
        return ok({"webhooks": items, "next": f"https://evil.test/steal?page={page + 1}"})

    ids, requests = listing(elsewhere)
    assert len(ids) == TOTAL  # read by page number instead
    assert all(r.url.host == "api.test" for r in requests)


def test_a_list_that_never_ends_is_cut_off_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pagination, "MAX_PAGES", 5)

    def endless(request: httpx.Request) -> httpx.Response:
        page = int(query(request).get("page", "1"))
        return ok({"webhooks": [{"id": f"whk_{page}"}], "has_more": True})

    with pytest.raises(ServerError, match="kept announcing more pages"):
        listing(endless)


def test_an_unexpected_shape_is_an_error_not_an_empty_list() -> None:
    with pytest.raises(ServerError, match="unexpected shape"):
        listing(lambda request: ok({"something": "else"}))


def without_get_by_id(request: httpx.Request) -> httpx.Response:
    """APIMW documents no GET /webhooks/{id}: lookups go through the list."""
    if request.url.path != "/v1/webhooks":
        body = {"success": False, "error": {"code": "NOT_FOUND", "message": "Not found"}}
        return httpx.Response(404, json=body)
    return docs_shape(request)


@pytest.mark.parametrize(
    ("ref", "expected"), [("whk_044", "whk_044"), ("https://app.test/hooks/41", "whk_041")]
)
def test_resolve_finds_a_webhook_on_the_last_page(ref: str, expected: str) -> None:
    with ApiClient(BASE, transport=httpx.MockTransport(without_get_by_id)) as client:
        assert webhooks.resolve(client, ref).id == expected


def test_a_prefix_is_ambiguous_across_pages() -> None:
    transport = httpx.MockTransport(without_get_by_id)
    with (
        ApiClient(BASE, transport=transport) as client,
        pytest.raises(webhooks.AmbiguousWebhookError, match="5 webhooks"),
    ):
        webhooks.resolve(client, "whk_04")
