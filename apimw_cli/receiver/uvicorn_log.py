"""What uvicorn logs while `listen` serves, said the way the rest of listen speaks.

- Stopping with a request still in progress after the grace period (a body still trickling in
  at Ctrl-C) is an ERROR to uvicorn: "Cancel 1 running task(s), timeout graceful shutdown
  exceeded". Nothing failed: it becomes the warning "stopping: cut off 1 request still in
  progress". The h11 protocol then logs that request as "Exception in ASGI application" with a
  CancelledError traceback: left out, the warning has said it.
- A malformed request is answered 400 and closed; the h11 protocol also logs "Invalid HTTP
  request received." for each. Left out: anyone on the internet could fill the terminal with
  it through the tunnel, and our httptools protocol answers the same silently.
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["UvicornNotes", "install"]

_CUT_OFF = "Cancel %s running task(s), timeout graceful shutdown exceeded"
_INVALID = "Invalid HTTP request received."


class UvicornNotes(logging.Filter):
    """The filter on uvicorn's logger; see the module docstring."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            return False
        if record.msg == _INVALID:
            return False
        if record.msg == _CUT_OFF and isinstance(record.args, tuple) and record.args:
            count = record.args[0]
            record.levelno, record.levelname, record.name = logging.WARNING, "WARNING", "apimw"
            # No duration: the inspector's server (in the same process) has a grace of its own.
            if count == 0:  # only connections were left open
                record.msg, record.args = "stopping: closed the connections still open", ()
            else:
                record.msg = "stopping: cut off %s request%s still in progress"
                record.args = (count, "" if count == 1 else "s")
        return True


def install() -> None:
    """Put `UvicornNotes` on uvicorn's logger, once."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, UvicornNotes) for f in logger.filters):
        logger.addFilter(UvicornNotes())
