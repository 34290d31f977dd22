"""Styled lines built as plain strings, for output that must keep up with thousands of lines a
second (the live view): rich is asked once per style for the codes it would write around text
in that style on this console, and each line is then a join of strings.

The codes follow the console's own colour decision (not a terminal, NO_COLOR, --no-color,
TERM=dumb: none or no colours; FORCE_COLOR: colours), as rich's `print` would. What goes
between them is made safe as `printer.styled` makes it: URL passwords masked, control
characters as visible escapes. A long line is left for the terminal to wrap (rich would fold
it at its idea of the width): the text is the same, and copying it gives one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apimw_cli.output.masking import mask_url
from apimw_cli.output.untrusted import visible, visible_lines

if TYPE_CHECKING:
    from rich.console import Console

    from apimw_cli.output.printer import Part

__all__ = ["Painter", "block_text"]

_MARK = "X"  # no SGR code holds it


class Painter:
    """Builds one console's styled lines: `line(*parts)` is the text rich would print for
    `styled(*parts)` (before any wrapping), as a string ending in a line feed."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._codes: dict[str, tuple[str, str]] = {}

    def codes(self, style: str) -> tuple[str, str]:
        """What rich writes before and after text in `style` on this console."""
        known = self._codes.get(style)
        if known is not None:
            return known
        from rich.text import Text

        with self._console.capture() as captured:
            self._console.print(Text(_MARK, style=style), end="", soft_wrap=True)
        before, _, after = captured.get().partition(_MARK)
        self._codes[style] = (before, after)
        return before, after

    def line(self, *parts: Part) -> str:
        pieces: list[str] = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(visible(mask_url(part)))
                continue
            text, style = part
            if text:  # rich writes nothing for an empty piece, not even its style
                before, after = self.codes(style)
                pieces.append(before + visible(mask_url(text)) + after)
        pieces.append("\n")
        return "".join(pieces)


def block_text(text: str) -> str:
    """`text` as `Printer.line` prints it, unstyled: lines of its own kept, controls escaped,
    URL passwords masked; ends in a line feed."""
    return visible_lines(mask_url(text)) + "\n"
