"""The sandbox's log costs nothing where nobody can read it, and reads the same where they can.

"Will not be shown" means stdout is the null device (`apimw sandbox > /dev/null`, a service
whose output is discarded): then no line is built, and the delivery worker does not even
gather the record. A terminal, a pipe or a file shows every line, byte for byte as rich
renders it (off a terminal the log writes rich's plain text itself, which is cheaper).
"""

from __future__ import annotations

import io
import os
import string
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apimw_cli.output import Printer
from apimw_cli.output.sandbox_log import SandboxLog, is_null_device
from apimw_cli.sandbox.clock import Clock
from apimw_cli.sandbox.store import Store
from apimw_cli.sandbox.worker import DeliveryWorker
from tests.sandbox.inprocess import asgi_sandbox
from tests.support.sandbox import MakeEndpoint
from tests.support.waiting import wait_for

KINDS = ("request", "event", "delivery", "verification", "error", "ready")


def test_the_null_device_is_told_from_what_someone_reads(tmp_path: Path) -> None:
    with open(os.devnull, "w") as null:
        assert is_null_device(null)
    with open(tmp_path / "log.txt", "w") as file:
        assert not is_null_device(file)
    read, write = os.pipe()
    with os.fdopen(read) as reader, os.fdopen(write, "w") as writer:
        assert not is_null_device(writer)
        assert reader.readable()
    assert not is_null_device(io.StringIO())  # no file descriptor: counted as read
    closed = open(tmp_path / "closed.txt", "w")  # noqa: SIM115 - closed on purpose
    closed.close()
    assert not is_null_device(closed)


