"""Python logging's way to the terminal: what libraries log (uvicorn's "Exception in ASGI
application", asyncio's "Task exception was never retrieved") is masked and escaped like every
other line on stderr, since a traceback can quote a request, a URL or a secret."""

from __future__ import annotations

import logging
import sys

from apimw_cli.output.masking import redact
from apimw_cli.output.untrusted import visible_lines

__all__ = ["install"]


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
