"""The agent's own log lines: masked, kept (the last ones) and forwarded at DEBUG."""

from __future__ import annotations

import collections
import logging
from typing import TYPE_CHECKING

from apimw_cli.tunnel.scrubbing import Scrub

if TYPE_CHECKING:
    from pyngrok.log import NgrokLog

AGENT_LOG_LINES = 200

_agent_logger = logging.getLogger("apimw_cli.tunnel.agent")


class AgentLog:
    """The last `AGENT_LOG_LINES` lines of every agent a tunnel ran, masked.

    `mark_start()` before each start lets an error name the lines of that start only.
    `on_line` is pyngrok's `log_event_callback` (called on pyngrok's threads).
    """

    def __init__(self, scrub: Scrub) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=AGENT_LOG_LINES)
        self._scrub = scrub
        self._lines_seen = 0  # lines ever logged; `lines` keeps the last ones
        self._start_mark = 0

    def on_line(self, line: NgrokLog) -> None:
        text = self._scrub(line.line)
        self.lines.append(text)
        self._lines_seen += 1
        _agent_logger.debug("%s", text)

    def mark_start(self) -> None:
        self._start_mark = self._lines_seen

    def since_start(self) -> list[str]:
        """The kept lines logged since the last `mark_start()`."""
        count = min(self._lines_seen - self._start_mark, len(self.lines))
        return list(self.lines)[len(self.lines) - count :] if count > 0 else []
