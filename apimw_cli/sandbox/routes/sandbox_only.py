"""`/v1/sandbox/*`, which APIMW does not have: make an inbound message or any catalog event
happen, and a health check."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from apimw_cli import catalog
from apimw_cli.sandbox.context import V1, authenticate, sandbox_of
from apimw_cli.sandbox.envelopes import ok
from apimw_cli.sandbox.validation import (
    MAX_MESSAGE,
    check_event_type,
    check_phone,
    optional,
    read_fields,
    require_str,
)


async def sandbox_inbound(request: Request) -> Response:
    """A customer's message: a message.received event; it opens their 24-hour window."""
    sandbox = authenticate(request)
    body = await read_fields(request, frozenset({"from", "text", "name"}))
    sender = check_phone(body, "from", "must be an E.164 phone number")
    text = require_str(body, "text", max_len=MAX_MESSAGE)
    name = optional(body, "name", str, "a string") or "Sandbox Customer"
    data = {
        "message_id": catalog.message_id(),
        "from": sender,
        "message_type": "text",
        "text": text,
        "contact": {"name": name, "wa_id": sender.lstrip("+")},
    }
    event_id, count = sandbox.worker.receive_message(data)
    return ok({"event_id": event_id, "type": "message.received", "deliveries": count, "data": data})


async def sandbox_event(request: Request) -> Response:
    """Any catalog event: its sample data with the request's `data` merged over it."""
    sandbox = authenticate(request)
    body = await read_fields(request, frozenset({"type", "data"}))
    event_type = check_event_type("type", require_str(body, "type"))
    override = optional(body, "data", dict, "an object") or {}
    data = catalog.deep_merge(catalog.sample_data(event_type), override)
    if event_type == "message.received":  # a customer wrote: their 24-hour window opens
        event_id, count = sandbox.worker.receive_message(data)
    else:
        event_id, count = sandbox.worker.emit(event_type, data)
    return ok({"event_id": event_id, "type": event_type, "deliveries": count, "data": data})


async def health(request: Request) -> Response:
    sandbox = sandbox_of(request)
    return ok(
        {"status": "ok", "sandbox": True, "uptime_s": round(time.time() - sandbox.started, 1)}
    )


ROUTES = [
    Route(f"{V1}/sandbox/inbound", sandbox_inbound, methods=["POST"]),
    Route(f"{V1}/sandbox/events", sandbox_event, methods=["POST"]),
    Route(f"{V1}/sandbox/health", health, methods=["GET"]),
]
