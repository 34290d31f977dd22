"""The only exceptions Http1Client raises: each with a short message fit for a report line."""

from __future__ import annotations

__all__ = ["ConnectFailed", "Http1Error", "ProtocolFailed", "TimedOut"]


class Http1Error(Exception):
    """Base class: the request did not get a complete answer (see the subclasses)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConnectFailed(Http1Error):
    """No connection: refused, unreachable, name not resolved."""


class TimedOut(Http1Error):
    """The request's total timeout ran out (waiting for a connection included)."""


class ProtocolFailed(Http1Error):
    """Not a valid HTTP/1.1 exchange: a malformed answer, a connection closed before the answer
    was complete, a URL or header this client refuses to send."""


class ClosedBeforeAnswer(ProtocolFailed):
    """The connection ended before any byte of the answer (client.py may retry these once)."""
