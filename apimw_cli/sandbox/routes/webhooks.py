"""`/v1/webhooks`: register, list, show, change and delete webhooks, and list their attempts.

A new url is verified in the background (the worker sends the challenge); the answer does not
wait for it, so `verified` is null until then.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from apimw_cli.sandbox.context import V1, Sandbox, authenticate
from apimw_cli.sandbox.envelopes import invalid, not_found, ok
from apimw_cli.sandbox.store.webhooks import CHANGEABLE
from apimw_cli.sandbox.urls import check_url
from apimw_cli.sandbox.validation import (
    check_description,
    check_events,
    check_secret,
    optional,
    page_of,
    read_fields,
)


def find_webhook(sandbox: Sandbox, webhook_id: str) -> dict[str, Any]:
    webhook = sandbox.store.webhooks.get(webhook_id)
    if webhook is None:
        raise not_found("webhook", webhook_id)
    return webhook


async def create_webhook(request: Request) -> Response:
    sandbox = authenticate(request)
    body = await read_fields(request, CHANGEABLE)
    if "url" not in body:
        raise invalid("url", "is required")
    url = check_url(body["url"])
    if "events" not in body:
        raise invalid("events", "is required")
    events = check_events(body["events"])
    secret = check_secret(body.get("secret"))
    active = optional(body, "active", bool, "true or false")
    description = check_description(body)
    webhook = sandbox.store.webhooks.create(
        url=url,
        events=events,
        secret=secret,
        active=True if active is None else active,
        description=description,
        now=sandbox.clock.now(),
    )
    sandbox.worker.start_verification(webhook["id"], url, secret)
    return ok(webhook, status=201)


async def list_webhooks(request: Request) -> Response:
    """One page of webhooks, oldest first, with the documented `pagination` object."""
    webhooks = authenticate(request).store.webhooks.all()
    page = page_of(request)
    return ok({"webhooks": page.of(webhooks), "pagination": page.pagination(len(webhooks))})


async def get_webhook(request: Request) -> Response:
    return ok(find_webhook(authenticate(request), request.path_params["webhook_id"]))


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    """The checked fields of a PATCH body, only those present."""
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = check_url(body["url"])
    if "events" in body:
        changes["events"] = check_events(body["events"])
    if "secret" in body:
        changes["secret"] = check_secret(body["secret"])
    if "active" in body:
        active = optional(body, "active", bool, "true or false")
        if active is None:
            raise invalid("active", "must be true or false")
        changes["active"] = active
    if "description" in body:
        changes["description"] = check_description(body)
    return changes


async def update_webhook(request: Request) -> Response:
    sandbox = authenticate(request)
    webhook = find_webhook(sandbox, request.path_params["webhook_id"])
    body = await read_fields(request, CHANGEABLE)
    changes = _changes(body)
    sandbox.store.webhooks.update(webhook["id"], changes, sandbox.clock.now())
    if "url" in changes and changes["url"] != webhook["url"]:
        sandbox.worker.start_verification(
            webhook["id"], changes["url"], sandbox.store.webhooks.secret(webhook["id"])
        )
    if changes.get("active"):
        sandbox.worker.wake()  # held deliveries may go now
    return ok(find_webhook(sandbox, webhook["id"]))


async def delete_webhook(request: Request) -> Response:
    sandbox = authenticate(request)
    webhook_id = request.path_params["webhook_id"]
    if not sandbox.store.webhooks.delete(webhook_id):
        raise not_found("webhook", webhook_id)
    return ok({"id": webhook_id, "deleted": True})


async def list_deliveries(request: Request) -> Response:
    """One page of a webhook's attempts, newest first; `?limit=` (older clients) is per_page."""
    sandbox = authenticate(request)
    webhook = find_webhook(sandbox, request.path_params["webhook_id"])
    page = page_of(request, per_page_alias="limit")
    attempts, total = sandbox.store.deliveries.attempts(
        webhook["id"], limit=page.per_page, offset=(page.page - 1) * page.per_page
    )
    return ok({"deliveries": attempts, "pagination": page.pagination(total)})


ROUTES = [
    Route(f"{V1}/webhooks", list_webhooks, methods=["GET"]),
    Route(f"{V1}/webhooks", create_webhook, methods=["POST"]),
    Route(f"{V1}/webhooks/{{webhook_id}}", get_webhook, methods=["GET"]),
    Route(f"{V1}/webhooks/{{webhook_id}}", update_webhook, methods=["PATCH"]),
    Route(f"{V1}/webhooks/{{webhook_id}}", delete_webhook, methods=["DELETE"]),
    Route(f"{V1}/webhooks/{{webhook_id}}/deliveries", list_deliveries, methods=["GET"]),
]
