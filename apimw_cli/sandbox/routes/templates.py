"""`/v1/whatsapp/templates` and `/v1/whatsapp/messages/template`: list the message templates and
send one (its status events follow, as a text's do; the 24-hour window does not apply)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from apimw_cli.sandbox import templating
from apimw_cli.sandbox.context import V1, authenticate
from apimw_cli.sandbox.envelopes import Problem, invalid, ok
from apimw_cli.sandbox.validation import check_phone, page_of, read_fields, require_str

STATUSES = ("APPROVED", "PENDING", "REJECTED")
CATEGORIES = ("TRANSACTIONAL", "MARKETING", "OTP", "UTILITY")  # the docs' list


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.upper() not in allowed:
        raise invalid(name, f"must be one of {', '.join(allowed)}")
    return raw.upper()


async def list_templates(request: Request) -> Response:
    sandbox = authenticate(request)
    status = _choice(request, "status", STATUSES)
    category = _choice(request, "category", CATEGORIES)
    page = page_of(request)
    templates, total = sandbox.store.templates.page(
        status=status, category=category, page=page.page, per_page=page.per_page
    )
    return ok({"templates": templates, "pagination": page.pagination(total)})


def _version(versions: list[dict[str, Any]], name: str, language: str) -> dict[str, Any]:
    """The template's version in `language`, approved; a 404 or 400 that says what is wrong."""
    if not versions:
        raise Problem(
            404,
            "NOT_FOUND",
            f"template: no template {name!r} (GET /v1/whatsapp/templates lists them)",
        )
    chosen = next((v for v in versions if v["language"] == language), None)
    if chosen is None:
        have = ", ".join(v["language"] for v in versions)
        raise invalid("language", f"template {name!r} has no {language!r} version (it has: {have})")
    if chosen["status"] != "APPROVED":
        raise invalid(
            "template",
            f"{name!r} ({language}) is {chosen['status']}: only APPROVED templates can be sent",
        )
    return chosen


async def send_template(request: Request) -> Response:
    sandbox = authenticate(request)
    body = await read_fields(request, frozenset({"to", "template", "language", "components"}))
    to = check_phone(body, "to", "must be an E.164 phone number like +14155550123")
    name = require_str(body, "template")
    language = require_str(body, "language")
    try:
        components = templating.check_components(body.get("components"))
    except ValueError as exc:
        raise invalid("components", str(exc)) from None
    template = _version(sandbox.store.templates.versions(name), name, language)
    try:
        templating.check_against(template, components)
    except ValueError as exc:
        raise invalid("components", str(exc)) from None
    text = templating.render(template, components)
    message = sandbox.worker.send_message(to, text, template=name)
    return ok(
        {
            "message_id": message["message_id"],
            "to": to,
            "template": name,
            "status": "sent",
            "timestamp": message["timestamps"]["sent"],
        }
    )


ROUTES = [
    Route(f"{V1}/whatsapp/templates", list_templates, methods=["GET"]),
    Route(f"{V1}/whatsapp/messages/template", send_template, methods=["POST"]),
]
