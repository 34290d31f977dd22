"""Webhook calls: create, list (following pages), get, update, delete, deliveries, and the
resolution of what users type (an id, a unique id prefix, or an exact URL) to one webhook."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from apimw_cli.api.client import ApiClient, Response, as_list
from apimw_cli.api.pagination import collect
from apimw_cli.errors import ApiError, NotFoundError, ServerError, UsageError
from apimw_cli.models import Delivery, Webhook


def _path(webhook_id: str) -> str:
    return f"webhooks/{quote(webhook_id, safe='')}"


def _webhook(data: Any, what: str) -> Webhook:
    if not isinstance(data, Mapping):
        raise ServerError(f"the API's answer to {what} is not a webhook object")
    return Webhook.from_api(data)


def list_webhooks(client: ApiClient) -> list[Webhook]:
    """Every webhook, on however many pages and in whichever paging shape (api/pagination.py)."""

    def fetch(path: str, params: Mapping[str, Any] | None) -> Response:
        return client.request("GET", path, params=params)

    items = collect(fetch, "webhooks", "webhooks")
    return [Webhook.from_api(item) for item in items if isinstance(item, Mapping)]


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
    optional: Mapping[str, Any] | None = None,
    note: Callable[[str], None] | None = None,
) -> Webhook:
    """POST /webhooks. `optional` fields are nice to have but not documented by APIMW: an API
    that refuses them with a 400 gets the request again without them (said through `note`)."""
    body: dict[str, Any] = {"url": url, "events": events}
    if secret is not None:
        body["secret"] = secret
    if active is not None:
        body["active"] = active
    if description is not None:
        body["description"] = description
    extra = dict(optional or {})
    try:
        data = client.request("POST", "webhooks", json_body={**body, **extra}).data
    except ApiError as exc:
        if not extra or not refuses_optional(exc, extra, body):
            raise
        (note or (lambda _message: None))(
            f"the API refused the optional field(s) {', '.join(sorted(extra))} "
            f"({exc.message}); registering without them"
        )
        data = client.request("POST", "webhooks", json_body=body).data
    return _webhook(data, "create webhook")


def refuses_optional(error: ApiError, optional: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """Is `error` a 400 that may be about the optional fields: one naming any of them, or a
    VALIDATION_ERROR naming none of the documented fields that were sent?"""
    if error.status != 400:
        return False
    words = set(re.findall(r"[A-Za-z_]+", error.message))
    if words & set(optional):
        return True
    return error.code == "VALIDATION_ERROR" and not words & set(sent)


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
    "refuses_optional",
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
