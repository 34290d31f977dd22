"""The inspector's web app: its page, the JSON endpoints behind it, and the event stream.

    GET  /                         the page (the per-run token in a meta tag), /app.js, /app.css
    GET  /api/info                 what the page needs to know (can it replay? re-sign? live?)
    GET  /api/events               rows, newest first (?before=&limit=&type=&verdict=&forward=&q=)
    GET  /api/events/{id}          one event's details
    GET  /api/events/{id}/body     its exact body bytes, as a download
    GET  /api/events/{id}/curl     a curl command reproducing it (token)
    POST /api/events/{id}/replay   replays it to the target, {"mode": ...} (token)
    GET  /api/stream               server-sent events: new rows, forward outcomes (stream.py)

security.py says how the page stays the user's own. Every call on the index runs on one daemon
thread (threads.py) so the loop never waits on the disk, and a replay on a thread of its own.
Whatever the log holds, an answer is JSON that a browser parses (dumps), never a 500.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from apimw_cli.inspector.actions import ActionRefused, Actions
from apimw_cli.inspector.logindex import Filters, LogIndex
from apimw_cli.inspector.security import HostGuard, action_refusal
from apimw_cli.inspector.stream import REFRESH_BUDGET, Streams, forward_cursor
from apimw_cli.inspector.threads import SerialThread, in_daemon_thread

__all__ = ["build_app", "dumps"]

logger = logging.getLogger(__name__)

VERDICTS = ("valid", "invalid", "unsigned", "skipped")
FORWARD_OUTCOMES = ("ok", "failed", "none", "pending")
MODES = ("verbatim", "resigned")
MAX_LIMIT = 500
DEFAULT_LIMIT = 200
MAX_QUERY = 1000  # characters of a search or type filter
MAX_ID = 4096  # characters of a record id (a hostile log may hold long ones)
MAX_ACTION_BODY = 4096
MAX_REPLAYS = 4  # replays in flight at once (each waits for the app on a thread of its own)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_TOKEN_SLOT = "{{APIMW_TOKEN}}"

Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    """A request the page would never send: answered 400 with the message."""


class NotFound(Exception):
    """No such row (or an id no row can have): answered 404 with the message."""

    def __init__(self, record_id: str) -> None:
        shown = record_id if len(record_id) <= 80 else record_id[:79] + "…"
        super().__init__(f"no event {shown!r} in this session")


def dumps(value: Any) -> bytes:
    """`value` as JSON a browser's JSON.parse takes, whatever a hostile log put in it.

    orjson first; what it refuses (a lone surrogate, an integer past 64 bits, nesting past 254)
    goes through the stdlib, and past that through `_tame` (depth cut, NaN as null)."""
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()
    except (ValueError, TypeError, RecursionError):
        pass
    return json.dumps(_tame(value, 64), ensure_ascii=True, separators=(",", ":")).encode()


def _tame(value: Any, depth: int) -> Any:
    """`value` cut to `depth` levels, with what JSON cannot say replaced by null or text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if depth <= 0:
        return "…"
    if isinstance(value, dict):
        return {str(key): _tame(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_tame(item, depth - 1) for item in value]
    return str(value)


def _json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def _static(name: str) -> bytes:
    return (resources.files("apimw_cli.inspector") / "static" / name).read_bytes()


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = _text_param(request, name, 40)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)} (got {value[:40]!r})")
    return value


def _text_param(request: Request, name: str, limit: int = MAX_QUERY) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"{name} given {len(values)} times")
    if not values or values[0] == "":
        return None
    if len(values[0]) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters")
    return values[0]


def _limit(request: Request) -> int:
    text = _text_param(request, "limit", 10)
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _filters(request: Request) -> Filters | None:
    kinds = {
        "type": _text_param(request, "type"),
        "verdict": _choice(request, "verdict", VERDICTS),
        "forward": _choice(request, "forward", FORWARD_OUTCOMES),
        "q": _text_param(request, "q"),
    }
    if not any(kinds.values()):
        return None
    return Filters(
        type=kinds["type"], verdict=kinds["verdict"], forward=kinds["forward"], q=kinds["q"]
    )


