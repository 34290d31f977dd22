"""What the receiver reports, through its sink, to whoever renders (the listen command)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

# The records themselves are plain data in models.py: the renderer (output/) reads them too.
from apimw_cli.models import Forwarded, Received

__all__ = ["Forwarded", "Received", "ReceiverConfig", "Respond", "Sink"]


class Respond(StrEnum):
    ACK = "ack"  # 200 at once, forward in the background
    PASSTHROUGH = "passthrough"  # the local app's status; 503 when it is down or too slow
    FIXED = "fixed"  # a fixed status (rehearse APIMW's retries), see ReceiverConfig.status


@dataclass(frozen=True)
class ReceiverConfig:
    host: str = "127.0.0.1"
    port: int = 4242  # 0: any free port
    path: str | None = None  # only this path receives; None: any path
    secrets: tuple[str, ...] = ()  # several while rotating; the first is the current one
    skip_verify: bool = False
    respond: Respond = Respond.ACK
    status: int = 200  # with Respond.FIXED
    delay: float = 0.0  # seconds to wait before answering (rehearse timeouts)
    fail_rate: float = 0.0  # 0..1: share of requests answered 500 on purpose
    max_body: int = 1_000_000
    forward_to: tuple[str, ...] = ()
    forward_timeout: float = 30.0
    concurrency: int = 1  # forwards at once; 1 keeps receipt order
    events: tuple[str, ...] = ()  # glob patterns of event types to show and forward; () = all
    record: Path | None = None  # JSONL session log; None: no recording
    dedupe_size: int = 10_000  # delivery ids / body hashes remembered
    passthrough_timeout: float = 4.0  # under APIMW's 5 s, so we answer 503 ourselves in time
    # Seconds a client has to send a request's headers, then its body: a slow or idle client
    # must not hold a connection (the receiver faces the internet through the tunnel).
    read_timeout: float = 10.0
    max_connections: int = 1000  # beyond, the longest idle one is closed; see receiver/guard.py
    # A GET carrying it in X-APIMW-Probe is the session's own tunnel self-check: answered 405
    # like any GET, but not reported. Per config (so per session): another session's probe is
    # a request like any other.
    probe_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))


Sink = Callable[[Received | Forwarded], None]
