"""`/v1/whatsapp/messages`: send a message (its status events follow) and look one up."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from apimw_cli.sandbox.context import V1, authenticate
from apimw_cli.sandbox.envelopes import not_found, ok
from apimw_cli.sandbox.validation import (
    MAX_MESSAGE,
    check_phone,
    optional,
    read_fields,
    require_str,
)


async def send_message(request: Request) -> Response:
    sandbox = authenticate(request)
    body = await read_fields(request, frozenset({"to", "message", "preview_url"}))
    to = check_phone(body, "to", "must be an E.164 phone number like +14155550123")
    text = require_str(body, "message", max_len=MAX_MESSAGE)
    optional(body, "preview_url", bool, "true or false")
    message = sandbox.worker.send_message(to, text)
    return ok(
        {
            "message_id": message["message_id"],
            "to": to,
            "status": "sent",
            "timestamp": message["timestamps"]["sent"],
        }
    )


async def get_message(request: Request) -> Response:
    sandbox = authenticate(request)
    message_id = request.path_params["message_id"]
    message = sandbox.store.messages.get(message_id)
    if message is None:
        raise not_found("message", message_id)
    return ok(message)


ROUTES = [
    Route(f"{V1}/whatsapp/messages/send", send_message, methods=["POST"]),
    Route(f"{V1}/whatsapp/messages/{{message_id}}", get_message, methods=["GET"]),
]
