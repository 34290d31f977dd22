"""The sandbox's settings (no heavy imports: the CLI builds one before starting the server)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET

DEFAULT_PORT = 8787
DB_NAME = "sandbox.sqlite3"


@dataclass(frozen=True)
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path | None = None  # None: the platform's data dir
    ephemeral: bool = False  # everything in memory, gone on exit
    # divides the retry schedule, the message status delays and the 24-hour window
    time_scale: float = 1.0
    token_ttl: float = 3600.0
    rate_limit: int = 300  # requests per window per client; 0 = unlimited
    rate_window: float = 60.0  # seconds; APIMW counts per minute (tests shorten it)
    api_key: str = SANDBOX_API_KEY
    api_secret: str = SANDBOX_API_SECRET
    demo: bool = False
    # The 24-hour customer service window: a text to a customer who has not written within it
    # fails with 131047, as on WhatsApp. False delivers every text.
    service_window: bool = True
    max_body: int = 1_048_576
    delivery_timeout: float = 5.0
    # Called for each API request, event, delivery attempt and verification: (kind, fields).
    log: Callable[[str, dict[str, Any]], None] | None = field(default=None, compare=False)
    # Called once the store is open and the worker runs (the socket is already listening).
    on_ready: Callable[[], None] | None = field(default=None, compare=False)

    def db_path(self) -> Path | None:
        if self.ephemeral:
            return None
        if self.data_dir is not None:
            return self.data_dir / DB_NAME
        from apimw_cli.settings import data_dir

        return data_dir() / "sandbox" / DB_NAME


def shows(log: Callable[[str, dict[str, Any]], None] | None, kind: str) -> bool:
    """Whether `log` shows records of `kind`: a log may say it does not (SandboxLog.wants, on
    the null device or for requests with --quiet), and then the record is never gathered."""
    if log is None:
        return False
    wants = getattr(log, "wants", None)
    return True if wants is None else bool(wants(kind))
