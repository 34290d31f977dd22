"""Webhook calls: create, list (following pages), get, update, delete, deliveries, and the
resolution of what users type (an id, a unique id prefix, or an exact URL) to one webhook."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from apimw_cli.api.client import ApiClient, as_list
from apimw_cli.errors import NotFoundError, ServerError, UsageError
from apimw_cli.models import Delivery, Webhook

PAGE_SIZE = 100
MAX_PAGES = 1000  # a server that always says "more" must not keep us forever


def _path(webhook_id: str) -> str:
    return f"webhooks/{quote(webhook_id, safe='')}"


def _webhook(data: Any, what: str) -> Webhook:
    if not isinstance(data, Mapping):
        raise ServerError(f"the API's answer to {what} is not a webhook object")
    return Webhook.from_api(data)


def _next_page(pagination: Mapping[str, Any], page: int) -> dict[str, Any] | None:
    """The query for the next page, from the pagination shapes APIs commonly use."""
    cursor = pagination.get("next_cursor") or pagination.get("cursor")
    if isinstance(cursor, str) and cursor:
        return {"cursor": cursor, "per_page": PAGE_SIZE}
    more = pagination.get("has_more")
    total_pages = pagination.get("total_pages")
    if more is True or (isinstance(total_pages, int) and page < total_pages):
        return {"page": page + 1, "per_page": PAGE_SIZE}
    return None


def list_webhooks(client: ApiClient) -> list[Webhook]:
    """Every webhook, whether the API answers a plain list or pages of `{"webhooks": [...]}`."""
    webhooks: list[Webhook] = []
    params: dict[str, Any] | None = {"page": 1, "per_page": PAGE_SIZE}
    page = 1
    while params is not None and page <= MAX_PAGES:
        items, pagination = as_list(
            client.request("GET", "webhooks", params=params).data, "webhooks"
        )
        webhooks.extend(Webhook.from_api(item) for item in items if isinstance(item, Mapping))
        params = _next_page(pagination, page) if items else None
        page += 1
    return webhooks


def get(client: ApiClient, webhook_id: str) -> Webhook:
    return _webhook(client.request("GET", _path(webhook_id)).data, "get webhook")


def create(
    client: ApiClient,
    *,
    url: str,
    events: list[str],
    secret: str | None = None,
    active: bool | None = None,
    description: str | None = None,
) -> Webhook:
    body: dict[str, Any] = {"url": url, "events": events}
    if secret is not None:
        body["secret"] = secret
    if active is not None:
        body["active"] = active
    if description is not None:
        body["description"] = description
    return _webhook(client.request("POST", "webhooks", json_body=body).data, "create webhook")


def update(client: ApiClient, webhook_id: str, changes: Mapping[str, Any]) -> Webhook:
    data = client.request("PATCH", _path(webhook_id), json_body=dict(changes)).data
    return _webhook(data, "update webhook")


def delete(client: ApiClient, webhook_id: str) -> None:
    client.request("DELETE", _path(webhook_id))


def deliveries(client: ApiClient, webhook_id: str, limit: int = 20) -> list[Delivery] | None:
    """Recent delivery attempts, newest first; None when the API does not offer them."""
    try:
        data = client.request(
            "GET", f"{_path(webhook_id)}/deliveries", params={"limit": limit}
        ).data
    except NotFoundError:
        return None
    items, _ = as_list(data, "deliveries")
    return [Delivery.from_api(item) for item in items if isinstance(item, Mapping)][:limit]


def resolve(client: ApiClient, ref: str) -> Webhook:
    """The one webhook `ref` names: an exact id, a unique id prefix, or an exact URL."""
    ref = ref.strip()
    if not ref:
        raise UsageError("an empty webhook id")
    looks_like_url = ref.startswith(("http://", "https://"))
    if not looks_like_url:
        try:
            return get(client, ref)
        except NotFoundError:
            pass  # maybe a prefix
    everything = list_webhooks(client)
    if looks_like_url:
        matches = [w for w in everything if w.url == ref]
        what = "registered for that URL"
    else:
        matches = [w for w in everything if w.id.startswith(ref)]
        what = f"whose id starts with {ref!r}"
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFoundError(
            f"NOT_FOUND: no webhook {ref!r}",
            status=404,
            code="NOT_FOUND",
            hint="`apimw webhooks list` shows the ids",
        )
    listed = ", ".join(w.id for w in matches[:5]) + (" ..." if len(matches) > 5 else "")
    raise AmbiguousWebhookError(
        f"{len(matches)} webhooks {what}: {listed}",
        hint="give more of the id, or the full id",
    )


class AmbiguousWebhookError(UsageError):
    """A prefix or URL that names several webhooks."""


__all__ = [
    "AmbiguousWebhookError",
    "create",
    "delete",
    "deliveries",
    "get",
    "list_webhooks",
    "resolve",
    "update",
    "wait_for_verification",
]


def wait_for_verification(
    client: ApiClient, webhook: Webhook, timeout: float, sleep: Callable[[float], None] = time.sleep
) -> Webhook:
    """Poll until the API reports the challenge's outcome (if it reports it at all)."""
    if "verified" not in webhook.raw or webhook.verified is not None:
        return webhook
    deadline = time.monotonic() + timeout
    while webhook.verified is None and time.monotonic() < deadline:
        sleep(0.2)
        webhook = get(client, webhook.id)
    return webhook
