"""The seven checks of `apimw webhooks test`, each a pure function of a target and a sender.

What they demand comes from docs/apimw-api.md ("Deliveries"): 200 within 5 seconds, signatures
verified (401 on a mismatch), duplicates answered 200, the verification challenge echoed, HTTPS.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from apimw_cli import catalog
from apimw_cli.conformance.results import CheckResult, Outcome, Reply, Sender, Target
from apimw_cli.protocol import (
    SIGNATURE_HEADER,
    TEST_HEADER,
    delivery_headers,
    echoes_challenge,
    is_loopback,
)
from apimw_cli.signing import sign

TEST_HEADER_VALUE = "apimw-cli"  # the value of TEST_HEADER names the tool that sent the request
UNKNOWN_TYPE = "apimw.conformance.unknown"  # no endpoint subscribes to it: a "future" type


# --- requests -------------------------------------------------------------------------------


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def delivery_id() -> str:
    return "dlv_test_" + secrets.token_hex(12)


def headers_for(
    event_type: str, delivery: str | None = None, signature: str | None = None
) -> dict[str, str]:
    """The headers APIMW sends with a delivery, plus the one marking it as a test."""
    headers = delivery_headers(event_type, delivery or delivery_id())
    headers[TEST_HEADER] = TEST_HEADER_VALUE
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


def _send_until_timeout(
    send: Sender, requests: Iterable[tuple[bytes, dict[str, str]]]
) -> tuple[list[Reply], int]:
    """Send `requests` in order, stopping after the first that times out: an endpoint that hangs
    once would make each further request wait out the limit too. Returns the replies and how
    many requests were left unsent."""
    pending = list(requests)
    replies: list[Reply] = []
    for body, headers in pending:
        reply = send(body, headers)
        replies.append(reply)
        if reply.timed_out:
            break
    return replies, len(pending) - len(replies)


def _unsent(count: int) -> str:
    return f"{count} more request(s) not sent after the timeout" if count else ""


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
        timed_out=any(r.timed_out for r in replies),
    )


def _no_answer(reply: Reply) -> str:
    if reply.timed_out:
        return reply.error or "timed out"
    return f"no answer: {reply.error or 'unknown error'}"


def _too_late(reply: Reply, limit: float) -> str | None:
    """Why an answer does not count by APIMW's rule, or None when it came within `limit`."""
    if reply.status is None:
        return _no_answer(reply)
    if reply.seconds > limit:
        return f"answered {reply.status} after {reply.seconds:.1f} s, over the {limit:g} s limit"
    return None


def _expect_200(reply: Reply, what: str, limit: float) -> str | None:
    """None when `reply` is the 200 APIMW needs, in time, else why not."""
    late = _too_late(reply, limit)
    if late is not None:
        return f"{what}: {late}"
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
    late = _too_late(reply, target.limit)
    if late is not None:
        return _result("challenge", Outcome.FAIL, [reply], hint=hint, detail=late)
    if reply.status != 200:
        return _result(
            "challenge", Outcome.FAIL, [reply], hint=hint, detail=f"answered {reply.status}"
        )
    if echoes_challenge(reply.body, challenge):
        return _result("challenge", Outcome.PASS, [reply], detail="challenge echoed")
    return _result(
        "challenge",
        Outcome.FAIL,
        [reply],
        hint=hint,
        detail="200, but the body is not the challenge value",
    )


def check_accepts(target: Target, send: Sender) -> CheckResult:
    if not target.events:
        return CheckResult("accepts", Outcome.SKIP, detail="no event types to send")
    replies, unsent = _send_until_timeout(send, (_event(target, e) for e in target.events))
    problems = [
        p
        for e, r in zip(target.events, replies, strict=False)
        if (p := _expect_200(r, e, target.limit))
    ] + ([_unsent(unsent)] if unsent else [])
    if not problems:
        return _result(
            "accepts", Outcome.PASS, replies, detail=f"{len(replies)} event type(s) answered 200"
        )
    if any(r.timed_out or r.seconds > target.limit for r in replies):
        hint = (
            f"answer within {target.limit:g} s: APIMW counts a later answer as a failed attempt; "
            "acknowledge with 200 at once and do slow work in a background job"
        )
    elif all(r.status == 401 for r in replies):
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
    limit = target.limit
    event_type = target.events[0] if target.events else "message.received"
    replies, unsent = _send_until_timeout(
        send, (_event(target, event_type) for _ in range(max(1, target.requests)))
    )
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
    unanswered = [r for r in replies if r.status is None]
    parts = [f"{len(slow)} of {len(replies)} over {limit:g} s"]
    if unanswered:
        if unanswered[0].timed_out:
            parts.append(f"{len(unanswered)} timed out (no answer within {limit:g} s)")
        else:
            parts.append(f"{len(unanswered)} without an answer ({unanswered[0].error or 'error'})")
    if unsent:
        parts.append(_unsent(unsent))
    return _result(
        "latency",
        Outcome.FAIL,
        replies,
        hint=f"answer within {limit:g} s: acknowledge with 200 at once and do slow work "
        "(database writes, API calls) in a background job",
        detail="; ".join(parts + ([detail] if detail else [])),
    )


def _forged_cases(target: Target, event_type: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """(name, body, headers) of three deliveries whose signature does not hold."""
    wrong_key = "whsec_" + secrets.token_urlsafe(24)

    body, headers = _event(target, event_type)
    wrong = {**headers, SIGNATURE_HEADER: sign(body, wrong_key)}

    body2, headers2 = _event(target, event_type)
    missing = {k: v for k, v in headers2.items() if k != SIGNATURE_HEADER}

    body3, headers3 = _event(target, event_type)
    payload = json.loads(body3)
    payload["data"] = {**payload.get("data", {}), "forged": True}
    altered = _encode(payload)  # signed before the change: headers3 keeps the old signature

    return [
        ("wrong signature", body, wrong),
        ("missing signature", body2, missing),
        ("body altered after signing", altered, headers3),
    ]


def check_rejects_forged(target: Target, send: Sender) -> CheckResult:
    event_type = target.events[0] if target.events else "message.received"
    cases = _forged_cases(target, event_type)
    replies, unsent = _send_until_timeout(send, ((body, headers) for _, body, headers in cases))
    accepted: list[str] = []
    odd: list[str] = []
    unanswered: list[str] = []
    for (name, _, _), reply in zip(cases, replies, strict=False):
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
        unanswered += [_unsent(unsent)] if unsent else []
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
    replies, unsent = _send_until_timeout(send, [(body, headers), (body, headers)])
    problems = [
        p
        for what, reply in zip(("first", "duplicate"), replies, strict=False)
        if (p := _expect_200(reply, what, target.limit))
    ] + ([_unsent(unsent)] if unsent else [])
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
    problem = _expect_200(reply, UNKNOWN_TYPE, target.limit)
    if problem is None:
        return _result("unknown-type", Outcome.PASS, [reply], detail=f"{UNKNOWN_TYPE} answered 200")
    return _result(
        "unknown-type",
        Outcome.FAIL,
        [reply],
        hint="answer 200 to event types you do not handle (APIMW adds new ones); ignore them",
        detail=problem,
    )


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
