"""Our own symbols on a stream that cannot carry them (a pipe on Windows is cp1252, a legacy
locale latin-1): an ASCII stand-in each, instead of a `\\u2192` escape on every line. What a
sender wrote is never replaced."""

from __future__ import annotations

import dataclasses
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apimw_cli.models import Forwarded, Verdict, VerdictCode
from apimw_cli.output.glyphs import ASCII, UNICODE, glyphs_for
from apimw_cli.output.live import LiveView
from apimw_cli.output.printer import Printer
from apimw_cli.output.sandbox_log import SandboxLog
from tests.receiver.support import event_body, received

ENCODINGS = ["utf-8", "utf-16", "ascii", "latin-1", "cp1252", "cp437", "cp850", "koi8-r",
             "shift_jis", "gb18030", "mac-roman", "iso8859-15"]  # fmt: skip
VALID = Verdict(VerdictCode.VALID, "signature matches")
MISSING = Verdict(VerdictCode.MISSING, "The X-APIMW-Signature header is missing.")


def stream(encoding: str) -> io.TextIOWrapper:
    """A text stream with strict errors, as Python opens a stdout in that encoding."""
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict", newline="\n")


def written(file: io.TextIOWrapper) -> bytes:
    file.flush()
    buffer = file.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue()


def test_a_utf8_stream_gets_every_symbol() -> None:
    assert glyphs_for(stream("utf-8")) == UNICODE
    assert glyphs_for(io.StringIO()) == UNICODE  # holds text, not bytes: nothing to lack


def test_an_ascii_stream_gets_ascii_stand_ins() -> None:
    assert glyphs_for(stream("ascii")) == ASCII
    assert glyphs_for(stream("latin-1")) == ASCII  # none of our symbols is in latin-1


def test_each_symbol_is_chosen_on_its_own() -> None:
    """cp1252 (a pipe on Windows) has the dash and the ellipsis, not the arrow or the ticks."""
    glyphs = glyphs_for(stream("cp1252"))
    assert (glyphs.arrow, glyphs.check, glyphs.cross, glyphs.forward) == ("->", "ok", "x", "->")
    assert (glyphs.dash, glyphs.ellipsis) == ("—", "…")


def test_an_object_naming_an_unknown_encoding_gets_ascii() -> None:
    class Odd:
        encoding = "no-such-codec"

    assert glyphs_for(Odd()) == ASCII


@given(st.sampled_from(ENCODINGS))
def test_every_symbol_chosen_encodes_in_its_stream(encoding: str) -> None:
    for field in dataclasses.fields(UNICODE):
        getattr(glyphs_for(stream(encoding)), field.name).encode(encoding)  # never raises


def pretty_view(file: io.TextIOWrapper) -> tuple[LiveView, io.TextIOWrapper]:
    err = stream(file.encoding)
    return LiveView(Printer(stdout=file, stderr=err), ndjson=False), err


def show_every_kind(view: LiveView) -> None:
    """An event of each kind the view draws with a symbol, and a forward's result and error."""
    event = dataclasses.replace(
        received(1), verdict=VALID, delivery_id="dlv_1", event_type="message.sent"
    )
    with view.batch():
        view.show(event)
        refused = dataclasses.replace(event, record_id="rec_2", kind="invalid", status=401)
        view.show(dataclasses.replace(refused, verdict=MISSING))
        view.show(dataclasses.replace(received(3), kind="challenge", verdict=VALID))
        view.show(dataclasses.replace(event, record_id="rec_4", attempt=2))  # the general way
        view.show(Forwarded(event.record_id, "http://localhost:3000/hooks", 200, 3.0))
        view.show(Forwarded(event.record_id, "http://localhost:3000/hooks", None, 3.0, "refused"))


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "cp1252"])
def test_the_live_view_draws_ascii_stand_ins_where_the_stream_lacks_the_symbols(
    encoding: str,
) -> None:
    view, _ = pretty_view(stream(encoding))
    show_every_kind(view)
    text = written(view.printer._out_file).decode(encoding)  # type: ignore[arg-type]
    assert "\\u" not in text, text  # no escape: every symbol of ours fits
    lines = text.splitlines()
    assert sum("  -> message.sent" in line and "ok signed" in line for line in lines) == 2, text
    assert any("  x message.sent" in line and " 401: The X-APIMW" in line for line in lines)
    assert any("ok verification challenge answered" in line for line in lines)
    assert any("-> 200 POST http://localhost:3000/hooks" in line for line in lines)
    assert any("-> http://localhost:3000/hooks refused" in line for line in lines)


def test_the_live_view_keeps_its_symbols_on_utf8() -> None:
    view, _ = pretty_view(stream("utf-8"))
    show_every_kind(view)
    text = written(view.printer._out_file).decode()  # type: ignore[arg-type]
    assert "  → message.sent" in text and "✓ signed" in text and "  ✗ message.sent" in text
    assert "— 401" in text and "↳ 200 POST" in text and "✓ verification challenge" in text


def test_a_senders_symbols_are_escaped_not_replaced() -> None:
    """Only our symbols have stand-ins: an arrow in an event's type is the sender's, shown as
    the escape stdout's encoding gives it (here strict: the view must not have raised)."""
    file = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="backslashreplace")
    view = LiveView(Printer(stdout=file, stderr=stream("ascii")), ndjson=False)
    body = event_body("a→b", n=1)
    view.show(dataclasses.replace(received(1), body=body, event_type="a→b", verdict=VALID))
    text = written(file).decode("ascii")
    assert "  -> a\\u2192b" in text, text


@pytest.mark.parametrize(("encoding", "mark"), [("ascii", "ok "), ("utf-8", "✓ ")])
def test_a_success_message_is_marked_with_what_stderr_can_carry(encoding: str, mark: str) -> None:
    err = stream(encoding)
    Printer(stdout=stream(encoding), stderr=err).success("registered whk_1")
    assert written(err).decode(encoding) == f"{mark}registered whk_1\n"


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_the_sandbox_log_draws_ascii_stand_ins_too(encoding: str) -> None:
    out = stream(encoding)
    log = SandboxLog(Printer(stdout=out, stderr=stream(encoding)))
    delivered = {"event_type": "message.sent", "webhook_id": "whk_12345678abc",
                 "url": "http://localhost:3000/hooks", "attempt": 1, "error": None,
                 "duration_ms": 4}  # fmt: skip
    log("delivery", delivered)
    log("delivery", {**delivered, "error": "503", "next_retry_in": 60.0})
    log("event", {"event_type": "message.sent", "event_id": "evt_12345678abc", "webhooks": 1})
    log("verification", {"url": "http://localhost:3000/hooks", "error": None})
    text = written(out).decode(encoding)
    assert "\\u" not in text, text
    assert "ok message.sent -> whk_12345678 http://localhost:3000/hooks 200" in text, text
    assert "x message.sent -> whk_12345678" in text and "evt_12345678 -> 1 webhook" in text
    assert "ok verification challenge answered" in text
