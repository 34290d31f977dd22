"""Reading a whole list from an API that pages it, whichever way it pages.

APIMW documents one pagination shape, `{"pagination": {"total": 15, "page": 1, "per_page": 20}}`
(docs/apimw-api.md); other reasonable APIs use a cursor (`next_cursor`), `has_more`,
`total_pages`, offset/limit, a `next` link (in the body or an RFC 8288 `Link` header), or send a
bare list. Every signal is followed, and none is needed: when a page says nothing, the next one
is asked for until one comes back short (fewer items than the page size the server says it
used, or than the first page held) or empty. A server that ignores the page asked for (it sends
the same items again) ends the reading without duplicates; MAX_PAGES bounds a server that never
ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from apimw_cli.api.client import Response, as_list
from apimw_cli.errors import ServerError

__all__ = ["MAX_PAGES", "PAGE_SIZE", "collect"]

PAGE_SIZE = 100  # asked for; servers may cap it (APIMW's documented lists say per_page 20)
MAX_PAGES = 1000

# What the next request is: a path or absolute URL, and its query (None: the URL holds it).
Step = tuple[str, dict[str, Any] | None]
Fetch = Callable[[str, Mapping[str, Any] | None], Response]


@dataclass(frozen=True)
class Page:
    """One answer: its items and every paging hint found around them."""

    items: list[Any]
    hints: Mapping[str, Any]  # pagination fields, wherever the API put them
    next_link: str | None  # an absolute same-origin URL for the next page, when one was given
    link_ended: bool  # a `next` member was present and empty: the API said this is the last


def collect(fetch: Fetch, path: str, key: str, *, page_size: int = PAGE_SIZE) -> list[Any]:
    """Every item of the list at `path` (its items under `key` when not a bare list)."""
    collected: list[Any] = []
    seen: set[str] = set()
    step: Step = (path, {"page": 1, "per_page": page_size})
    first_size: int | None = None
    for number in range(1, MAX_PAGES + 1):
        response = fetch(*step)
        page = read_page(response, key)
        fresh = [item for item in page.items if _identity(item) not in seen]
        if not fresh:  # empty, or the same items again: the server ignores the page asked for
            return collected
        seen.update(_identity(item) for item in fresh)
        collected.extend(fresh)
        first_size = first_size or len(page.items)
        following = next_step(page, path, step[1], number, first_size, len(collected))
        if following is None:
            return collected
        step = following
    raise ServerError(
        f"the API kept announcing more pages of {key} after {MAX_PAGES} pages; stopped reading",
        hint="report this to APIMW support: the list never ends",
    )


def read_page(response: Response, key: str) -> Page:
    """The answer's items, and its paging hints wherever the API put them: beside `data` in the
    envelope or in `data`, each possibly in a `meta` or `pagination` member (inner ones win)."""
    items, _ = as_list(response.data, key)
    hints: dict[str, Any] = {}
    for outer in (response.extras, response.data):
        for holder in _with_members(outer):
            hints.update({k: v for k, v in holder.items() if k != key})
    link, ended = _next_link(hints, response)
    return Page(items, hints, link, ended)


def _with_members(holder: Any) -> list[Mapping[str, Any]]:
    """`holder`, its `meta`, `meta.pagination` and `pagination`: those that are objects."""
    if not isinstance(holder, Mapping):
        return []
    meta = holder.get("meta")
    nested = meta.get("pagination") if isinstance(meta, Mapping) else None
    found = [holder, meta, nested, holder.get("pagination")]
    return [h for h in found if isinstance(h, Mapping)]


def next_step(
    page: Page,
    path: str,
    asked: Mapping[str, Any] | None,
    number: int,
    first_size: int,
    count: int,
) -> Step | None:
    """The request for the page after `page` (the `number`th read, asked for with the query
    `asked`), or None when it was the last. `count` items are collected so far."""
    hints = page.hints
    per_page = _int(hints, "per_page", "page_size", "limit", "pageSize")
    size = per_page or (asked or {}).get("per_page") or first_size
    cursor = hints.get("next_cursor", hints.get("cursor", hints.get("nextCursor")))
    if isinstance(cursor, str) and cursor:
        return path, {"cursor": cursor, "per_page": size}
    if page.next_link is not None:
        return page.next_link, None
    current = _int(hints, "page", "current_page", "currentPage") or number
    following: Step = (path, {"page": current + 1, "per_page": size})
    offset = _int(hints, "offset")
    if offset is not None:
        following = (path, {"offset": offset + len(page.items), "limit": size})
    verdict = _announced(hints, current, per_page, count, page.link_ended)
    if verdict is None:  # nothing said: a full page may have a successor, a short one has not
        verdict = len(page.items) >= (per_page or first_size)
    return following if verdict else None


def _announced(
    hints: Mapping[str, Any], current: int, per_page: int | None, count: int, ended: bool
) -> bool | None:
    """Whether the API said there is a next page (None: it did not say)."""
    more = hints.get("has_more", hints.get("hasMore"))
    if isinstance(more, bool):
        return more
    total_pages = _int(hints, "total_pages", "totalPages", "last_page", "pages")
    if total_pages is not None:
        return current < total_pages
    total = _int(hints, "total", "total_count", "totalCount", "count")
    if total is not None:
        seen_through = current * per_page if per_page else count
        return seen_through < total and count < total
    if ended or ("next_cursor" in hints and not hints["next_cursor"]):
        return False
    return None


def _next_link(hints: Mapping[str, Any], response: Response) -> tuple[str | None, bool]:
    """The `next` URL (absolute, same origin as the answer, so the token never leaves the API),
    and whether a `next` member said there is none."""
    candidates: list[Any] = [hints.get("next"), hints.get("next_url"), hints.get("next_page_url")]
    links = hints.get("links")
    if isinstance(links, Mapping):
        candidates.append(links.get("next"))
    present = any(k in hints for k in ("next", "next_url", "next_page_url")) or (
        isinstance(links, Mapping) and "next" in links
    )
    candidates.append(_link_header(response.headers.get("Link") or ""))
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            candidate = candidate.get("href")
        if isinstance(candidate, str) and candidate:
            url = urljoin(response.url, candidate)
            if _origin(url) == _origin(response.url):
                return url, False
    return None, present and not any(candidates)


def _link_header(value: str) -> str | None:
    for part in value.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>")
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _int(hints: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = hints.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _identity(item: Any) -> str:
    if isinstance(item, Mapping) and isinstance(identifier := item.get("id"), str):
        return "id:" + identifier
    return json.dumps(item, sort_keys=True, default=str)
