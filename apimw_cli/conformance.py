"""The conformance suite behind `apimw webhooks test`: is an endpoint ready for APIMW?

Pure check logic: every request goes through a `Sender` (apimw_cli/receiver/probe.py sends
them with httpx; tests may pass anything callable), and the results are plain data that the
command renders as a table, JSON or JUnit XML. What the checks demand comes from
docs/apimw-api.md ("Deliveries"): 200 within 5 seconds, signatures verified (401 on a
mismatch), duplicates answered 200, the verification challenge echoed, HTTPS.
"""

from __future__ import annotations

import ipaddress
import json
import math
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from apimw_cli import catalog
from apimw_cli.protocol import SIGNATURE_HEADER
from apimw_cli.signing import sign

__all__ = [
    "CHECKS",
    "LATENCY_LIMIT",
    "TEST_HEADER",
    "CheckResult",
    "Outcome",
    "Reply",
    "Sender",
    "Target",
    "failed",
    "junit_xml",
    "run",
    "select",
]

LATENCY_LIMIT = 5.0  # seconds: APIMW counts a slower answer as a failed attempt
USER_AGENT = "APIMW-Webhooks/1.0"
TEST_HEADER = "X-APIMW-Test"
TEST_HEADER_VALUE = "apimw-cli"
UNKNOWN_TYPE = "apimw.conformance.unknown"  # no endpoint subscribes to it: a "future" type

CHECKS: tuple[str, ...] = (
    "challenge",
    "accepts",
    "latency",
    "rejects-forged",
    "idempotent",
    "unknown-type",
    "https",
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


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

    @property
    def ok(self) -> bool:
        return self.status == 200


Sender = Callable[[bytes, Mapping[str, str]], Reply]


@dataclass(frozen=True)
class Target:
    url: str
    secret: str
    events: tuple[str, ...]  # types for `accepts` (and `latency`); catalog names
    requests: int = 5  # signed events for `latency`


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "result": self.outcome.value,
            "status": list(self.statuses),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "detail": self.detail,
            "hint": self.hint,
        }


