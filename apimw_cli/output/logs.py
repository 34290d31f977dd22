"""Python logging's way to the terminal: what libraries log (uvicorn's "Exception in ASGI
application", asyncio's "Task exception was never retrieved") is masked and escaped like every
other line on stderr, since a traceback can quote a request, a URL or a secret.

Two things uvicorn logs are said our way (`ServerNotes`, which the receiver and the sandbox put
on uvicorn's logger with `note_server_logs`):

- Stopping with a request still in progress after the grace period (a body still trickling in
  at Ctrl-C) is an ERROR to uvicorn: "Cancel 1 running task(s), timeout graceful shutdown
  exceeded". Nothing failed: it becomes the warning "stopping: cut off 1 request still in
  progress". uvicorn then logs that request as "Exception in ASGI application" with a
  CancelledError traceback: left out, the warning has said it.
- A malformed request is answered 400 and closed, and uvicorn's own protocols also log
  "Invalid HTTP request received." for each. Left out: anyone on the internet could fill the
  terminal with it through listen's tunnel (the receiver's httptools protocol is silent).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from apimw_cli.output.masking import redact
from apimw_cli.output.untrusted import visible_lines

__all__ = ["ServerNotes", "install", "note_server_logs"]


class _Redacting(logging.Handler):
    """Writes to the current sys.stderr (a test may swap it), masked, controls escaped."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = logging.Formatter("%(levelname)s: %(name)s: %(message)s").format(record)
            sys.stderr.write(visible_lines(redact(text)) + "\n")
            sys.stderr.flush()
        except Exception:  # a log line must never take the program down
            self.handleError(record)


def install(level: int = logging.WARNING) -> None:
    """Send warnings and errors logged anywhere through the masking handler, once."""
    root = logging.getLogger()
    if not any(isinstance(handler, _Redacting) for handler in root.handlers):
        handler = _Redacting(level)
        root.addHandler(handler)


_CUT_OFF = "Cancel %s running task(s), timeout graceful shutdown exceeded"
_INVALID = "Invalid HTTP request received."


class ServerNotes(logging.Filter):
    """The filter on uvicorn's logger; see the module docstring."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            return False
        if record.msg == _INVALID:
            return False
        if record.msg == _CUT_OFF and isinstance(record.args, tuple) and record.args:
            count = record.args[0]
            record.levelno, record.levelname, record.name = logging.WARNING, "WARNING", "apimw"
            # No duration: each server (receiver, inspector, sandbox) has a grace of its own.
            if count == 0:  # only connections were left open
                record.msg, record.args = "stopping: closed the connections still open", ()
            else:
                record.msg = "stopping: cut off %s request%s still in progress"
                record.args = (count, "" if count == 1 else "s")
        return True


def note_server_logs() -> None:
    """Put `ServerNotes` on uvicorn's logger, once."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, ServerNotes) for f in logger.filters):
        logger.addFilter(ServerNotes())
