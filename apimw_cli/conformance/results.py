"""What the conformance suite works with: the target, one request's reply, a check's result."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# seconds: APIMW's rule (docs/apimw-api.md, "Deliveries"): an endpoint answers 200 within 5 s; a
# later answer counts as a failed attempt, so the suite stops waiting there too.
LATENCY_LIMIT = 5.0


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"  # worth fixing, but does not fail the run
    SKIP = "skip"


@dataclass(frozen=True)
class Reply:
    """What one request got: a status (None when no answer came) and how long it took."""

    status: int | None
    body: bytes = b""
    seconds: float = 0.0
    error: str | None = None  # no answer: timeout, refused connection, TLS failure, ...
    tls_error: bool = False  # the certificate (or the TLS handshake) failed
    timed_out: bool = False  # no answer within the limit: APIMW would count a failed attempt

    @property
    def ok(self) -> bool:
        return self.status == 200


# Sends one request (body, headers) to the endpoint under test. receiver/probe.py sends them with
# httpx; tests pass anything callable.
Sender = Callable[[bytes, Mapping[str, str]], Reply]


@dataclass(frozen=True)
class Target:
    url: str
    secret: str
    events: tuple[str, ...]  # types for `accepts` (and `latency`); catalog names
    requests: int = 5  # signed events for `latency`
    limit: float = LATENCY_LIMIT  # seconds each request may take; tests pass a smaller one


@dataclass(frozen=True)
class CheckResult:
    check: str
    outcome: Outcome
    observed: str = ""  # the status code(s) seen, e.g. "200" or "401 401 401"
    latency_ms: float | None = None  # the slowest request of the check
    hint: str | None = None  # what to fix, on fail or warn
    detail: str = ""  # what was sent and seen
    statuses: tuple[int | None, ...] = field(default=(), repr=False)
    seconds: float = 0.0  # the check's whole run time
    timed_out: bool = False  # a request got no answer within the limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "result": self.outcome.value,
            "status": list(self.statuses),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "detail": self.detail,
            "hint": self.hint,
            "timed_out": self.timed_out,
        }