def select(only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[str]:
    """The checks to run, in suite order; raises ValueError naming unknown checks."""
    only_list = _names(only)
    skip_list = _names(skip)
    unknown = [n for n in only_list + skip_list if n not in CHECKS]
    if unknown:
        raise ValueError(
            f"unknown check {', '.join(repr(n) for n in unknown)}; "
            f"the checks are: {', '.join(CHECKS)}"
        )
    wanted = set(only_list) if only_list else set(CHECKS)
    return [c for c in CHECKS if c in wanted and c not in set(skip_list)]


def _names(values: Iterable[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def failed(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.outcome is Outcome.FAIL]


# --- requests -------------------------------------------------------------------------------


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def delivery_id() -> str:
    return "dlv_test_" + secrets.token_hex(12)


def headers_for(
    event_type: str, delivery: str | None = None, signature: str | None = None
) -> dict[str, str]:
    """The headers APIMW sends with a delivery, plus the one marking it as a test."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-APIMW-Event": event_type,
        "X-APIMW-Delivery": delivery or delivery_id(),
        TEST_HEADER: TEST_HEADER_VALUE,
    }
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return headers


def _event(target: Target, event_type: str) -> tuple[bytes, dict[str, str]]:
    """A correctly signed sample delivery of `event_type`."""
    if catalog.get(event_type) is not None:
        payload = catalog.sample(event_type)
    else:
        payload = catalog.envelope(event_type, {"note": "an event type this endpoint may not use"})
    body = _encode(payload)
    return body, headers_for(event_type, signature=sign(body, target.secret))


# --- helpers for results --------------------------------------------------------------------


def _observed(replies: Sequence[Reply]) -> str:
    return " ".join("-" if r.status is None else str(r.status) for r in replies)


def _slowest_ms(replies: Sequence[Reply]) -> float | None:
    timed = [r.seconds for r in replies if r.status is not None]
    return max(timed) * 1000 if timed else None


def _result(
    check: str,
    outcome: Outcome,
    replies: Sequence[Reply],
    *,
    hint: str | None = None,
    detail: str = "",
) -> CheckResult:
    return CheckResult(
        check=check,
        outcome=outcome,
        observed=_observed(replies),
        latency_ms=_slowest_ms(replies),
        hint=hint if outcome is not Outcome.PASS else None,
        detail=detail,
        statuses=tuple(r.status for r in replies),
    )


def _no_answer(reply: Reply) -> str:
    return f"no answer: {reply.error or 'unknown error'}"


def _expect_200(reply: Reply, what: str) -> str | None:
    """None when `reply` is the 200 APIMW needs, else why not."""
    if reply.status is None:
        return f"{what}: {_no_answer(reply)}"
    if reply.status != 200:
        return f"{what}: answered {reply.status}"
    return None


# --- the checks -----------------------------------------------------------------------------


def check_challenge(target: Target, send: Sender) -> CheckResult:
    challenge = secrets.token_urlsafe(24)
    body = _encode({"type": catalog.VERIFICATION_TYPE, "challenge": challenge})
    reply = send(body, headers_for(catalog.VERIFICATION_TYPE, signature=sign(body, target.secret)))
    hint = (
        "answer the webhook.verification request with 200 and the challenge value, as text/plain"
        ' or JSON {"challenge": "..."}; `apimw listen` shows a working receiver'
    )
    if reply.status is None:
        return _result("challenge", Outcome.FAIL, [reply], hint=hint, detail=_no_answer(reply))
    if reply.status != 200:
        return _result(
            "challenge", Outcome.FAIL, [reply], hint=hint, detail=f"answered {reply.status}"
        )
    if _echoes(reply.body, challenge):
        return _result("challenge", Outcome.PASS, [reply], detail="challenge echoed")
    return _result(
        "challenge",
        Outcome.FAIL,
        [reply],
        hint=hint,
        detail="200, but the body is not the challenge value",
    )


def _echoes(body: bytes, challenge: str) -> bool:
    text = body.decode("utf-8", "replace").strip()
    if text == challenge:
        return True
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    if isinstance(parsed, str):
        return parsed == challenge
    return isinstance(parsed, dict) and parsed.get("challenge") == challenge


def check_accepts(target: Target, send: Sender) -> CheckResult:
    if not target.events:
        return CheckResult("accepts", Outcome.SKIP, detail="no event types to send")
    replies: list[Reply] = []
    problems: list[str] = []
    for event_type in target.events:
        reply = send(*_event(target, event_type))
        replies.append(reply)
        problem = _expect_200(reply, event_type)
        if problem:
            problems.append(problem)
    if not problems:
        return _result(
            "accepts", Outcome.PASS, replies, detail=f"{len(replies)} event type(s) answered 200"
        )
    if all(r.status == 401 for r in replies):
        hint = (
            "every correctly signed event got 401: is the endpoint using the same secret? "
            "Verify the HMAC over the raw body bytes, before any JSON parsing"
        )
    else:
        hint = "answer 200 to every correctly signed event, even when you do nothing with it"
    return _result("accepts", Outcome.FAIL, replies, hint=hint, detail="; ".join(problems))


def _percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of non-empty `values`."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def check_latency(target: Target, send: Sender) -> CheckResult:
    limit = LATENCY_LIMIT
    event_type = target.events[0] if target.events else "message.received"
    replies = [send(*_event(target, event_type)) for _ in range(max(1, target.requests))]
    timed = [r.seconds for r in replies if r.status is not None]
    detail = ""
    if timed:
        detail = (
            f"p50 {_percentile(timed, 0.5) * 1000:.0f} ms, "
            f"p95 {_percentile(timed, 0.95) * 1000:.0f} ms, "
            f"max {max(timed) * 1000:.0f} ms over {len(timed)} request(s)"
        )
    slow = [r for r in replies if r.status is None or r.seconds > limit]
    if not slow:
        return _result("latency", Outcome.PASS, replies, detail=detail)
    unanswered = sum(1 for r in replies if r.status is None)
    parts = [f"{len(slow)} of {len(replies)} over {limit:g} s"]
    if unanswered:
        parts.append(f"{unanswered} without an answer ({replies[0].error or 'error'})")
    return _result(
        "latency",
        Outcome.FAIL,
        replies,
        hint=f"answer within {limit:g} s: acknowledge with 200 at once and do slow work "
        "(database writes, API calls) in a background job",
        detail="; ".join(parts + ([detail] if detail else [])),
    )


def check_rejects_forged(target: Target, send: Sender) -> CheckResult:
    event_type = target.events[0] if target.events else "message.received"
    wrong_key = "whsec_" + secrets.token_urlsafe(24)

    body, headers = _event(target, event_type)
    wrong = {**headers, SIGNATURE_HEADER: sign(body, wrong_key)}

    body2, headers2 = _event(target, event_type)
    missing = {k: v for k, v in headers2.items() if k != SIGNATURE_HEADER}

    body3, headers3 = _event(target, event_type)
    payload = json.loads(body3)
    payload["data"] = {**payload.get("data", {}), "forged": True}
    altered = _encode(payload)  # signed before the change: headers3 keeps the old signature

    cases = (
        ("wrong signature", body, wrong),
        ("missing signature", body2, missing),
        ("body altered after signing", altered, headers3),
    )
    replies: list[Reply] = []
    accepted: list[str] = []
    odd: list[str] = []
    unanswered: list[str] = []
    for name, case_body, case_headers in cases:
        reply = send(case_body, case_headers)
        replies.append(reply)
        if reply.status is None:
            unanswered.append(f"{name}: {_no_answer(reply)}")
        elif 200 <= reply.status < 300:
            accepted.append(f"{name} -> {reply.status}")
        elif reply.status != 401:
            odd.append(f"{name} -> {reply.status}")
    if accepted:
        return _result(
            "rejects-forged",
            Outcome.FAIL,
            replies,
            hint="accepts forged events: anyone can post fake events to this URL. Compute "
            "HMAC-SHA256 of the raw body with the webhook secret, compare it in constant time "
            f"with {SIGNATURE_HEADER} and answer 401 on a mismatch or a missing header",
            detail="accepted " + "; ".join(accepted),
        )
    if unanswered:
        return _result(
            "rejects-forged",
            Outcome.FAIL,
            replies,
            hint="the endpoint must answer forged requests (with 401)",
            detail="; ".join(unanswered),
        )
    if odd:
        return _result(
            "rejects-forged",
            Outcome.WARN,
            replies,
            hint="forged events are rejected, but APIMW's docs ask for 401 on a signature mismatch",
            detail="; ".join(odd),
        )
    return _result(
        "rejects-forged",
        Outcome.PASS,
        replies,
        detail="wrong, missing and stale signatures all answered 401",
    )


def check_idempotent(target: Target, send: Sender) -> CheckResult:
    event_type = target.events[0] if target.events else "message.received"
    body, headers = _event(target, event_type)
    replies = [send(body, headers), send(body, headers)]
    problems = [
        p for p in (_expect_200(replies[0], "first"), _expect_200(replies[1], "duplicate")) if p
    ]
    if not problems:
        return _result(
            "idempotent", Outcome.PASS, replies, detail="the same delivery twice: 200 both times"
        )
    return _result(
        "idempotent",
        Outcome.FAIL,
        replies,
        hint="APIMW may deliver an event more than once: answer a duplicate with 200 (skip its "
        "processing, keyed on X-APIMW-Delivery or a hash of the raw body), or APIMW retries it "
        "and finally disables the webhook",
        detail="; ".join(problems),
    )


def check_unknown_type(target: Target, send: Sender) -> CheckResult:
    reply = send(*_event(target, UNKNOWN_TYPE))
    problem = _expect_200(reply, UNKNOWN_TYPE)
    if problem is None:
        return _result("unknown-type", Outcome.PASS, [reply], detail=f"{UNKNOWN_TYPE} answered 200")
    return _result(
        "unknown-type",
        Outcome.FAIL,
        [reply],
        hint="answer 200 to event types you do not handle (APIMW adds new ones); ignore them",
        detail=problem,
    )


def is_loopback(host: str) -> bool:
    bare = host.strip("[]").lower()
    if bare in _LOOPBACK_NAMES or bare.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def check_https(target: Target, send: Sender) -> CheckResult:
    parts = urlsplit(target.url)
    host = parts.hostname or ""
    if parts.scheme != "https":
        if is_loopback(host):
            return CheckResult(
                "https",
                Outcome.WARN,
                hint="fine for local testing; APIMW only delivers to HTTPS URLs",
                detail=f"plain http on loopback ({host})",
            )
        return CheckResult(
            "https",
            Outcome.FAIL,
            hint="APIMW only delivers to HTTPS URLs: serve the endpoint over HTTPS with a "
            "certificate from a public CA",
            detail=f"plain http on {host}",
        )
    challenge = secrets.token_urlsafe(12)
    body = _encode({"type": catalog.VERIFICATION_TYPE, "challenge": challenge})
    reply = send(body, headers_for(catalog.VERIFICATION_TYPE, signature=sign(body, target.secret)))
    if reply.tls_error:
        return _result(
            "https",
            Outcome.FAIL,
            [reply],
            hint="APIMW rejects invalid certificates: use one from a public CA that matches "
            "the host name, with the full chain",
            detail=f"TLS failed: {reply.error or 'certificate error'}",
        )
    if reply.status is None:
        return _result(
            "https",
            Outcome.FAIL,
            [reply],
            hint="the HTTPS endpoint must be reachable",
            detail=_no_answer(reply),
        )
    return _result("https", Outcome.PASS, [reply], detail="HTTPS with a valid certificate")


_RUNNERS: dict[str, Callable[[Target, Sender], CheckResult]] = {
    "challenge": check_challenge,
    "accepts": check_accepts,
    "latency": check_latency,
    "rejects-forged": check_rejects_forged,
    "idempotent": check_idempotent,
    "unknown-type": check_unknown_type,
    "https": check_https,
}


def run(
    target: Target,
    send: Sender,
    checks: Sequence[str] = CHECKS,
    *,
    progress: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Every check in suite order; those not in `checks` come back as SKIP rows."""
    results: list[CheckResult] = []
    for name in CHECKS:
        if name in checks:
            started = time.perf_counter()
            result = _RUNNERS[name](target, send)
            result = replace(result, seconds=time.perf_counter() - started)
        else:
            result = CheckResult(name, Outcome.SKIP, detail="not selected")
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def junit_xml(results: Sequence[CheckResult], url: str) -> bytes:
    """JUnit XML: one testcase per check; failures carry the hint, skips are <skipped/>."""
    suite = ET.Element(
        "testsuite",
        {
            "name": "apimw webhooks test",
            "tests": str(len(results)),
            "failures": str(len(failed(results))),
            "errors": "0",
            "skipped": str(sum(1 for r in results if r.outcome is Outcome.SKIP)),
            "time": f"{sum(r.seconds for r in results):.3f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "url", "value": url})
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": "apimw.webhooks.test",
                "name": r.check,
                "time": f"{r.seconds:.3f}",
            },
        )
        if r.outcome is Outcome.FAIL:
            failure = ET.SubElement(
                case, "failure", {"message": r.hint or r.detail, "type": r.check}
            )
            failure.text = f"{r.detail}\nstatus: {r.observed or '-'}\nhint: {r.hint or ''}"
        elif r.outcome is Outcome.SKIP:
            ET.SubElement(case, "skipped", {"message": r.detail})
        elif r.outcome is Outcome.WARN:
            out = ET.SubElement(case, "system-out")
            out.text = f"warning: {r.detail}; {r.hint or ''}"
        else:
            out = ET.SubElement(case, "system-out")
            out.text = r.detail
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
