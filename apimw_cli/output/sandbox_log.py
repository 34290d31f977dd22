"""The sandbox's live log: one line per API request, event, delivery attempt and verification.

What nobody will see costs nothing: on the null device (`apimw sandbox > /dev/null`, a service
with its output discarded) no line is built (`wants` says so, and the delivery worker asks it
before it gathers a record). Where a line is shown it is built as a string (`lines.Painter`:
the codes rich would write, asked once per style) and written at once, not rendered by rich
each time: the same text and styles, at a small part of the cost. Piped or in a file it is byte
for byte what rich wrote; on a terminal a line longer than the width is left for the terminal
to wrap, where rich folded it at a space (the live view does the same).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from typing import IO, Any

from apimw_cli.output.lines import Painter
from apimw_cli.output.printer import Part, Printer, styled, to_json


def _short(identifier: str) -> str:
    prefix, _, rest = identifier.partition("_")
    return f"{prefix}_{rest[:8]}" if rest else identifier


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.1f}s"


def is_null_device(file: IO[str]) -> bool:
    """Whether `file` writes to the null device (/dev/null), where no one can read a line.
    A terminal, a pipe or a file is read (now or later); anything we cannot tell counts as read.
    """
    with contextlib.suppress(Exception):  # no fileno (a StringIO), closed, no os.devnull: shown
        written = os.fstat(file.fileno())
        null = os.stat(os.devnull)
        return (
            stat.S_ISCHR(written.st_mode)
            and stat.S_ISCHR(null.st_mode)
            and written.st_rdev == null.st_rdev
        )
    return False


class SandboxLog:
    """Renders the sandbox's (kind, fields) records: rich lines, or NDJSON with --output json."""

    def __init__(self, printer: Printer, *, requests: bool = True) -> None:
        self.printer = printer
        self.requests = requests
        self._hinted = False  # said once how to get a webhook subscribed
        console = printer.out
        self._file = console.file
        self._g = printer.out_glyphs  # arrows and ticks stdout's encoding can carry
        # Decided once: where stdout goes does not change while the sandbox runs.
        self.shown = not is_null_device(self._file)
        # Lines as strings, rich's codes included; a notebook's console renders HTML instead.
        self._painter = None if console.is_jupyter else Painter(console)
        # Records come from two threads (API requests, deliveries): one line at a time.
        self._lock = threading.Lock()

    def wants(self, kind: str) -> bool:
        """Whether a record of `kind` would be shown: callers skip gathering it otherwise."""
        return self.shown and (kind != "request" or self.requests)

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        if not self.wants(kind):
            return
        if self.printer.json:
            record = {"schema": 1, "record": kind, "time": round(time.time(), 3), **fields}
            text = to_json(record, indent=None) + "\n"
            with self._lock:
                self._file.write(text)
                self._file.flush()
            return
        line = getattr(self, f"_{kind}", None)
        if line is None:
            return
        stamp = time.strftime("%H:%M:%S")
        # Each piece is shown as text (URLs and errors come from outside), never markup.
        lines: list[list[Part]] = line(fields)
        if self._painter is None:
            for parts in lines:
                self.printer.out.print(styled((stamp, "dim"), "  ", *parts))
                stamp = " " * len(stamp)
            return
        built = []
        for parts in lines:
            built.append(self._painter.line((stamp, "dim"), "  ", *parts))
            stamp = " " * len(stamp)
        with self._lock:
            self._file.write("".join(built))
            self._file.flush()

    def _request(self, f: dict[str, Any]) -> list[list[Part]]:
        colour = "green" if f["status"] < 400 else "yellow" if f["status"] < 500 else "red"
        return [
            [
                (f"{f['method']:6} {f['path']}", "dim"),
                " ",
                (str(f["status"]), colour),
                " ",
                (f"{f['ms']:.0f}ms", "dim"),
            ]
        ]

    def _event(self, f: dict[str, Any]) -> list[list[Part]]:
        to = f"{f['webhooks']} webhook{'s' if f['webhooks'] != 1 else ''}"
        lines: list[list[Part]] = [
            [(str(f["event_type"]), "bold"), f" {_short(f['event_id'])} {self._g.arrow} {to}"]
        ]
        if f["webhooks"] == 0 and not self._hinted:
            self._hinted = True
            lines.append(
                [
                    (
                        "no webhook is subscribed yet: try `apimw --sandbox webhooks register "
                        "--url http://localhost:3000/hooks --events all`",
                        "dim",
                    )
                ]
            )
        return lines

    def _delivery(self, f: dict[str, Any]) -> list[list[Part]]:
        where = f"{_short(f['webhook_id'])} {f['url']}"
        attempt = f"attempt {f['attempt']}/5"
        if f["error"] is None:
            return [
                [
                    "  ",
                    (self._g.check, "green"),
                    f" {f['event_type']} {self._g.arrow} {where} ",
                    ("200", "green"),
                    (f" {f['duration_ms']}ms {attempt}", "dim"),
                ]
            ]
        line: list[Part] = [
            "  ",
            (self._g.cross, "red"),
            f" {f['event_type']} {self._g.arrow} {where} ",
            (str(f["error"]), "red"),
            (f" {attempt}", "dim"),
        ]
        if f.get("next_retry_in") is not None:
            line.append((f" retry in {_duration(f['next_retry_in'])}", "dim"))
        lines = [line]
        if f.get("disabled_reason"):
            lines.append(
                [
                    "   ",
                    (f"webhook {_short(f['webhook_id'])} disabled", "bold red"),
                    f": {f['disabled_reason']}",
                ]
            )
        return lines

    def _verification(self, f: dict[str, Any]) -> list[list[Part]]:
        if f["error"] is None:
            answered = f" verification challenge answered by {f['url']}"
            return [["  ", (self._g.check, "green"), answered]]
        return [["  ", ("!", "yellow"), f" verification failed for {f['url']}: {f['error']}"]]

    def _error(self, f: dict[str, Any]) -> list[list[Part]]:
        """A fault in the sandbox's own machinery (its delivery worker, say): it carries on."""
        where = f.get("where") or "sandbox"
        error = f" {where}: {f.get('error')} (the sandbox carries on)"
        return [["  ", (self._g.cross, "red"), error]]
