"""Authtokens masked wherever agent or pyngrok text goes; pyngrok's records kept off the terminal.

The agent echoes a rejected authtoken in its error line, and pyngrok logs that line as an ERROR
record: every authtoken a `Tunnel` was given is remembered (process-wide, in output.masking, so
the Printer and `--debug` tracebacks mask it too) and masked in those records where they are
created, before any handler sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from apimw_cli.output.masking import mask_known, remember
from apimw_cli.tunnel.pyngrok_private import PYNGROK_LOGGERS

log = logging.getLogger("apimw_cli.tunnel.pyngrok")  # pyngrok's records, forwarded at DEBUG

Scrub = Callable[[str], str]


def scrub(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with each of `secrets` (default: every remembered one) replaced by its mask."""
    return mask_known(text, secrets)


def scrubber_for(secret: str | None) -> Scrub:
    """A scrub function for `secret` only. `secret` is also remembered process-wide
    (output.masking), for the logging filter and for everything the Printer and `--debug`
    tracebacks show (pyngrok's chained exceptions quote it)."""
    own = {secret} if secret else set()
    remember(secret)
    return lambda text: scrub(text, own)


class _PyngrokForwarder(logging.Handler):
    """Re-logs pyngrok's records at DEBUG on our own logger."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("%s: %s", record.name, record.getMessage())


class _MaskSecrets(logging.Filter):
    """Masks remembered authtokens in a record where it is created."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def route_pyngrok_logging() -> None:
    """Keep pyngrok's records off the terminal and mask authtokens in them. Idempotent.

    The `pyngrok` logger stops propagating to the root logger's handlers (and to logging's
    last-resort stderr output, which would print the agent's error lines raw); its records
    are forwarded at DEBUG to `apimw_cli.tunnel.pyngrok`. A logger's filters only see the
    records created on that very logger, so every pyngrok logger gets the mask.
    """
    names = set(PYNGROK_LOGGERS) | {
        name for name in logging.root.manager.loggerDict if name.startswith("pyngrok.")
    }
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _MaskSecrets) for f in logger.filters):
            logger.addFilter(_MaskSecrets())
    pyngrok_logger = logging.getLogger("pyngrok")
    pyngrok_logger.propagate = False
    if not any(isinstance(h, _PyngrokForwarder) for h in pyngrok_logger.handlers):
        pyngrok_logger.addHandler(_PyngrokForwarder())
