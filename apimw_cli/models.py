"""Plain, frozen data shared by every layer. No I/O here.

`from_api` constructors are tolerant: the real API may add or omit fields
(docs/apimw-api.md), so unknown keys are ignored and missing ones get neutral values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar, overload

_T = TypeVar("_T")


def _str(value: object, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


class VerdictCode(StrEnum):
    VALID = "valid"
    MISSING = "missing_header"
    MALFORMED = "malformed_header"
    MISMATCH = "mismatch"
    NO_SECRET = "no_secret"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one X-APIMW-Signature.

    `reason` is one sentence for a human; `diagnosis` is set when a mismatch has a likely cause
    (a re-encoded body, whitespace around the secret, ...); `matched_secret` is the index of the
    secret that matched when several were given (rotation).
    """

    code: VerdictCode
    reason: str
    diagnosis: str | None = None
    matched_secret: int | None = None

    @property
    def valid(self) -> bool:
        return self.code is VerdictCode.VALID


class VerdictMemo(Generic[_T]):
    """`derive(verdict)`, kept for the last verdict object seen. The receiver's fast signature
    check returns the same `Verdict` object for every valid event, so what a line derives from
    it (its fields, their JSON) is made once rather than per event. One tuple, swapped whole,
    so threads never pair a verdict with another's result; a result is replaced, never
    changed."""

    __slots__ = ("_derive", "_last")

    def __init__(self, derive: Callable[[Verdict], _T]) -> None:
        self._derive = derive
        self._last: tuple[Verdict, _T] | None = None

    @overload
    def __call__(self, verdict: Verdict) -> _T: ...
    @overload
    def __call__(self, verdict: None) -> None: ...
    @overload
    def __call__(self, verdict: Verdict | None) -> _T | None: ...
    def __call__(self, verdict: Verdict | None) -> _T | None:
        """None for no verdict (a request refused before its signature was looked at)."""
        if verdict is None:
            return None
        last = self._last
        if last is not None and last[0] is verdict:
            return last[1]
        result = self._derive(verdict)
        self._last = (verdict, result)
        return result


@dataclass(frozen=True)
class TokenSet:
    """An access token with what is needed to renew it. `expires_at` is unix time."""

    access_token: str
    expires_at: float
    refresh_token: str | None = None
    token_type: str = "Bearer"

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, now: float) -> TokenSet:
        expires_in = data.get("expires_in")
        ttl = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        return cls(
            access_token=_str(data.get("access_token")),
            expires_at=now + ttl,
            refresh_token=_opt_str(data.get("refresh_token")),
            token_type=_str(data.get("token_type"), "Bearer"),
        )


@dataclass(frozen=True)
class Identity:
    """GET /v1/auth/me: who the credentials belong to."""

    user_id: str
    email: str
    name: str
    tenant_id: str
    tenant_name: str
    plan: str
    tenant_status: str
    permissions: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Identity:
        user = data.get("user") if isinstance(data.get("user"), Mapping) else {}
        tenant = data.get("tenant") if isinstance(data.get("tenant"), Mapping) else {}
        assert isinstance(user, Mapping) and isinstance(tenant, Mapping)
        perms = data.get("permissions")
        return cls(
            user_id=_str(user.get("id")),
            email=_str(user.get("email")),
            name=_str(user.get("name")),
            tenant_id=_str(tenant.get("id")),
            tenant_name=_str(tenant.get("name")),
            plan=_str(tenant.get("plan")),
            tenant_status=_str(tenant.get("status")),
            permissions=tuple(p for p in perms if isinstance(p, str))
            if isinstance(perms, list)
            else (),
        )

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def _opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Webhook:
    """A registered webhook. Never holds the secret: the API does not return it."""

    id: str
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: str | None = None
    updated_at: str | None = None
    description: str | None = None
    verified: bool | None = None
    verification_error: str | None = None
    failure_count: int | None = None
    disabled_reason: str | None = None
    last_delivery_at: str | None = None
    last_delivery_status: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Webhook:
        events = data.get("events")
        return cls(
            id=_str(data.get("id")),
            url=_str(data.get("url")),
            events=tuple(e for e in events if isinstance(e, str))
            if isinstance(events, list)
            else (),
            active=data.get("active") is not False,
            created_at=_opt_str(data.get("created_at")),
            updated_at=_opt_str(data.get("updated_at")),
            description=_opt_str(data.get("description")),
            verified=_opt_bool(data.get("verified")),
            verification_error=_opt_str(data.get("verification_error")),
            failure_count=_opt_int(data.get("failure_count")),
            disabled_reason=_opt_str(data.get("disabled_reason")),
            last_delivery_at=_opt_str(data.get("last_delivery_at")),
            last_delivery_status=_opt_int(data.get("last_delivery_status")),
            raw={k: v for k, v in data.items() if k != "secret"},
        )

    def to_dict(self) -> dict[str, Any]:
        """What `--output json` prints: the API's object as received (never a secret)."""
        return dict(self.raw) if self.raw else {"id": self.id, "url": self.url}


