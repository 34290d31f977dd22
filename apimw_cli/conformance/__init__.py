"""The conformance suite behind `apimw webhooks test`: is an endpoint ready for APIMW?

Pure check logic: every request goes through a `Sender` (apimw_cli/receiver/probe.py sends
them with httpx; tests may pass anything callable), and the results are plain data that the
command renders as a table, JSON or JUnit XML. The checks are in checks.py, the data they
work with in results.py, the JUnit report in report.py; this module selects and runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from apimw_cli.conformance.checks import (
    TEST_HEADER_VALUE,
    UNKNOWN_TYPE,
    check_accepts,
    check_challenge,
    check_https,
    check_idempotent,
    check_latency,
    check_rejects_forged,
    check_unknown_type,
    delivery_id,
    headers_for,
)
from apimw_cli.conformance.report import junit_xml
from apimw_cli.conformance.results import (
    LATENCY_LIMIT,
    CheckResult,
    Outcome,
    Reply,
    Sender,
    Target,
)
from apimw_cli.protocol import TEST_HEADER

__all__ = [
    "CHECKS",
    "LATENCY_LIMIT",
    "TEST_HEADER",
    "TEST_HEADER_VALUE",
    "UNKNOWN_TYPE",
    "CheckResult",
    "Outcome",
    "Reply",
    "Sender",
    "Target",
    "check_accepts",
    "check_challenge",
    "check_https",
    "check_idempotent",
    "check_latency",
    "check_rejects_forged",
    "check_unknown_type",
    "delivery_id",
    "failed",
    "headers_for",
    "junit_xml",
    "run",
    "select",
    "timed_out",
]

# The suite, in the order it runs.
_RUNNERS: dict[str, Callable[[Target, Sender], CheckResult]] = {
    "challenge": check_challenge,
    "accepts": check_accepts,
    "latency": check_latency,
    "rejects-forged": check_rejects_forged,
    "idempotent": check_idempotent,
    "unknown-type": check_unknown_type,
    "https": check_https,
}
CHECKS: tuple[str, ...] = tuple(_RUNNERS)


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


def timed_out(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.timed_out]


def _timed(name: str, target: Target, send: Sender) -> CheckResult:
    started = time.perf_counter()
    result = _RUNNERS[name](target, send)
    return replace(result, seconds=time.perf_counter() - started)


def run(
    target: Target,
    send: Sender,
    checks: Sequence[str] = CHECKS,
    *,
    progress: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Every check in suite order; those not in `checks` come back as SKIP rows.

    The checks are independent (each sends its own deliveries), so they run at once, one thread
    each: an endpoint that hangs costs one wait of `target.limit`, not one per check. `send`
    must therefore be safe to call from several threads (Probe is: httpx.Client is)."""
    selected = [name for name in CHECKS if name in checks]
    with ThreadPoolExecutor(max_workers=max(1, len(selected))) as pool:
        futures = {name: pool.submit(_timed, name, target, send) for name in selected}
        results: list[CheckResult] = []
        for name in CHECKS:
            if name in futures:
                result = futures[name].result()
            else:
                result = CheckResult(name, Outcome.SKIP, detail="not selected")
            results.append(result)
            if progress is not None:
                progress(result)
    return results