def _never(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("rendered a line nobody can see")


@pytest.mark.parametrize("output", ["table", "json"])
def test_nothing_is_built_for_the_null_device(output: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(os.devnull, "w") as null:
        log = SandboxLog(Printer(output=output, stdout=null, stderr=io.StringIO()))
        monkeypatch.setattr(log.printer.out, "print", _never)
        monkeypatch.setattr(null, "write", _never)
        for kind in KINDS:
            assert not log.wants(kind)
            log(kind, {})  # not even looked at: an empty record would fail any line


def test_what_is_shown_follows_quiet() -> None:
    """--quiet leaves out API requests only; events and deliveries are shown."""
    quiet = SandboxLog(Printer(stdout=io.StringIO(), stderr=io.StringIO()), requests=False)
    assert [kind for kind in KINDS if quiet.wants(kind)] == [k for k in KINDS if k != "request"]
    loud = SandboxLog(Printer(stdout=io.StringIO(), stderr=io.StringIO()))
    assert all(loud.wants(kind) for kind in KINDS)


# Text from outside (URLs, errors, event types): anything, escape sequences and controls too.
outside = st.text(
    alphabet=st.sampled_from(
        [*string.printable, "\x1b", "\x00", "\x7f", "\x9b", "é", "→", "\u2028"]
    )
    | st.characters(),
    max_size=40,
)
maybe_outside = st.none() | outside


@st.composite
def records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(["request", "event", "delivery", "verification", "error"]))
    if kind == "request":
        fields: dict[str, Any] = {
            "method": draw(st.sampled_from(["GET", "POST", "DELETE"])),
            "path": draw(outside),
            "status": draw(st.integers(100, 599)),
            "ms": draw(st.floats(0, 1e6)),
        }
    elif kind == "event":
        fields = {
            "event_id": "evt_" + draw(outside),
            "event_type": draw(outside),
            "webhooks": draw(st.integers(0, 1000)),
        }
    elif kind == "delivery":
        fields = {
            "delivery_id": "dlv_" + draw(outside),
            "webhook_id": draw(outside),
            "url": draw(st.sampled_from(["http://localhost:3000/h", "https://u:pw@x.test/"]))
            + draw(outside),
            "event_type": draw(outside),
            "attempt": draw(st.integers(1, 5)),
            "status_code": draw(st.none() | st.integers(100, 599)),
            "error": draw(maybe_outside),
            "duration_ms": draw(st.integers(0, 10**6)),
            "next_retry_in": draw(st.none() | st.floats(0, 1e5)),
            "disabled_reason": draw(maybe_outside),
        }
    elif kind == "verification":
        fields = {"webhook_id": "whk_x", "url": draw(outside), "error": draw(maybe_outside)}
    else:
        fields = {"where": draw(maybe_outside), "error": draw(outside)}
    return kind, fields


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


CONSOLES = ["piped", "terminal", "no_color", "force_color"]


def _printer(console: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Printer, io.StringIO]:
    monkeypatch.setenv("COLUMNS", "10000")  # rich folds a long line on a terminal: not here
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    out: io.StringIO = io.StringIO() if console in ("piped", "force_color") else Terminal()
    if console == "force_color":
        monkeypatch.setenv("FORCE_COLOR", "1")
    printer = Printer(stdout=out, stderr=io.StringIO(), no_color=console == "no_color")
    return printer, out


@pytest.mark.parametrize("console", CONSOLES)
def test_a_shown_line_reads_exactly_as_rich_writes_it(
    console: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    printer, out = _printer(console, monkeypatch)
    rich_printer, rich_out = _printer(console, monkeypatch)
    log, through_rich = SandboxLog(printer), SandboxLog(rich_printer)
    through_rich._painter = None  # the way it was: rich renders each line
    # One stamp for both: a second may tick between the two calls.
    monkeypatch.setattr(time, "strftime", lambda _format: "12:34:56")

    @settings(max_examples=150, deadline=None)
    @given(records())
    def check(record: tuple[str, dict[str, Any]]) -> None:
        for each in (out, rich_out):
            each.seek(0)
            each.truncate()
        kind, fields = record
        log(kind, fields)
        through_rich(kind, dict(fields))
        assert out.getvalue() == rich_out.getvalue()
        if console == "piped":
            assert "\x1b" not in out.getvalue()  # outside text never reaches it as a control

    check()


class _Recorder:
    """A log callback that says it shows only some kinds (as SandboxLog.wants does)."""

    def __init__(self, shown: set[str]) -> None:
        self.shown = shown
        self.records: list[tuple[str, dict[str, Any]]] = []

    def wants(self, kind: str) -> bool:
        return kind in self.shown

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        self.records.append((kind, fields))


@pytest.mark.parametrize("shown", [set(), {"event", "delivery"}])
def test_the_worker_gathers_a_record_only_when_it_is_shown(
    shown: set[str], make_endpoint: MakeEndpoint
) -> None:
    log = _Recorder(shown)
    store = Store(None)
    worker = DeliveryWorker(store, Clock(), log=log)
    hook = make_endpoint(unique_path=True)
    created = store.webhooks.create(
        url=hook.url, events=["message.sent"], secret=None, active=True, description=None, now=0
    )
    worker.start()
    try:
        worker.emit("message.sent", {"message_id": "wamid.LOG", "to": "+14155550123"})
        hook.wait_deliveries(1, timeout=10.0)
        wait_for(
            lambda: store.deliveries.attempts(created["id"], limit=5)[1] == 1,
            timeout=10.0,
            what="the attempt to be recorded",
        )
    finally:
        worker.stop()
        store.close()
    kinds = [kind for kind, _ in log.records]
    assert sorted(set(kinds)) == sorted(shown), log.records
    if "delivery" in shown:
        (fields,) = [f for kind, f in log.records if kind == "delivery"]
        assert fields["webhook_id"] == created["id"] and fields["status_code"] == 200
        assert (fields["attempt"], fields["error"], fields["next_retry_in"]) == (1, None, None)


@pytest.mark.parametrize("shown", [set(), {"request"}])
def test_a_request_record_is_gathered_only_when_shown(shown: set[str]) -> None:
    log = _Recorder(shown)
    with asgi_sandbox(log=log) as api:
        assert api.get("/v1/sandbox/health").status_code == 200
    requests = [fields["path"] for kind, fields in log.records if kind == "request"]
    assert requests == (["/v1/auth/token", "/v1/sandbox/health"] if shown else [])
