"""The one place that writes to the terminal.

stdout carries data, stderr everything else. Tables are rich tables on a terminal and plain
aligned columns when piped; `json` prints exactly the data, so `jq` works.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def _json_default(value: object) -> object:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def to_json(data: Any, *, indent: int | None = 2) -> str:
    return json.dumps(data, indent=indent, default=_json_default, ensure_ascii=False)


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
            self.out.file.write(to_json(data) + "\n")
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
            title=title if on_terminal else None,
            box=box.SIMPLE_HEAD if on_terminal else None,
            show_edge=False,
            pad_edge=False,
            header_style="bold" if on_terminal else "",
        )
        for column in columns:
            table.add_column(column.upper() if not on_terminal else column, overflow="fold")
        for row in rows:
            # Cells hold data (URLs, errors, user text): never rich markup.
            table.add_row(*("" if cell is None else _escape(str(cell)) for cell in row))
        self.out.print(table)

    def fields(self, pairs: Mapping[str, Any], *, title: str | None = None) -> None:
        """A block of `name  value` lines, for one object."""
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold" if self.out.is_terminal else "")
        table.add_column(overflow="fold")
        for name, value in pairs.items():
            table.add_row(_escape(name), "" if value is None else _escape(str(value)))
        if title:
            self.out.print(f"[bold]{title}[/bold]" if self.out.is_terminal else title)
        self.out.print(table)

    def line(self, text: str = "") -> None:
        """A plain line of data on stdout (no markup interpretation)."""
        self.out.print(text, markup=False)

    # --- messages on stderr ---
    def info(self, message: str) -> None:
        self.err.print(message, markup=False)

    def success(self, message: str) -> None:
        self.err.print(f"[green]✓[/green] {_escape(message)}")

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {_escape(message)}")

    def error(self, message: str, hint: str | None = None) -> None:
        self.err.print(f"[bold red]error:[/bold red] {_escape(message)}")
        if hint:
            self.err.print(f"[cyan]hint:[/cyan] {_escape(hint)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
