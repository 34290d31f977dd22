"""The safe-output layer: untrusted text reaches a terminal or a JSON stream only as visible text.

`untrusted.visible` / `visible_lines` escape every control (C0, ESC, DEL, C1, U+2028/9, bidi
controls, lone surrogates); `json_text` writes JSON any reader decodes back to the same data with
no raw C1, U+2028/9 or surrogate in it; `Printer` shows cells, fields, lines and messages
literally (no markup, no emoji codes), on a pipe and on a terminal.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apimw_cli.output.printer import Printer, styled, to_json
from apimw_cli.output.untrusted import clip, json_text, visible, visible_lines

# What must never reach an output raw: C0 but the line feed, DEL, C1, U+2028/9, lone surrogates.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# ... and the bidi controls `visible` escapes too.
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff{BIDI}]")
# The styles rich writes on a colour terminal (ours: bold, red, dim, ...).
SGR = re.compile("\x1b\\[[0-9;]*m")

# Characters that break terminals and JSON streams, drawn often; the rest of Unicode
# (surrogates included, which st.text() leaves out by default) drawn too.
TRICKY = [
    "\x00", "\x07", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1b", "\x7f", "\x80", "\x85",
    "\x9b", "\x9c", "\x9d", "\x9f", "\xa0", "\u061c", "\u200e", "\u2028", "\u2029", "\u202a",
    "\u202e", "\u2066", "\u2069", "\ud800", "\udbff", "\udc00", "\udcff", "\udfff", "\ufeff",
    "\ufffd", "é", "日", "🎉", "\\", '"', "[", "]", "/", ":",
]  # fmt: skip
CHARS = st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=()))
TEXT = st.text(CHARS, max_size=40)
HOSTILE = [
    "\x1b]2;pwned\x07",
    "\x1b[2J\x1b[H",
    "\x9b2J",
    "\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\",
    "\u202eevil.exe",
    "line\u2028break\u2029para",
    "lone \ud800 surrogate",
    "cr\roverwrite",
    "tab\tand\nnewline",
    "[bold]x[/bold]",
    "[/]",
    "[link=http://evil]y[/link]",
    ":smile:",
]


class Terminal(io.StringIO):
    """A StringIO that rich takes for a terminal."""

    def isatty(self) -> bool:
        return True


def expected(char: str) -> str:
    """The escape `visible` writes for one unsafe character."""
    named = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# --------------------------------------------------------------------------- visible


@pytest.mark.parametrize(
    ("char", "escape"),
    [
        ("\x00", "\\x00"),
        ("\x01", "\\x01"),
        ("\x07", "\\x07"),
        ("\t", "\\t"),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\x1b", "\\x1b"),
        ("\x1f", "\\x1f"),
        ("\x7f", "\\x7f"),
        ("\x80", "\\x80"),
        ("\x85", "\\x85"),
        ("\x9b", "\\x9b"),
        ("\x9f", "\\x9f"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
        ("\u202e", "\\u202e"),
        ("\u2066", "\\u2066"),
        ("\u2069", "\\u2069"),
        ("\u200f", "\\u200f"),
        ("\u061c", "\\u061c"),
        ("\ud800", "\\ud800"),
        ("\udc80", "\\udc80"),  # what surrogateescape makes of byte 0x80
        ("\udfff", "\\udfff"),
    ],
)
def test_visible_escapes_each_class_of_control(char: str, escape: str) -> None:
    assert visible(f"a{char}b") == f"a{escape}b"
    if char != "\n":
        assert visible_lines(f"a{char}b") == f"a{escape}b"


def test_every_c0_and_c1_character_is_escaped() -> None:
    for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)]:
        char = chr(code)
        assert visible(char) == expected(char)
        assert RAW_CONTROL.search(visible(char)) is None


def test_escape_sequences_arrive_as_visible_text() -> None:
    assert visible("\x1b]2;pwned\x07") == "\\x1b]2;pwned\\x07"
    assert visible("\x1b[2J") == "\\x1b[2J"
    assert visible("\x9b2J") == "\\x9b2J"
    assert visible("a\r\nb") == "a\\r\\nb"


def test_visible_lines_keeps_only_line_feeds() -> None:
    assert visible_lines("one\ntwo\n") == "one\ntwo\n"
    assert visible_lines("a\r\nb\tc\x1b[2J\u2028d") == "a\\r\nb\\tc\\x1b[2J\\u2028d"
    assert visible_lines("\x0b\x0c\x85") == "\\x0b\\x0c\\x85"  # other line breaks are escaped


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain ASCII, punctuation ~!@#$%^&*()_+{}|:<>?[];',./`",
        "café crème",
        "日本語のテキスト",
        "emoji 🎉👍🏽 and flags 🇫🇷",
        "\xa0 no-break space and \ufffd replacement",
        "zero width joiner \u200d and non-joiner \u200c",
        "backslashes \\x1b stay \\n as they are",
    ],
)
def test_ordinary_text_passes_unchanged(text: str) -> None:
    assert visible(text) == text
    assert visible_lines(text) == text


@given(text=TEXT)
def test_visible_leaves_no_control_and_keeps_the_rest(text: str) -> None:
    shown = visible(text)
    assert UNSAFE.search(shown) is None
    assert "\n" not in shown
    assert visible(shown) == shown  # escapes are plain text: a second pass changes nothing
    # Every safe character is kept, in order; each unsafe one becomes its escape.
    assert shown == "".join(expected(c) if UNSAFE.fullmatch(c) else c for c in text)
    lines = visible_lines(text)
    assert UNSAFE.search(lines.replace("\n", "")) is None
    assert lines.count("\n") == text.count("\n")
    assert lines.split("\n") == [visible(part) for part in text.split("\n")]


def test_clip() -> None:
    assert clip("abcdef", 6) == "abcdef"
    assert clip("abcdef", 4) == "abc…"
    assert clip("abcdef", 1) == "…"
    assert clip("abcdef", 0) == "…"
    assert len(clip("x" * 1000, 80)) == 80


# --------------------------------------------------------------------------- json_text

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)


def assert_safe_json(text: str) -> None:
    """No raw C0/DEL/C1/U+2028/U+2029/surrogate in a JSON text (C0 is escaped by any encoder)."""
    assert RAW_CONTROL.search(text.replace("\n", "")) is None, ascii(text)
    text.encode("utf-8")  # writable to any UTF-8 stream


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=JSON_VALUES, indent=st.sampled_from([None, 2]))
def test_json_text_round_trips_and_is_safe(data: Any, indent: int | None) -> None:
    text = json_text(data, indent=indent)
    assert_safe_json(text)
    if indent is None:
        assert "\n" not in text
    # Decodes to what JSON itself makes of the data: the data, except that a high surrogate
    # followed by a low one (two code points in a str) reads back as the pair's one character,
    # as with any JSON encoder (json.dumps with ensure_ascii does the same).
    assert json.loads(text) == json.loads(json.dumps(data))


@pytest.mark.parametrize(
    "data",
    [
        {"type": "a\x1b]2;x\x07", "text": "\x9b2J\x85\x7f", "sep": "\u2028\u2029"},
        ["lone \ud800", "low \udc80", {"\udfff key": "v"}],
        {"é": "日本 🎉", "bidi": "\u202e\u2066"},
    ],
)
def test_json_text_escapes_what_terminals_and_streams_choke_on(data: Any) -> None:
    text = json_text(data)
    assert_safe_json(text)
    assert json.loads(text) == data
    if isinstance(data, dict) and "sep" in data:
        assert "\\u2028\\u2029" in text and "\\u009b2J\\u0085\\u007f" in text
    if isinstance(data, dict) and "é" in data:
        assert "é" in text and "日本 🎉" in text  # non-ASCII stays readable
        assert "\\u202e\\u2066" in text  # bidi controls escaped too: NDJSON gets watched live


def test_json_text_raises_recursion_error_when_too_deep() -> None:
    data: Any = []
    for _ in range(100_000):
        data = [data]
    with pytest.raises(RecursionError):
        json_text(data)


def test_json_text_refuses_nan_and_infinity_when_asked() -> None:
    data = {"v": [float("nan"), float("inf"), -float("inf")]}
    assert json_text(data) == '{"v": [NaN, Infinity, -Infinity]}'  # what Python reads back
    for value in data["v"]:
        with pytest.raises(ValueError):
            json_text({"v": value}, allow_nan=False)
        with pytest.raises(ValueError):
            to_json({"v": value}, allow_nan=False)
    assert json_text({"v": 1.5}, allow_nan=False) == '{"v": 1.5}'


def test_to_json_escapes_c1_as_for_output_json() -> None:
    data = {"name": "hook\x9b2J", "url": "https://x/\u2028", "note": "\ud800", "ok": "é"}
    text = to_json(data)
    assert "\\u009b2J" in text and "\\u2028" in text and "\\ud800" in text and "é" in text
    assert_safe_json(text)
    assert json.loads(text) == data
    out = io.StringIO()
    Printer(output="json", stdout=out, stderr=io.StringIO()).data(data)
    assert out.getvalue() == text + "\n"


# --------------------------------------------------------------------------- Printer


def printers(
    monkeypatch: pytest.MonkeyPatch,
) -> list[tuple[str, Printer, io.StringIO, io.StringIO]]:
    """The same output piped, on a terminal without colours (TERM=dumb, as the test
    environment sets it), and on a colour terminal."""
    made: list[tuple[str, Printer, io.StringIO, io.StringIO]] = []
    for name in ("piped", "terminal"):
        out, err = (
            (Terminal(), Terminal()) if name == "terminal" else (io.StringIO(), io.StringIO())
        )
        printer = Printer(stdout=out, stderr=err)
        assert printer.out.color_system is None and printer.err.color_system is None
        made.append((name, printer, out, err))
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out, err = Terminal(), Terminal()
    colour = Printer(stdout=out, stderr=err)
    assert colour.out.is_terminal and colour.out.color_system is not None
    made.append(("colour", colour, out, err))
    return made


def shown(name: str, stream: io.StringIO) -> str:
    """What a stream got; on a colour terminal without rich's own styles."""
    text = stream.getvalue()
    return SGR.sub("", text) if name == "colour" else text