def _record_id(request: Request) -> str:
    record_id = str(request.path_params["record_id"])
    if not record_id or len(record_id) > MAX_ID:
        raise NotFound(record_id)
    return record_id


class _Inspector:
    """The routes' state: the index (behind its thread), the actions, the token, the page."""

    def __init__(self, index: LogIndex, actions: Actions, token: str, info: dict[str, Any]):
        self.index = index
        self.actions = actions
        self.token = token
        self.info = info
        self.worker = SerialThread("apimw-inspector-index")
        self.replays = asyncio.Semaphore(MAX_REPLAYS)
        self.streams = Streams(index, self.worker, dumps)
        page = _static("index.html").decode("utf-8")
        self.page = page.replace(_TOKEN_SLOT, html.escape(token, quote=True)).encode("utf-8")
        self.script = _static("app.js")
        self.style = _static("app.css")

    async def call(self, work: Callable[[], Any]) -> Any:
        return await self.worker.call(work)

    # -- the page ----------------------------------------------------------------------------

    async def page_route(self, request: Request) -> Response:
        return Response(self.page, media_type="text/html; charset=utf-8")

    async def script_route(self, request: Request) -> Response:
        return Response(self.script, media_type="text/javascript; charset=utf-8")

    async def style_route(self, request: Request) -> Response:
        return Response(self.style, media_type="text/css; charset=utf-8")

    # -- reading -----------------------------------------------------------------------------

    async def info_route(self, request: Request) -> Response:
        return _json(self.capabilities())

    def capabilities(self) -> dict[str, Any]:
        source = self.actions.source
        unsafe = {key for key in self.info if "secret" in key.lower()}
        return {
            **{key: value for key, value in self.info.items() if key not in unsafe},
            "can_replay": source.target is not None,
            "can_resign": source.secret is not None,
            "replay_off": None
            if source.target is not None
            else "no replay target: listen with --forward-to, or inspect with --to URL",
            "resign_off": None
            if source.secret is not None
            else "no webhook secret known: give one with --resign/--resign-env/--resign-file",
            "live": source.live,
            "log": source.log.name,
        }

    async def events_route(self, request: Request) -> Response:
        before = _text_param(request, "before", MAX_ID)
        limit = _limit(request)
        filters = _filters(request)

        def page() -> dict[str, Any]:
            if before is None:
                self.index.refresh(REFRESH_BUDGET)
            rows = self.index.rows(before=before, limit=limit + 1, filters=filters)
            newest = self.index.rows(limit=1)
            cursor = {
                "seq": int(newest[0]["seq"]) if newest else 0,
                "forwards": forward_cursor(self.index),
            }
            return {"rows": rows[:limit], "more": len(rows) > limit, "cursor": cursor}

        return _json(await self.call(page))

    async def detail_route(self, request: Request) -> Response:
        record_id = _record_id(request)
        # The body as {size, pretty_error} only: the page reads the exact bytes from /body, once.
        read = functools.partial(self.index.detail, body_forms=False)
        detail = await self.call(lambda: self._fresh(read, record_id))
        if detail is None:
            raise NotFound(record_id)
        return _json(detail)

    def _fresh(self, read: Callable[[str], Any], record_id: str) -> Any:
        """`read(record_id)`, once more after a refresh if the index has not seen it yet."""
        found = read(record_id)
        if found is None and self.index.refresh():
            found = read(record_id)
        return found

    async def body_route(self, request: Request) -> Response:
        record_id = _record_id(request)
        body = await self.call(lambda: self._fresh(self.index.body, record_id))
        if body is None:
            raise NotFound(record_id)
        name = _SAFE_NAME.sub("_", record_id)[:100] or "event"
        return Response(
            body,
            media_type="application/octet-stream",
            headers={"content-disposition": f'attachment; filename="{name}.body"'},
        )

    # -- actions -----------------------------------------------------------------------------

    def _mode(self, mode: object) -> str:
        if mode is None:
            return "resigned" if self.actions.source.secret is not None else "verbatim"
        if mode not in MODES:
            raise BadRequest(f"mode must be one of {', '.join(MODES)}")
        return str(mode)

    async def curl_route(self, request: Request) -> Response:
        if (why := action_refusal(request, self.token)) is not None:
            return _error(403, why)
        record_id = _record_id(request)
        mode = self._mode(_text_param(request, "mode", 20))
        await self._known(record_id)
        command = await self.call(lambda: self.actions.curl(record_id, mode))
        return _json({"command": command, "mode": mode})

    async def replay_route(self, request: Request) -> Response:
        if (why := action_refusal(request, self.token)) is not None:
            return _error(403, why)
        record_id = _record_id(request)
        mode = self._mode(await _mode_of(request))
        await self._known(record_id)
        async with self.replays:  # a page's burst of clicks: a few at a time
            row = await in_daemon_thread(
                lambda: self.actions.replay(record_id, mode), "apimw-inspector-replay"
            )
        return _json(row)

    async def _known(self, record_id: str) -> None:
        """Raises NotFound unless the index has a row `record_id` (refreshed if need be)."""
        if await self.call(lambda: self._fresh(self.index.row, record_id)) is None:
            raise NotFound(record_id)