@dataclass(frozen=True)
class Delivery:
    """One delivery attempt, from GET /webhooks/{id}/deliveries (a [contract] endpoint)."""

    id: str
    event_type: str
    attempt: int | None
    status_code: int | None
    error: str | None
    duration_ms: int | None
    delivered_at: str | None
    next_retry_at: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Delivery:
        return cls(
            id=_str(data.get("id")),
            event_type=_str(data.get("event_type")),
            attempt=_opt_int(data.get("attempt")),
            status_code=_opt_int(data.get("status_code")),
            error=_opt_str(data.get("error")),
            duration_ms=_opt_int(data.get("duration_ms")),
            delivered_at=_opt_str(data.get("delivered_at")),
            next_retry_at=_opt_str(data.get("next_retry_at")),
            raw=dict(data),
        )


# Not frozen: one is built per request on the receiver's hot path, and a frozen dataclass's
# __init__ (object.__setattr__ per field) costs three times as much. Treat it as read-only.
@dataclass(slots=True)
class Received:
    """One request the receiver answered (an event, a challenge, or a refused request)."""

    record_id: str
    received_at: float
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int  # what we answered
    kind: str  # "event", "challenge", "rejected" (405/413/404 path), "invalid" (bad signature)
    event_type: str | None = None
    delivery_id: str | None = None
    verdict: Verdict | None = None
    duplicate: bool = False
    filtered: bool = False  # not matching --events: acknowledged, not shown or forwarded
    note: str | None = None
    record_error: str | None = None  # why it could not be recorded (then an event gets 503)
    attempt: int = 1  # how many times this delivery reached the receiver, this one included
    previous_status: int | None = None  # what the receiver answered the attempt before
    # The body is strict JSON: orjson read it (valid UTF-8, no NaN, no lone surrogate), so a
    # JSON line may embed it as it came without parsing it again (output/ndjson.py).
    strict_json: bool = False


@dataclass(frozen=True)
class Forwarded:
    """The outcome of forwarding one received event to one target."""

    record_id: str
    target: str
    status: int | None
    ms: float
    error: str | None = None
    response_body: bytes = field(default=b"", repr=False)
    # The app's answer headers, names as sent, values decoded as latin-1 (the inspector shows them)
    response_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # The answer's body went past what the forwarder keeps (response_body is its first part)
    response_truncated: bool = False


@dataclass
class Tally:
    """What a listen session received, for its summary and for `--expect`."""

    DISTINCT_TYPES: ClassVar[int] = 1000
    TYPE_LENGTH: ClassVar[int] = 200
    OTHER: ClassVar[str] = "(other)"

    by_type: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    duplicates: int = 0
    filtered: int = 0
    challenges: int = 0
    unrecorded: int = 0  # events refused (503) because the session log could not take them
    forwarded: int = 0
    forward_failures: int = 0

    def add(self, record: Received | Forwarded) -> None:
        if isinstance(record, Forwarded):
            ok = record.error is None and record.status is not None and record.status < 400
            if ok:
                self.forwarded += 1
            else:
                self.forward_failures += 1
            return
        if record.kind == "challenge":
            self.challenges += 1
        elif record.kind == "invalid":
            self.invalid += 1
        elif record.kind == "event":
            if record.record_error is not None:
                self.unrecorded += 1
            elif record.duplicate:
                self.duplicates += 1
            elif record.filtered:
                self.filtered += 1
            else:
                name = record.event_type or "?"
                if name not in self.by_type and (
                    len(name) > self.TYPE_LENGTH or len(self.by_type) >= self.DISTINCT_TYPES
                ):
                    name = self.OTHER  # a sender can make up types: keep the tally bounded
                self.by_type[name] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": dict(self.by_type),
            "total": sum(self.by_type.values()),
            "invalid_signatures": self.invalid,
            "duplicates": self.duplicates,
            "filtered": self.filtered,
            "challenges": self.challenges,
            "not_recorded": self.unrecorded,
            "forwarded": self.forwarded,
            "forward_failures": self.forward_failures,
        }