def assert_no_raw_control(text: str) -> None:
    assert UNSAFE.search(text.replace("\n", "")) is None, ascii(text)


def test_printer_shows_hostile_text_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, printer, out, err in printers(monkeypatch):
        for text in HOSTILE:
            for stream in (out, err):
                stream.seek(0)
                stream.truncate()
            printer.table(["name", "value"], [[text, None], ["x", text]])
            printer.fields({"field": text, text: 1}, title="t")
            printer.line(text)
            printer.info(text)
            printer.warn(text)
            printer.error(text, hint=text)
            printer.success(text)
            stdout, stderr = shown(name, out), shown(name, err)
            assert_no_raw_control(stdout)
            assert_no_raw_control(stderr)
            one_line, lines = visible(text), visible_lines(text)
            # Cells and fields on one line (the tables are wide enough not to fold them).
            assert one_line in stdout, (name, text)
            # Lines and messages keep their line feeds, everything else escaped.
            for part in lines.split("\n"):
                assert part in stdout and part in stderr, (name, text)
            for label in ("warning: ", "error: ", "hint: ", "✓ "):
                assert label + lines.split("\n")[0] in stderr
            assert "😄" not in stdout + stderr  # :smile: is not an emoji code here


@pytest.mark.parametrize("markup", ["[/]", "[/bold]", "[bold", "[link=x]", "[[/]]", "\\[/]"])
def test_unbalanced_markup_never_raises(monkeypatch: pytest.MonkeyPatch, markup: str) -> None:
    for name, printer, out, err in printers(monkeypatch):
        printer.table([markup], [[markup]])
        printer.fields({markup: markup}, title=markup)
        printer.line(markup)
        printer.info(markup)
        printer.warn(markup)
        printer.error(markup, hint=markup)
        printer.out.print(styled(markup, (markup, "bold")))
        stdout, stderr = shown(name, out), shown(name, err)
        assert stdout.count(markup) >= 3, (name, stdout)  # the line, the fields and styled
        assert stderr.count(markup) == 4, (name, stderr)  # info, warn, error and hint


