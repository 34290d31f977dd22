"""The live view's lines built as strings (output/lines.py) are what rich printed for the same
pieces: the same text, the same styles where the console shows styles (a colour terminal,
FORCE_COLOR), none where it does not (piped, NO_COLOR's colours, --no-color, TERM=dumb), and
nothing from outside reaches the terminal as a control or as markup."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apimw_cli.models import Forwarded, Received, Verdict, VerdictCode
from apimw_cli.output.lines import Painter, block_text
from apimw_cli.output.live import LiveView
from apimw_cli.output.printer import Part, Printer, styled

SGR = re.compile("\x1b\\[[0-9;]*m")
BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
RAW = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029{BIDI}\ud800-\udfff]")
STYLES = ["dim", "bold", "red", "green", "yellow", "cyan", "bold red"]
PIECES = [
    *"az09 :/@[]", "\x1b", "\x1b[2J", "\x1b]0;pwned\x07", "\x00", "\n", "\r", "\t", "\x7f",
    "\x85", "\x9b", "é", "→", "\u2028", "\u202e", "\ud800", "[bold]x[/bold]", ":smile:",
    "https://user:pw@host/", "😀",
]  # fmt: skip
TEXT = st.lists(st.sampled_from(PIECES) | st.characters(), max_size=8).map("".join)
PARTS = st.lists(TEXT | st.tuples(TEXT, st.sampled_from(STYLES)), max_size=6)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def printer_on(console: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Printer, io.StringIO]:
    """A printer whose stdout is `console`; the environment as that console has it."""
    monkeypatch.setenv("COLUMNS", "10000")  # rich would fold a long line: compare before that
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    no_color = False
    out: io.StringIO = Terminal()
    if console == "piped":
        out = io.StringIO()
    elif console == "no_color_env":
        monkeypatch.setenv("NO_COLOR", "1")
    elif console == "no_color_flag":
        no_color = True
    elif console == "dumb":
        monkeypatch.setenv("TERM", "dumb")
    elif console == "force_color":
        out = io.StringIO()
        monkeypatch.setenv("FORCE_COLOR", "1")
    return Printer(stdout=out, stderr=io.StringIO(), no_color=no_color), out


CONSOLES = ["piped", "colour", "no_color_env", "no_color_flag", "dumb", "force_color"]


@pytest.mark.parametrize("console", CONSOLES)
def test_a_line_is_what_rich_printed(console: str, monkeypatch: pytest.MonkeyPatch) -> None:
    printer, out = printer_on(console, monkeypatch)
    painter = Painter(printer.out)

    @SETTINGS
    @given(PARTS)
    def check(parts: list[Part]) -> None:
        out.seek(0)
        out.truncate()
        # soft_wrap: as rich prints it before folding it at its idea of the width (80 columns
        # on TERM=dumb); the view leaves a long line to the terminal to wrap.
        printer.out.print(styled(*parts), soft_wrap=True)
        assert painter.line(*parts) == out.getvalue()

    check()


@pytest.mark.parametrize(
    ("console", "bold", "red"),
    [
        ("piped", "", ""),
        ("dumb", "", ""),
        ("no_color_env", "\x1b[1m", ""),  # NO_COLOR: no colours; bold and dim stay (rich's rule)
        ("no_color_flag", "\x1b[1m", ""),
        ("colour", "\x1b[1m", "\x1b[31m"),
        ("force_color", "\x1b[1m", "\x1b[31m"),
    ],
)
def test_styles_follow_the_consoles_colour_decision(
    console: str, bold: str, red: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    printer, _ = printer_on(console, monkeypatch)
    painter = Painter(printer.out)
    reset = "\x1b[0m" if bold else ""
    assert painter.codes("bold") == (bold, reset)
    assert painter.codes("red") == (red, "\x1b[0m" if red else "")
    assert painter.line("a ", ("b", "bold")) == f"a {bold}b{reset}\n"


def test_a_block_keeps_its_lines_and_escapes_the_rest() -> None:
    assert block_text("a\nb\x1b[2J\tc http://u:p@h") == "a\nb\\x1b[2J\\tc http://u:***@h\n"


# --------------------------------------------------------------- the whole pretty path


def records() -> st.SearchStrategy[Received | Forwarded]:
    verdicts = st.none() | st.builds(
        Verdict,
        st.sampled_from(list(VerdictCode)),
        TEXT,
        st.none() | TEXT,
        st.none() | st.integers(0, 3),
    )
    encoded = TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))
    types = ["message.received", "message.failed", "message.sent", "quota.x", "account.y"]
    values = ['"\\u001b[2J"', '"\\u009b"', '"\\ud800"', "18446744073709551616", "1e999", "null"]
    bodies = st.binary(max_size=100) | encoded | st.builds(
        lambda t, v: (
            '{"type":"%s","data":{"from":%s,"to":%s,"text":%s,"error":{"code":%s,"message":%s},'
            '"used":%s,"limit":1,"quota":%s,"phone_number":%s}}' % ((t,) + (v,) * 8)
        ).encode("utf-8", "surrogatepass"),
        st.sampled_from(types),
        st.sampled_from(values),
    )  # fmt: skip
    received = st.builds(
        Received,
        record_id=TEXT, received_at=st.floats(0, 2e9), method=TEXT, path=TEXT,
        headers=st.just({}), body=bodies, status=st.integers(100, 599),
        kind=st.sampled_from(["event", "challenge", "rejected", "invalid"]),
        event_type=st.none() | TEXT, delivery_id=st.none() | TEXT, verdict=verdicts,
        duplicate=st.booleans(), note=st.none() | TEXT, record_error=st.none() | TEXT,
        attempt=st.integers(1, 5), previous_status=st.none() | st.integers(100, 599),
    )  # fmt: skip
    forwarded = st.builds(
        Forwarded, TEXT, TEXT, st.none() | st.integers(100, 599), st.floats(0, 1e6),
        st.none() | TEXT, st.binary(max_size=60) | encoded,
    )  # fmt: skip
    return received | forwarded


@pytest.mark.parametrize("console", ["piped", "colour"])
@pytest.mark.parametrize("verbose", [False, True])
def test_nothing_from_outside_reaches_the_terminal_raw(
    console: str, verbose: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    printer, out = printer_on(console, monkeypatch)
    err = printer._stderr
    assert isinstance(err, io.StringIO)

    @SETTINGS
    @given(st.lists(records(), min_size=1, max_size=5))
    def check(batch: list[Any]) -> None:
        out.seek(0)
        out.truncate()
        view = LiveView(printer, ndjson=False, verbose=verbose, signature_hint="check the secret")
        with view.batch():
            for record in batch:
                view.show(record)
        text = SGR.sub("", out.getvalue() + err.getvalue())  # our own styles only
        assert RAW.search(text) is None, ascii(text)
        assert "\x1b" not in text

    check()


@pytest.mark.parametrize("console", ["piped", "colour", "no_color_env", "dumb"])
def test_the_usual_event_line_is_the_general_one(
    console: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live view draws a first delivery answered 200 in one format string: for any text a
    sender chose (type, summary, delivery id), it is the line the general way draws."""
    printer, _ = printer_on(console, monkeypatch)
    view = LiveView(printer, ndjson=False)
    badges = [("✓ signed", "green"), ("unverified", "yellow"), ("", "red"), ("bad @ x", "red")]

    @SETTINGS
    @given(what=TEXT, summary=TEXT, label=TEXT, badge=st.sampled_from(badges))
    def check(what: str, summary: str, label: str, badge: tuple[str, str]) -> None:
        general = view._painter.line(
            ("12:00:00", "dim"),
            "  → ",
            (what, "bold"),
            f" {summary} ",
            badge,
            (f" [{label}]", "dim"),
        )
        assert view._event_line("12:00:00", what, summary, badge, label) == general

    check()


