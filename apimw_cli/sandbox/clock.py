"""Time for the sandbox: wall time, with the retry schedule and message delays compressible."""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

# APIMW's documented schedule: attempt 1 at once, then these delays after the previous attempt.
RETRY_DELAYS: tuple[float, ...] = (60.0, 300.0, 1800.0, 7200.0)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# How long after `sent` a message is delivered, read, or fails.
DELIVERED_AFTER = 2.0
READ_AFTER = 5.0
FAILED_AFTER = 2.0


@dataclass(frozen=True)
class Clock:
    """`time_scale` divides only the retry schedule and the message status delays."""

    time_scale: float = 1.0

    def now(self) -> float:
        return time.time()

    def scaled(self, seconds: float) -> float:
        return seconds / self.time_scale

    def retry_delay(self, attempts_made: int) -> float | None:
        """Seconds until the next attempt after `attempts_made` failures, None when exhausted."""
        if attempts_made >= MAX_ATTEMPTS:
            return None
        return self.scaled(RETRY_DELAYS[attempts_made - 1])


def iso(ts: float | None) -> str | None:
    """ISO-8601 UTC to the second with `Z` (`2024-01-15T10:30:00Z`), as every timestamp in
    APIMW's docs. Fractions are dropped, not rounded: a time never reads later than it was."""
    if ts is None:
        return None
    return _iso_second(math.floor(ts))


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    """Lists show the same few seconds over and over (every webhook's created_at, a burst's
    delivered_at): formatting each once is most of what listing 100 webhooks cost."""
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
