"""Table layout: which width each column gets, and when a table becomes a list of records.

Ids and URLs are copied by people and by scripts, so they are never folded or cut: their columns
keep their full width. The other columns give way first (cut with an ellipsis, down to a few
characters), and when even that does not fit the terminal the rows are shown as records, one
`name  value` block each. Piped output is not laid out for a width at all: one row per line,
columns aligned and separated by two spaces, nothing cut, no trailing spaces.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

# Column names whose values people copy: ids, URLs, event types, names (any case; `*_id` too).
WHOLE_COLUMNS = frozenset({"id", "url", "type", "target", "session", "name", "setting", "check"})
# Space rich puts between two columns of our terminal tables (padding, divider, padding).
TERMINAL_GAP = 3
PIPE_GAP = "  "
# A column cut with an ellipsis keeps at least this many cells (its header is cut too).
MIN_CUT_WIDTH = 6


def cell_len(text: str) -> int:
    """How many terminal cells `text` takes, as rich counts them: printable ASCII without
    importing rich (a piped table of ids and URLs needs nothing more, #17)."""
    if text.isascii() and text.isprintable():
        return len(text)
    from rich.cells import cell_len as rich_cell_len

    return rich_cell_len(text)


def is_whole(column: str, whole: Collection[str] | None = None) -> bool:
    """True if the column's cells must never be folded or cut (ids, URLs)."""
    name = column.lower()
    names = WHOLE_COLUMNS if whole is None else {w.lower() for w in whole}
    return name in names or (whole is None and name.endswith("_id"))


def fit_widths(
    natural: Sequence[int], whole: Sequence[bool], minimum: Sequence[int], room: int
) -> list[int] | None:
    """Width of each column in `room` cells (gaps excluded), or None when the table cannot fit.

    Whole columns keep their natural width; the others share what is left, none below its
    minimum, the narrowest needs met first so that room is not wasted on them.
    """
    if sum(natural) <= room:
        return list(natural)
    widths = [n if w else min(n, m) for n, w, m in zip(natural, whole, minimum, strict=True)]
    spare = room - sum(widths)
    if spare < 0:
        return None
    growing = sorted(
        (i for i in range(len(widths)) if widths[i] < natural[i]), key=natural.__getitem__
    )
    for position, index in enumerate(growing):
        share = spare // (len(growing) - position)
        give = min(share, natural[index] - widths[index])
        widths[index] += give
        spare -= give
    return widths


def plain_lines(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as aligned plain text for a pipe: the last column unpadded, no trailing spaces."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(cell_len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for row in table:
        padded = [
            cell + " " * (width - cell_len(cell)) for cell, width in zip(row, widths, strict=True)
        ]
        lines.append(PIPE_GAP.join(padded).rstrip())
    return lines


def record_lines(header: Sequence[str], row: Sequence[str]) -> list[tuple[str, str]]:
    """One row as `name  value` pairs, the names padded to the longest (values as they are)."""
    width = max((cell_len(name) for name in header), default=0)
    return [
        (name + " " * (width - cell_len(name)), value)
        for name, value in zip(header, row, strict=True)
    ]


# What rich writes around a bold segment on any terminal that has colours (not TERM=dumb).
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"


def terminal_lines(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    whole: Sequence[bool],
    widths: Sequence[int],
) -> list[str] | None:
    """The lines rich renders for our terminal table (box SIMPLE_HEAD, no edge, no edge
    padding, bold headers, one line per row, cells cut with an ellipsis to `widths`), with
    the trailing spaces dropped as printer.py drops them: the same bytes, without importing
    rich (#17). None when a cell is not printable ASCII (rich measures and cuts that one), or
    for a column with no width (rich widens it)."""
    if not widths or min(widths) < 1:
        return None
    if not all(_plain_ascii(text) for text in header) or not all(
        _plain_ascii(text) for row in rows for text in row
    ):
        return None
    last = len(widths) - 1
    lines = [_row_line(header, whole, widths, bold=True)]
    pads = [(i > 0) + (i < last) for i in range(len(widths))]
    lines.append("─".join("─" * (width + pad) for width, pad in zip(widths, pads, strict=True)))
    lines.extend(_row_line(row, whole, widths, bold=False) for row in rows)
    return lines


def _plain_ascii(text: str) -> bool:
    return text.isascii() and (text.isprintable() or not text)


def _row_line(
    cells: Sequence[str], whole: Sequence[bool], widths: Sequence[int], *, bold: bool
) -> str:
    """One row as rich's segments: [left pad] text [padding] [right pad], cells divided by a
    plain space; whitespace-only segments at the end dropped, the last one stripped. A cut
    column's text is padded in its own segment (rich pads the Text), a whole column's apart."""
    segments: list[tuple[str, bool]] = []
    last = len(widths) - 1
    for i, (text, keep, width) in enumerate(zip(cells, whole, widths, strict=True)):
        if i > 0:
            segments += [(" ", False), (" ", bold)]
        if len(text) > width:
            text = text[: width - 1] + "…"
        if not keep:
            text = text.ljust(width)
        segments.append((text, bold))
        if len(text) < width:
            segments.append((" " * (width - len(text)), bold))
        if i < last:
            segments.append((" ", bold))
    while segments and not segments[-1][0].rstrip():
        segments.pop()
    if segments:
        segments[-1] = (segments[-1][0].rstrip(), segments[-1][1])
    return "".join(f"{_BOLD}{text}{_RESET}" if bold and text else text for text, bold in segments)
