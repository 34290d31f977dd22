"""APIMW's answer envelopes: `{"success": true, "data": ...}` and the error shape, which every
failure becomes, starlette's own 404/405 and crashes included (docs/apimw-api.md, "Envelopes")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

# The APIMW code for an HTTP error that starlette raises itself.
STATUS_CODES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_TOKEN",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
}


class Problem(Exception):
    """An error answer: becomes `{"success": false, "error": {...}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


MAX_FIELD_NAME = 80  # a field name from the request is quoted at most this long


def invalid(field_name: str, message: str) -> Problem:
    """A 400 naming the field first, as the API does ("url: ...")."""
    if len(field_name) > MAX_FIELD_NAME:
        field_name = field_name[:MAX_FIELD_NAME] + "..."
    return Problem(400, "VALIDATION_ERROR", f"{field_name}: {message}")


def not_found(what: str, identifier: str) -> Problem:
    return Problem(404, "NOT_FOUND", f"no {what} {identifier!r}")


class Answer(JSONResponse):
    """JSON through orjson: a list of 100 webhooks is written in a tenth of the time, which the
    API's latency during a delivery burst feels. What orjson will not write (an integer beyond
    64 bits that a client sent in event data) goes through the json module as before."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError is one
            return super().render(content)


def ok(data: Any, status: int = 200) -> JSONResponse:
    return Answer({"success": True, "data": data}, status_code=status)


def error_response(problem: Problem) -> JSONResponse:
    body = {
        "success": False,
        "error": {"code": problem.code, "message": problem.message, **problem.extra},
    }
    return Answer(body, status_code=problem.status, headers=problem.headers)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return error_response(exc)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = STATUS_CODES.get(
        exc.status_code, "INTERNAL_ERROR" if exc.status_code >= 500 else "VALIDATION_ERROR"
    )
    message = {
        404: f"no such endpoint: {request.method} {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, exc.detail)
    return error_response(Problem(exc.status_code, code, message, headers=exc.headers))


async def _on_crash(request: Request, exc: Exception) -> Response:
    return error_response(
        Problem(500, "INTERNAL_ERROR", f"sandbox fault: {exc.__class__.__name__}")
    )


async def _on_client_gone(request: Request, exc: Exception) -> Response:
    # The client left while its body was being read: no one to answer, and nothing failed
    # here. Under `Exception`, starlette would re-raise it for uvicorn to log with a traceback.
    return Response(status_code=400)


EXCEPTION_HANDLERS: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    Problem: _on_problem,
    HTTPException: _on_http_exception,
    ClientDisconnect: _on_client_gone,
    Exception: _on_crash,
}
