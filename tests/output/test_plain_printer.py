"""Off a terminal the Printer writes without rich (#17): byte for byte what rich wrote.

TTY_COMPATIBLE=0 makes rich decide (it then says "not a terminal" too), so the same calls
printed through rich are the reference for the plain path, for any text: controls, bidi,
wide and zero-width characters, line feeds, trailing spaces, lines long enough that rich's
10,000-cell width would matter.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apimw_cli.output import Printer
from apimw_cli.output import printer as printer_module

# Everything a Printer method may be given from outside: any code point (surrogates too), with
# the troublesome ones frequent.
TRICKY = st.sampled_from(
    ["\x1b[2J", "\x9b", "\n", "\r", "\t", "\u202e", "\u2028", "\ud800", "界", "\u0301", "  "]
)
TEXT = st.lists(st.one_of(st.text(), TRICKY), max_size=6).map("".join)

Call = Callable[[Printer], None]


def _outputs(call: Call, monkeypatch: pytest.MonkeyPatch, *, rich: bool) -> tuple[str, str]:
    with monkeypatch.context() as patch:
        for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
            patch.delenv(name, raising=False)
        if rich:
            patch.setenv("TTY_COMPATIBLE", "0")
        out, err = io.StringIO(), io.StringIO()
        printer = Printer(stdout=out, stderr=err)
        assert printer._out_plain is not rich
        call(printer)
        return out.getvalue(), err.getvalue()


def _same_as_rich(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = _outputs(call, monkeypatch, rich=False)
    assert plain == _outputs(call, monkeypatch, rich=True)


def _calls(text: str, other: str) -> list[Call]:
    return [
        lambda p: p.line(text),
        lambda p: p.info(text),
        lambda p: p.success(text),
        lambda p: p.warn(text),
        lambda p: p.error(text, other),
        lambda p: p.error(text),
        lambda p: p.fields({text: other, "id": text, other: None}, title=text),
        lambda p: p.fields({}, title=other),
        lambda p: p.table(["id", text], [[text, other], [None, 3]]),
        lambda p: p.table([text], []),
        lambda p: p.data({text: [other]}, lambda: p.line(text)),
        lambda p: p.data([text]),
    ]


@given(text=TEXT, other=TEXT)
def test_every_method_writes_off_a_terminal_what_rich_wrote(text: str, other: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        for call in _calls(text, other):
            _same_as_rich(call, monkeypatch)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 3_999 + " ",
        "x" * 4_001 + "   ",
        "y" * 10_002 + "    ",  # past rich's width: rich trims the spaces past it
        "界" * 5_001 + "  ",  # 10,002 cells
        ("a" * 9_000 + "\n") * 3 + "   ",
        "ok  https://user:pw@example.com/x  \x1b]0;t\x07",
    ],
)
def test_long_and_odd_texts_too(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for call in _calls(text, text[::-1]):
        _same_as_rich(call, monkeypatch)


@pytest.mark.parametrize(
    ("variable", "value"), [("FORCE_COLOR", "1"), ("FORCE_COLOR", ""), ("TTY_COMPATIBLE", "1")]
)
def test_rich_decides_when_the_environment_speaks(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    printer = Printer(stdout=io.StringIO(), stderr=io.StringIO())
    assert not printer._out_plain and not printer._err_plain
    printer.line("hello")
    assert printer.out.is_terminal is (value != "")


class _Broken(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("file", "plain"), [(io.StringIO(), True), (_Terminal(), False), (_Broken(), False)]
)
def test_which_files_are_plainly_not_a_terminal(
    file: Any, plain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert printer_module._plainly_not_terminal(file) is plain


def test_a_terminal_still_gets_rich_styles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    err = _Terminal()
    Printer(stderr=err).warn("careful")
    assert err.getvalue().startswith("\x1b[") and "careful" in err.getvalue()


def test_the_plain_path_writes_to_the_current_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Printer without files writes to sys.stdout/sys.stderr as they are when first used."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    out, err = io.StringIO(), io.StringIO()
    printer = Printer()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    printer.table(["id"], [["whk_1"]])
    printer.warn("w")
    assert (out.getvalue(), err.getvalue()) == ("ID\nwhk_1\n", "warning: w\n")


# --- a table on a colour terminal, without rich --------------------------------------------

COLUMN = st.one_of(
    st.sampled_from(["id", "url", "events", "status", "webhook_id", "name", "created", "ms"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
)
CELL = st.one_of(
    st.none(),
    st.integers(),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.sampled_from(["", " ", "  x  ", "https://user:pw@example.com/a b", "\x1b[2J", "é"]),
)


def _terminal_table(
    monkeypatch: pytest.MonkeyPatch,
    columns: list[str],
    rows: list[list[Any]],
    *,
    rich: bool,
    width: int = 100,
    no_color: bool = False,
) -> str:
    with monkeypatch.context() as patch:
        for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "COLUMNS", "LINES"):
            patch.delenv(name, raising=False)
        patch.setenv("TERM", "xterm-256color")
        patch.setattr(os, "get_terminal_size", lambda _fd=0: os.terminal_size((width, 25)))
        if rich:
            patch.setenv("TTY_INTERACTIVE", "1")  # rich decides (and renders the same)
        out = _Terminal()
        printer = Printer(stdout=out, no_color=no_color)  # no colour: bold all the same
        printer.table(columns, rows)
        return out.getvalue()


@given(
    columns=st.lists(COLUMN, min_size=1, max_size=7),
    rows=st.lists(st.lists(CELL, min_size=7, max_size=7), max_size=4),
    width=st.integers(min_value=1, max_value=160),
    no_color=st.booleans(),
)
def test_a_terminal_table_is_richs_byte_for_byte(
    columns: list[str], rows: list[list[Any]], width: int, no_color: bool
) -> None:
    rows = [row[: len(columns)] for row in rows]
    with pytest.MonkeyPatch.context() as monkeypatch:
        shown = [
            _terminal_table(monkeypatch, columns, rows, rich=r, width=width, no_color=no_color)
            for r in (False, True)
        ]
    assert shown[0] == shown[1]


def test_an_ascii_terminal_table_is_made_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rich(_self: Printer) -> None:
        raise AssertionError("rich's console was made")

    monkeypatch.setattr(Printer, "out", property(no_rich))
    columns = ["id", "url", "events", "status"]
    rows = [["whk_1", "https://example.com/a", "message.received, " * 8, "active"]]
    shown = _terminal_table(monkeypatch, columns, rows, rich=False)
    assert shown.startswith("\x1b[1mid\x1b[0m")
    assert "…" in shown and "https://example.com/a" in shown  # cut, and not cut
    assert all(line == line.rstrip() for line in shown.splitlines())


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TERM", "dumb"), ("COLUMNS", "70"), ("FORCE_COLOR", "1"), ("TTY_INTERACTIVE", "1")],
)
def test_rich_renders_terminal_tables_when_the_environment_speaks(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv(variable, value)
    assert not printer_module._plainly_terminal(_Terminal())


def test_the_terminal_width_is_richs(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert printer_module._terminal_width() == Console(file=_Terminal()).width
