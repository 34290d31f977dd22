"""How a listen session ends: each outcome's fields (NDJSON summary, --report) and its failure
(the exit code), decided when the outcome is built."""

from __future__ import annotations

from apimw_cli.errors import ExitCode
from apimw_cli.models import Forwarded, Received, Tally, Verdict, VerdictCode
from apimw_cli.session.outcome import Outcome, at_deadline, decide, missing


def received(event_type: str, kind: str = "event", verdict: Verdict | None = None) -> Received:
    return Received(
        record_id="rec_1",
        received_at=0.0,
        method="POST",
        path="/webhooks",
        headers={},
        body=b"{}",
        status=200,
        kind=kind,
        event_type=event_type,
        verdict=verdict,
    )


def tally_of(*records: Received | Forwarded) -> Tally:
    tally = Tally()
    for record in records:
        tally.add(record)
    return tally


def test_outcomes_that_exit_zero_carry_no_failure() -> None:
    for outcome in (Outcome.stopped(), Outcome.interrupted(), Outcome.done(), Outcome.passed()):
        assert outcome.failure is None
    assert Outcome.stopped("the output was closed").as_dict() == {
        "outcome": "stopped",
        "reason": "the output was closed",
    }
    assert Outcome.interrupted().as_dict() == {"outcome": "interrupted"}


def test_an_invalid_signature_exits_with_the_signature_code() -> None:
    outcome = Outcome.invalid_signature("mismatch")
    assert outcome.as_dict() == {"outcome": "invalid_signature", "reason": "mismatch"}
    assert outcome.failure is not None and outcome.failure.exit_code == ExitCode.SIGNATURE
    assert outcome.failure.message == "an event had an invalid signature: mismatch"


def test_a_timeout_names_what_is_missing() -> None:
    outcome = Outcome.timed_out({"message.read": (1, 3)})
    assert list(outcome.as_dict()) == ["outcome", "missing"]
    assert outcome.as_dict()["missing"] == {"message.read": {"received": 1, "expected": 3}}
    assert outcome.failure is not None and outcome.failure.exit_code == ExitCode.ERROR
    assert outcome.failure.message == "timed out waiting for message.read (1 of 3)"


def test_forward_failures_one_with_expect_or_counted_at_the_deadline() -> None:
    one = Outcome.forward_failed("http://app/hook", "HTTP 500")
    assert list(one.as_dict().items()) == [
        ("outcome", "forward_failure"),
        ("target", "http://app/hook"),
        ("error", "HTTP 500"),
    ]
    assert one.failure is not None and one.failure.exit_code == ExitCode.ERROR
    counted = Outcome.forwards_failed(2)
    assert counted.as_dict() == {"outcome": "forward_failure", "failed": 2}
    assert counted.failure is not None and counted.failure.message == "2 forward(s) failed"


def test_decide_settles_on_the_first_problem_or_when_every_expectation_is_met() -> None:
    wanted = {"message.*": 2}
    first = received("message.read")
    assert decide(first, tally_of(first), wanted) is None
    both = tally_of(first, received("message.sent"))
    assert decide(received("message.sent"), both, wanted) == Outcome.passed()
    bad = received("message.read", "invalid", Verdict(VerdictCode.MISMATCH, "mismatch"))
    assert decide(bad, tally_of(bad), wanted) == Outcome.invalid_signature("mismatch")
    failed = Forwarded("rec_1", "http://app", 503, 1.0)
    assert decide(failed, tally_of(first), wanted) == Outcome.forward_failed(
        "http://app", "HTTP 503"
    )


def test_at_the_deadline_expectations_time_out_and_failed_forwards_fail() -> None:
    got = received("message.read")
    assert missing(tally_of(got), {"message.read": 2}) == {"message.read": (1, 2)}
    assert at_deadline(tally_of(got), {"message.read": 2}).kind == "timeout"
    assert at_deadline(tally_of(got), {}) == Outcome.done()
    failures = tally_of(got, Forwarded("rec_1", "http://app", None, 1.0, error="refused"))
    assert at_deadline(failures, {}) == Outcome.forwards_failed(1)
