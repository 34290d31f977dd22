"""The sandbox's endpoints, one module per resource; each module's ROUTES lists its own."""

from __future__ import annotations

from starlette.routing import Route

from apimw_cli.sandbox.routes import auth, messages, sandbox_only, webhooks

ROUTES: list[Route] = [*auth.ROUTES, *webhooks.ROUTES, *messages.ROUTES, *sandbox_only.ROUTES]
