"""WhatsApp messages: the source of real message.* events. Texts, template messages, and the
list of templates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apimw_cli.api.client import ApiClient, Response
from apimw_cli.api.pagination import collect
from apimw_cli.errors import ServerError


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ServerError(f"the API's answer to {what} is not an object")
    return data


def send(
    client: ApiClient, to: str, text: str, *, preview_url: bool | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"to": to, "message": text}
    if preview_url is not None:
        body["preview_url"] = preview_url
    return _object(client.request("POST", "whatsapp/messages/send", json_body=body).data, "send")


def send_template(
    client: ApiClient, to: str, template: str, language: str, params: Sequence[str] = ()
) -> dict[str, Any]:
    """A template message; `params` fill the body's placeholders in order, as text parameters
    (the docs' body component). Without params no components are sent."""
    body: dict[str, Any] = {"to": to, "template": template, "language": language}
    if params:
        parameters = [{"type": "text", "text": value} for value in params]
        body["components"] = [{"type": "body", "parameters": parameters}]
    answer = client.request("POST", "whatsapp/messages/template", json_body=body)
    return _object(answer.data, "send template")


def templates(
    client: ApiClient, *, status: str | None = None, category: str | None = None
) -> list[dict[str, Any]]:
    """Every template (filtered by status and category), on however many pages there are."""
    filters = {k: v for k, v in (("status", status), ("category", category)) if v is not None}

    def fetch(path: str, params: Mapping[str, Any] | None) -> Response:
        # A `next` link (params None) carries its own query, filters included.
        query = None if params is None else {**filters, **params}
        return client.request("GET", path, params=query)

    items = collect(fetch, "whatsapp/templates", "templates")
    return [dict(item) for item in items if isinstance(item, Mapping)]


def status(client: ApiClient, message_id: str) -> dict[str, Any]:
    from urllib.parse import quote

    path = f"whatsapp/messages/{quote(message_id, safe='')}"
    return _object(client.request("GET", path).data, "message status")
