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
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

from apimw_cli.output.masking import mask_url, redact
from apimw_cli.output.untrusted import json_text, visible, visible_lines

if TYPE_CHECKING:
    from rich.console import Console
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
    ) -> None:
        from rich import box
        from rich.table import Table

        on_terminal = self.out.is_terminal
        table = Table(
            title=visible(title) if on_terminal and title else None,
            box=box.SIMPLE_HEAD if on_terminal else None,
            show_edge=False,
            pad_edge=False,
            header_style="bold" if on_terminal else "",
        )
        for column in columns:
            # Titles and headers are shown as text too: a caller may build them from data.
            header = column if on_terminal else column.upper()
            table.add_column(visible(header), overflow="fold")
        for row in rows:
            # Cells hold data (URLs, errors, user text): shown as text, controls escaped.
            table.add_row(*(_cell(cell) for cell in row))
        self.out.print(table)

    def fields(self, pairs: Mapping[str, Any], *, title: str | None = None) -> None:
        """A block of `name  value` lines, for one object."""
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold" if self.out.is_terminal else "")
        table.add_column(overflow="fold")
        for name, value in pairs.items():
            table.add_row(_cell(name), _cell(value))
        if title:
            self.out.print(styled((title, "bold")) if self.out.is_terminal else styled(title))
        self.out.print(table)

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


def _block(message: str, label: tuple[str, str] | None = None) -> Text:
    """A message that may span lines (ours do; a line feed from outside is one too)."""
    from rich.text import Text

    text = Text()
    if label is not None:
        text.append(label[0], style=label[1])
    text.append(visible_lines(message))
    return text
