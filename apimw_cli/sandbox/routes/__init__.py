"""The sandbox's endpoints, one module per resource; each module's ROUTES lists its own."""

from __future__ import annotations

from starlette.routing import Route

from apimw_cli.sandbox.routes import auth, messages, sandbox_only, templates, webhooks

# Templates before messages: POST /v1/whatsapp/messages/template is not a message id.
ROUTES: list[Route] = [
    *auth.ROUTES,
    *webhooks.ROUTES,
    *templates.ROUTES,
    *messages.ROUTES,
    *sandbox_only.ROUTES,
]
