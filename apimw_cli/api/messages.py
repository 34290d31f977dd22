"""WhatsApp messages: the source of real message.* events."""

from __future__ import annotations

from typing import Any

from apimw_cli.api.client import ApiClient
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


def status(client: ApiClient, message_id: str) -> dict[str, Any]:
    from urllib.parse import quote

    path = f"whatsapp/messages/{quote(message_id, safe='')}"
    return _object(client.request("GET", path).data, "message status")
