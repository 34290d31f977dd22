"""The one place that writes to the terminal.

stdout carries data, stderr everything else. Tables are rich tables on a terminal and plain
aligned columns when piped; `json` prints exactly the data, so `jq` works.

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

from apimw_cli.output.masking import mask_url, redact
from apimw_cli.output.untrusted import json_text, visible, visible_lines

if TYPE_CHECKING:
    from rich.console import Console
    from rich.segment import Segment
    from rich.text import Text

# A piece of a styled line: plain text, or (text, rich style).
Part = str | tuple[str, str]


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
    def out(self) -> Console:
        return self._console(self._stdout or sys.stdout)

    @cached_property
    def err(self) -> Console:
        return self._console(self._stderr or sys.stderr)

    # --- data on stdout ---
    def data(self, data: Any, human: Callable[[], None] | None = None) -> None:
        """Print `data` as JSON, or call `human` to render it for people."""
        if self.json or human is None:
            self.out.file.write(mask_url(to_json(data)) + "\n")
            self.out.file.flush()
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

        cells = [[_cell(cell).plain for cell in row] for row in rows]
        if not self.out.is_terminal:
            # Headers are shown as text too: a caller may build them from data.
            header = [visible(column.upper()) for column in columns]
            for text in tables.plain_lines(header, cells):
                self.out.file.write(text + "\n")
            self.out.file.flush()
            return
        header = [visible(column) for column in columns]
        keep = [tables.is_whole(column, whole) for column in columns]
        widths = _fit(self.out.width, header, cells, keep)
        if widths is None:
            self._records(header, cells, title)
        else:
            self._terminal_table(header, cells, keep, widths, title)

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

        on_terminal = self.out.is_terminal
        if title:
            self.out.print(styled((title, "bold")) if on_terminal else styled(title))
        names = [_cell(name).plain for name in pairs]
        values = [_cell(value).plain for value in pairs.values()]
        for name, value in tables.record_lines(names, values):
            self._pair(name, value)

    def _pair(self, name: str, value: str) -> None:
        from rich.text import Text

        text = Text()
        value = value.rstrip()
        text.append(name if value else name.rstrip(), style="bold" if self.out.is_terminal else "")
        if value:
            text.append(f"  {value}")
        self.out.print(text, soft_wrap=True)

    def line(self, text: str = "") -> None:
        """A plain line of data on stdout (controls escaped, line feeds kept, URLs' passwords
        masked)."""
        self.out.print(_block(mask_url(text)))

    # --- messages on stderr ---
    # Messages are redacted (masking.redact): no secret reaches stderr in full.
    def info(self, message: str) -> None:
        self.err.print(_block(redact(message)))

    def success(self, message: str) -> None:
        self.err.print(_block(redact(message), ("✓ ", "green")))

    def warn(self, message: str) -> None:
        self.err.print(_block(redact(message), ("warning: ", "yellow")))

    def error(self, message: str, hint: str | None = None) -> None:
        self.err.print(_block(redact(message), ("error: ", "bold red")))
        if hint:
            self.err.print(_block(redact(hint), ("hint: ", "cyan")))


def _cell(value: object) -> Text:
    from rich.text import Text

    return Text("" if value is None else visible(mask_url(str(value))))


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
    from rich.cells import cell_len

    from apimw_cli.output import tables

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
