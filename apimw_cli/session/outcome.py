"""How a listen session ended, and whether `--expect` was met.

An `Outcome` is built once, by one of its named constructors, with its failure (and so the
exit code) already decided; nothing changes it afterwards. Its fields are what the NDJSON summary
and `--report` carry.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from apimw_cli.errors import ApimwError, ExitCode
from apimw_cli.models import Forwarded, Received, Tally

if TYPE_CHECKING:
    from apimw_cli.session.options import ListenOptions
    from apimw_cli.session.run import SessionResult

__all__ = [
    "ListenFailed",
    "Outcome",
    "SignatureFailed",
    "at_deadline",
    "decide",
    "missing",
    "received_by",
    "write_report",
]

Kind = Literal[
    "stopped",  # SIGTERM, or the output was closed
    "interrupted",  # Ctrl-C
    "done",  # --timeout passed without --expect
    "timeout",  # --timeout passed before --expect was met
    "passed",  # --expect was met
    "invalid_signature",  # with --expect: an event failed verification
    "forward_failure",  # with --expect: a forward failed; without: some failed by --timeout
]


class ListenFailed(ApimwError):
    """`--expect` was not met: timeout, an invalid signature, or a failed forward."""


class SignatureFailed(ListenFailed):
    """An event had an invalid signature (its own exit code, for CI)."""

    exit_code = ExitCode.SIGNATURE


@dataclass(frozen=True)
class Outcome:
    """Why the session ended; `failure` is what the command raises (None: exit 0).

    Build one with a named constructor, never directly: they keep `failure` and the fields in
    step.
    """

    kind: Kind
    reason: str | None = None  # stopped (why), invalid_signature (the verdict's reason)
    missing: Mapping[str, tuple[int, int]] | None = None  # timeout: pattern -> (got, wanted)
    target: str | None = None  # forward_failure with --expect: where the forward went
    error: str | None = None  # ... and what went wrong
    failed: int | None = None  # forward_failure at --timeout: how many forwards failed
    failure: ListenFailed | None = field(default=None, compare=False)

    @classmethod
    def stopped(cls, reason: str | None = None) -> Outcome:
        return cls("stopped", reason=reason)

    @classmethod
    def interrupted(cls) -> Outcome:
        return cls("interrupted")

    @classmethod
    def done(cls) -> Outcome:
        return cls("done")

    @classmethod
    def passed(cls) -> Outcome:
        return cls("passed")

    @classmethod
    def timed_out(cls, missing: Mapping[str, tuple[int, int]]) -> Outcome:
        what = ", ".join(f"{p} ({got} of {wanted})" for p, (got, wanted) in missing.items())
        failure = ListenFailed(
            f"timed out waiting for {what}", hint="is the webhook subscribed to them?"
        )
        return cls("timeout", missing=missing, failure=failure)

    @classmethod
    def invalid_signature(cls, reason: str) -> Outcome:
        failure = SignatureFailed(f"an event had an invalid signature: {reason}")
        return cls("invalid_signature", reason=reason, failure=failure)

    @classmethod
    def forward_failed(cls, target: str, error: str) -> Outcome:
        failure = ListenFailed(f"forwarding to {target} failed: {error}")
        return cls("forward_failure", target=target, error=error, failure=failure)

    @classmethod
    def forwards_failed(cls, failed: int) -> Outcome:
        failure = ListenFailed(
            f"{failed} forward(s) failed",
            hint="the forward lines under each event say why; `apimw events log` lists them",
        )
        return cls("forward_failure", failed=failed, failure=failure)

    def as_dict(self) -> dict[str, Any]:
        """The fields of the NDJSON summary and the report: `outcome` and what explains it."""
        data: dict[str, Any] = {"outcome": self.kind}
        if self.reason is not None:
            data["reason"] = self.reason
        if self.missing is not None:
            data["missing"] = {
                p: {"received": got, "expected": wanted}
                for p, (got, wanted) in self.missing.items()
            }
        if self.target is not None:
            data["target"] = self.target
            data["error"] = self.error
        if self.failed is not None:
            data["failed"] = self.failed
        return data


Counts = Mapping[str, int]  # events by type: the tally's, or those --where matched


def _by_type(counted: Tally | Counts) -> Counts:
    return counted.by_type if isinstance(counted, Tally) else counted


def received_by(counted: Tally | Counts, pattern: str) -> int:
    """Events counted so far whose type matches `pattern` (a glob)."""
    return sum(n for t, n in _by_type(counted).items() if fnmatch.fnmatchcase(t, pattern))


def missing(counted: Tally | Counts, expectations: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """The expectations not met yet: pattern -> (received, expected)."""
    return {
        pattern: (received_by(counted, pattern), count)
        for pattern, count in expectations.items()
        if received_by(counted, pattern) < count
    }


def decide(
    item: Received | Forwarded,
    tally: Tally,
    expectations: Mapping[str, int],
    matched: Counts | None = None,
) -> Outcome | None:
    """With --expect, after each record: the outcome once it is decided, else None. `matched`
    (with --where) counts only the events that meet the conditions; else the tally counts."""
    if isinstance(item, Received) and item.kind == "invalid":
        return Outcome.invalid_signature(item.verdict.reason if item.verdict else "invalid")
    if isinstance(item, Forwarded) and (item.error is not None or (item.status or 0) >= 400):
        return Outcome.forward_failed(item.target, item.error or f"HTTP {item.status}")
    if not missing(tally if matched is None else matched, expectations):
        return Outcome.passed()
    return None


def at_deadline(
    tally: Tally, expectations: Mapping[str, int], matched: Counts | None = None
) -> Outcome:
    """The outcome of a session that ran until --timeout, judged once it has drained (an
    @FILE --where value written after the last event is met only now)."""
    if expectations:
        still_missing = missing(tally if matched is None else matched, expectations)
        return Outcome.timed_out(still_missing) if still_missing else Outcome.passed()
    if tally.forward_failures:
        return Outcome.forwards_failed(tally.forward_failures)
    return Outcome.done()


def write_report(
    path: Path, options: ListenOptions, result: SessionResult, outcome: dict[str, object]
) -> None:
    """listen's --report: the outcome, each expectation's count, the summary, as JSON (redacted
    as printed: no secret, no URL password)."""
    import json

    from apimw_cli.output import redact
    from apimw_cli.settings import write_private_file

    record = options.receiver.record
    data = {
        **outcome,
        "expectations": {
            p: {"expected": n, "received": received_by(result.counted, p)}
            for p, n in options.expectations.items()
        },
        "summary": result.tally.as_dict(),
        "webhook_id": result.webhook_id,
        "record": str(record) if record else None,
    }
    text = redact(json.dumps(data, indent=2))  # as printed: no secret, no URL password
    write_private_file(path, (text + "\n").encode())