def test_table_title_and_columns_are_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, printer, out, _err in printers(monkeypatch):
        printer.table(
            ["\x1b]2;col\x07", "[bold]b[/bold]"], [["1", "2"]], title="\x1b]2;title\x07\x9b2J"
        )
        stdout = shown(name, out)
        assert_no_raw_control(stdout)
        assert "[bold]b[/bold]" in stdout or "[BOLD]B[/BOLD]" in stdout
        assert "\\x1b]2;col\\x07" in stdout or "\\x1b]2;COL\\x07" in stdout
        if name != "piped":  # a title is for people: not shown when piped
            assert "\\x1b]2;title\\x07\\x9b2J" in stdout


def test_styled_escapes_each_part() -> None:
    text = styled("a\x1b[2J", ("b\x9b", "bold"), ("[/]", "red"))
    assert text.plain == "a\\x1b[2Jb\\x9b[/]"
    assert [(text.plain[span.start : span.end], str(span.style)) for span in text.spans] == [
        ("b\\x9b", "bold"),
        ("[/]", "red"),
    ]


@given(cells=st.lists(TEXT, min_size=1, max_size=4), message=TEXT)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_printer_never_writes_a_control(
    monkeypatch: pytest.MonkeyPatch, cells: list[str], message: str
) -> None:
    with monkeypatch.context() as patch:
        for name, printer, out, err in printers(patch):
            printer.table(["c"] * len(cells), [cells])
            printer.fields(dict.fromkeys(cells, message), title=message)
            printer.line(message)
            printer.warn(message)
            printer.error(message, hint=message)
            assert_no_raw_control(shown(name, out))
            assert_no_raw_control(shown(name, err))


def test_a_verbose_body_cannot_forge_an_event_line() -> None:
    from apimw_cli.models import Received
    from apimw_cli.output.live import LiveView

    out = io.StringIO()
    view = LiveView(Printer(stdout=out, stderr=io.StringIO()), ndjson=False, verbose=True)
    forged = b"not json\n12:00:00  \xe2\x86\x92 message.received \xe2\x9c\x93 signed"
    view.show(Received("rec_1", 0.0, "POST", "/", {}, forged, 200, "event", "message.sent"))
    lines = out.getvalue().splitlines()
    assert sum(line.startswith(("0", "1", "2")) for line in lines) == 1, lines


def test_ndjson_escapes_bidi_controls() -> None:
    from apimw_cli.output.untrusted import json_text

    assert json_text({"t": "a\u202eb\u2066"}) == '{"t": "a\\u202eb\\u2066"}'
