"""The one place that writes to the terminal.

stdout carries data, stderr everything else. Tables are rich tables on a terminal and plain
aligned columns when piped; `json` prints exactly the data, so `jq` works.

rich is imported only for a terminal (or when the environment makes rich treat a file as one):
piped data, `json` and messages to a file are written as the plain text rich would have
written, without importing it (a third of a piped one-shot command's start-up, #17).

Safe by construction: the consoles read no markup and no emoji codes, and every string a
method here is given (cells, values, lines, messages) goes out through `untrusted.visible`, so
text from outside can neither style the terminal nor control it. Styling is ours alone, as
`Text` spans (see `styled`).

Safe for secrets too: every message on stderr (warnings, errors, hints, `--debug` notes and
tracebacks) goes through `masking.redact`, and data on stdout through `masking.mask_url`, so
no URL is printed with its password. Data that is a secret on purpose (`listen
--print-secret`, a generated webhook secret shown once) is printed on stdout as given.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

from apimw_cli.output.glyphs import Glyphs, glyphs_for
from apimw_cli.output.masking import mask_url, redact
from apimw_cli.output.untrusted import json_text, visible, visible_lines

if TYPE_CHECKING:
    from rich.console import Console
    from rich.segment import Segment
    from rich.text import Text

# A piece of a styled line: plain text, or (text, rich style).
Part = str | tuple[str, str]

# Variables by which rich treats a file as a terminal (or not) whatever isatty() says: with any
# of them set, rich decides. (`width` is 10,000 off a terminal: a text this short, at most 2
# cells a character, never reaches it, so rich would neither wrap nor trim it either.)
_RICH_TERMINAL_VARIABLES = ("FORCE_COLOR", "TTY_COMPATIBLE")
_PLAIN_LIMIT = 4_000


# ... and by which it sizes a terminal, or knows it for one that has no colours (or Jupyter's).
_RICH_SIZE_VARIABLES = ("COLUMNS", "LINES", "JUPYTER_COLUMNS", "JUPYTER_LINES", "TTY_INTERACTIVE")


def _plainly_terminal(file: IO[str]) -> bool:
    """True when rich would certainly treat `file` as a colour terminal, sized as the standard
    streams say: `tables.terminal_lines` then gives its table's bytes without importing it."""
    if sys.platform == "win32" or os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return False
    variables = (*_RICH_TERMINAL_VARIABLES, *_RICH_SIZE_VARIABLES)
    if any(name in os.environ for name in variables):
        return False
    if "IPython" in sys.modules or getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return False
    isatty = getattr(file, "isatty", None)
    try:
        return isatty is not None and bool(isatty())
    except ValueError:
        return False


def _terminal_width() -> int:
    """The width rich gives a terminal console: the first standard stream's, else 80."""
    for descriptor in (0, 1, 2):
        try:
            return os.get_terminal_size(descriptor).columns or 80
        except (AttributeError, ValueError, OSError):
            continue
    return 80