async def _mode_of(request: Request) -> object:
    """The `mode` of a replay's JSON body ({"mode": ...})."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_ACTION_BODY:
            raise BadRequest("the request body is too large")
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise BadRequest('the body must be JSON: {"mode": "verbatim" | "resigned"}') from None
    if not isinstance(payload, dict) or "mode" not in payload:
        raise BadRequest('the body must be {"mode": "verbatim" | "resigned"}')
    return payload["mode"]


def _answering(handler: Handler) -> Handler:
    """`handler`, with the page's mistakes answered 400, refusals 404 or 409, and a failure
    of ours 500 in JSON (logged at debug level: the terminal belongs to the live view)."""

    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as bad:
            return _error(400, str(bad))
        except NotFound as missing:
            return _error(404, str(missing))
        except ActionRefused as refused:  # 404: no such row; 409: it cannot be done here
            return _error(refused.status if refused.status in (404, 409) else 409, str(refused))
        except Exception:
            logger.debug("inspector: %s %s failed", request.method, request.url.path, exc_info=True)
            return _error(500, "the inspector failed to answer this request (see --debug)")

    return answer


def build_app(
    index: LogIndex,
    actions: Actions,
    *,
    token: str,
    allowed_hosts: set[str],
    info: dict[str, Any],
) -> Starlette:
    """The inspector's ASGI app over `index` (see the module docstring). `app.state.streams`
    has `close()`, which ends the open event streams (the server calls it as it stops)."""
    inspector = _Inspector(index, actions, token, info)
    routes = [
        Route("/", _answering(inspector.page_route), methods=["GET"]),
        Route("/app.js", _answering(inspector.script_route), methods=["GET"]),
        Route("/app.css", _answering(inspector.style_route), methods=["GET"]),
        Route("/api/info", _answering(inspector.info_route), methods=["GET"]),
        Route("/api/events", _answering(inspector.events_route), methods=["GET"]),
        Route("/api/stream", inspector.streams, methods=["GET"]),
        Route("/api/events/{record_id}", _answering(inspector.detail_route), methods=["GET"]),
        Route("/api/events/{record_id}/body", _answering(inspector.body_route), methods=["GET"]),
        Route("/api/events/{record_id}/curl", _answering(inspector.curl_route), methods=["GET"]),
        Route(
            "/api/events/{record_id}/replay", _answering(inspector.replay_route), methods=["POST"]
        ),
    ]
    app = Starlette(routes=routes)
    app.state.streams = inspector.streams
    app.state.worker = inspector.worker
    app.add_middleware(HostGuard, hosts=allowed_hosts)
    return app