def test_each_event_line_carries_its_own_verdicts_badge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The badge is made once per verdict object (every valid event shares one): a line after
    another verdict's still shows its own."""
    printer, out = printer_on("piped", monkeypatch)
    view = LiveView(printer, ndjson=False)
    second = Verdict(VerdictCode.VALID, "matches", None, 1)
    first = Verdict(VerdictCode.VALID, "matches")
    skipped = Verdict(VerdictCode.SKIPPED, "off")
    bad = Verdict(VerdictCode.MISMATCH, "does not match")
    verdicts = [first, second, first, skipped, bad, None, first]
    for n, verdict in enumerate(verdicts):
        event = Received(f"rec_{n}", 1.0, "POST", "/", {}, b"{}", 200, "event", "t", f"d{n}")
        event.verdict = verdict
        view.show(event)
    lines = out.getvalue().splitlines()
    badges = [line.split(" t ", 1)[1].rsplit(" [", 1)[0].strip() for line in lines]
    assert badges == ["✓ signed", "✓ signed (secret #2)", "✓ signed", "unverified",
                      "does not match", "unverified", "✓ signed"]  # fmt: skip


@pytest.mark.parametrize("forwarding", [True, False])
def test_a_forward_line_names_its_event_as_the_event_line_did(
    forwarding: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With forwarding on, a forward's line carries its event's label (the delivery id); the
    view keeps those labels only then, and without one a forward names its record id."""
    printer, out = printer_on("piped", monkeypatch)
    view = LiveView(printer, ndjson=False, forwarding=forwarding)
    event = Received("rec_00000000abcd1234", 1.0, "POST", "/", {}, b"{}", 200, "event", "t",
                     "dlv_feedbeef99")  # fmt: skip
    view.show(event)
    view.show(Forwarded("rec_00000000abcd1234", "http://app/h", 200, 1.5))
    event_line, forward_line = out.getvalue().splitlines()
    assert event_line.endswith("[dlv_feedbeef]")
    assert forward_line.endswith("[dlv_feedbeef]" if forwarding else "[rec_abcd1234]")
    assert len(view._labels) == (1 if forwarding else 0)