def _plainly_not_terminal(file: IO[str]) -> bool:
    """True when rich would certainly not treat `file` as a terminal: it then writes text
    unstyled, unwrapped, as given, which `Printer` can do without importing rich."""
    if any(name in os.environ for name in _RICH_TERMINAL_VARIABLES):
        return False
    if "IPython" in sys.modules or getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return False  # rich's own exceptions: let it decide
    isatty = getattr(file, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:
        return False


def _json_default(value: object) -> object:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def to_json(data: Any, *, indent: int | None = 2, allow_nan: bool = True) -> str:
    """JSON for stdout: readable non-ASCII, but no raw C1, U+2028/9 or lone surrogate."""
    return json_text(data, indent=indent, default=_json_default, allow_nan=allow_nan)


def styled(*parts: Part) -> Text:
    """One line from pieces, each made visible (`untrusted.visible`) and optionally styled."""
    from rich.text import Text

    text = Text()
    for part in parts:
        if isinstance(part, str):
            text.append(visible(mask_url(part)))
        else:
            text.append(visible(mask_url(part[0])), style=part[1])
    return text


class Printer:
    """Writes data to stdout and messages to stderr, in the chosen format."""

    def __init__(
        self,
        *,
        output: str = "table",
        no_color: bool = False,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.output = output
        self.no_color = no_color or bool(os.environ.get("NO_COLOR"))
        self._stdout = stdout
        self._stderr = stderr

    @property
    def json(self) -> bool:
        return self.output == "json"

    def _console(self, file: IO[str]) -> Console:
        from rich.console import Console

        on_terminal = file.isatty()
        return Console(
            file=file,
            no_color=self.no_color,
            highlight=False,
            markup=False,  # styling is ours, through Text; nothing from outside is markup
            emoji=False,  # nor an emoji code
            # Piped output is read by programs: never wrap or truncate it.
            soft_wrap=not on_terminal,
            width=None if on_terminal else 10_000,
        )

    @cached_property
    def _out_file(self) -> IO[str]:
        return self._stdout or sys.stdout

    @cached_property
    def _err_file(self) -> IO[str]:
        return self._stderr or sys.stderr

    @cached_property
    def _out_plain(self) -> bool:
        return _plainly_not_terminal(self._out_file)

    @cached_property
    def _err_plain(self) -> bool:
        return _plainly_not_terminal(self._err_file)

    @cached_property
    def out(self) -> Console:
        return self._console(self._out_file)

    @cached_property
    def out_glyphs(self) -> Glyphs:
        """The symbols stdout's encoding can carry (glyphs.py)."""
        return glyphs_for(self._out_file)

    @cached_property
    def err_glyphs(self) -> Glyphs:
        return glyphs_for(self._err_file)

    @cached_property
    def err(self) -> Console:
        return self._console(self._err_file)

    def _write_plain(self, file: IO[str], text: str) -> None:
        file.write(text + "\n")
        file.flush()

    def _out_line(self, text: str) -> None:
        """One line (a text that may hold line feeds) on stdout, as rich would print it."""
        if self._out_plain and len(text) <= _PLAIN_LIMIT:
            self._write_plain(self._out_file, text)
        else:
            self.out.print(_as_text(text))

    def _err_line(self, message: str, label: tuple[str, str] | None = None) -> None:
        """A message on stderr: `label` styled on a terminal, plain text off one."""
        text = visible_lines(message)
        if self._err_plain and len(text) <= _PLAIN_LIMIT:
            self._write_plain(self._err_file, (label[0] if label else "") + text)
        else:
            self.err.print(_block(message, label))

    # --- data on stdout ---
    def data(self, data: Any, human: Callable[[], None] | None = None) -> None:
        """Print `data` as JSON, or call `human` to render it for people."""
        if self.json or human is None:
            self._write_plain(self._out_file, mask_url(to_json(data)))
        else:
            human()

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        title: str | None = None,
        whole: Collection[str] | None = None,
    ) -> None:
        """Rows under column headers. Columns named in `whole` (by default ids and URLs, see
        `tables.WHOLE_COLUMNS`) are never folded or cut; see `tables` for the layout rules."""
        from apimw_cli.output import tables

        cells = [[_cell(cell) for cell in row] for row in rows]
        if self._out_plain:
            self._plain_table(self._out_file, columns, cells)
            return
        header = [visible(column) for column in columns]
        keep = [tables.is_whole(column, whole) for column in columns]
        if title is None and _plainly_terminal(self._out_file):
            # rich's table on a colour terminal, its bytes made here (rich is not imported).
            widths = _fit(_terminal_width(), header, cells, keep)
            lines = None if widths is None else tables.terminal_lines(header, cells, keep, widths)
            if lines is not None:
                self._out_file.write("".join(line + "\n" for line in lines))
                self._out_file.flush()
                return
        if not self.out.is_terminal:
            self._plain_table(self.out.file, columns, cells)
            return
        widths = _fit(self.out.width, header, cells, keep)
        if widths is None:
            self._records(header, cells, title)
        else:
            self._terminal_table(header, cells, keep, widths, title)

    @staticmethod
    def _plain_table(file: IO[str], columns: Sequence[str], cells: list[list[str]]) -> None:
        """Off a terminal: aligned columns (see `tables.plain_lines`)."""
        from apimw_cli.output import tables

        # Headers are shown as text too: a caller may build them from data.
        header = [visible(column.upper()) for column in columns]
        for text in tables.plain_lines(header, cells):
            file.write(text + "\n")
        file.flush()

    def _terminal_table(
        self,
        header: Sequence[str],
        cells: Sequence[Sequence[str]],
        keep: Sequence[bool],
        widths: Sequence[int],
        title: str | None,
    ) -> None:
        from rich import box
        from rich.table import Table

        table = Table(
            title=visible(title) if title else None,
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            header_style="bold",
        )
        for name, whole, width in zip(header, keep, widths, strict=True):
            table.add_column(
                name, width=width, no_wrap=True, overflow="ignore" if whole else "ellipsis"
            )
        for row in cells:
            table.add_row(*row)
        # rich pads every line to the table's width; the padding goes (it is only noise when
        # the table is copied).
        from rich.segment import Segment, Segments

        for line in self.out.render_lines(table, pad=False, new_lines=False):
            self.out.print(Segments([*_rstrip(line), Segment.line()]), soft_wrap=True)

    def _records(
        self, header: Sequence[str], cells: Sequence[Sequence[str]], title: str | None
    ) -> None:
        """Rows too wide for the terminal, as one `name  value` block each."""
        from apimw_cli.output import tables

        if title:
            self.out.print(styled((title, "bold")))
        for number, row in enumerate(cells):
            if number:
                self.out.print()
            for name, value in tables.record_lines(header, row):
                self._pair(name, value)

    def fields(self, pairs: Mapping[str, Any], *, title: str | None = None) -> None:
        """A block of `name  value` lines, for one object. Values are never folded (a terminal
        wraps a long one; copying it still gives one piece) and no line ends in spaces."""
        from apimw_cli.output import tables

        if title and (self._out_plain or not self.out.is_terminal):
            self._out_line(visible(mask_url(title)))
        elif title:
            self.out.print(styled((title, "bold")))
        names = [_cell(name) for name in pairs]
        values = [_cell(value) for value in pairs.values()]
        for name, value in tables.record_lines(names, values):
            self._pair(name, value)

    def _pair(self, name: str, value: str) -> None:
        value = value.rstrip()
        name = name if value else name.rstrip()
        if self._out_plain and len(name) + len(value) <= _PLAIN_LIMIT:
            self._write_plain(self._out_file, f"{name}  {value}" if value else name)
            return
        from rich.text import Text

        text = Text()
        text.append(name, style="bold" if self.out.is_terminal else "")
        if value:
            text.append(f"  {value}")
        self.out.print(text, soft_wrap=True)

    def line(self, text: str = "") -> None:
        """A plain line of data on stdout (controls escaped, line feeds kept, URLs' passwords
        masked)."""
        self._out_line(visible_lines(mask_url(text)))

    # --- messages on stderr ---
    # Messages are redacted (masking.redact): no secret reaches stderr in full.
    def info(self, message: str) -> None:
        self._err_line(redact(message))

    def success(self, message: str) -> None:
        self._err_line(redact(message), (f"{self.err_glyphs.check} ", "green"))

    def warn(self, message: str) -> None:
        self._err_line(redact(message), ("warning: ", "yellow"))

    def error(self, message: str, hint: str | None = None) -> None:
        self._err_line(redact(message), ("error: ", "bold red"))
        if hint:
            self._err_line(redact(hint), ("hint: ", "cyan"))


def _cell(value: object) -> str:
    """A cell's text: visible, URLs' passwords masked (rich's Text would keep it as it is:
    `visible` leaves none of the control characters Text strips)."""
    return "" if value is None else visible(mask_url(str(value)))


def _as_text(text: str) -> Text:
    from rich.text import Text

    return Text(text)


def _rstrip(line: list[Segment]) -> list[Segment]:
    """A rendered line without the spaces at its end."""
    from rich.segment import Segment

    kept = list(line)
    while kept and not kept[-1].control and not kept[-1].text.rstrip():
        kept.pop()
    if kept and not kept[-1].control:
        last = kept[-1]
        kept[-1] = Segment(last.text.rstrip(), last.style, last.control)
    return kept


def _fit(
    width: int, header: Sequence[str], cells: Sequence[Sequence[str]], keep: Sequence[bool]
) -> list[int] | None:
    """Column widths for a terminal `width` cells wide, or None: show records instead."""
    from apimw_cli.output import tables

    cell_len = tables.cell_len
    natural = [
        max([cell_len(name), *(cell_len(row[i]) for row in cells)]) for i, name in enumerate(header)
    ]
    minimum = [tables.MIN_CUT_WIDTH] * len(header)
    room = width - tables.TERMINAL_GAP * (len(header) - 1)
    return tables.fit_widths(natural, keep, minimum, room)


def _block(message: str, label: tuple[str, str] | None = None) -> Text:
    """A message that may span lines (ours do; a line feed from outside is one too)."""
    from rich.text import Text

    text = Text()
    if label is not None:
        text.append(label[0], style=label[1])
    text.append(visible_lines(message))
    return text
