"""The sandbox's live log: one line per API request, event, delivery attempt and verification."""

from __future__ import annotations

import time
from typing import Any

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


class SandboxLog:
    """Renders the sandbox's (kind, fields) records: rich lines, or NDJSON with --output json."""

    def __init__(self, printer: Printer, *, requests: bool = True) -> None:
        self.printer = printer
        self.requests = requests
        self._hinted = False  # said once how to get a webhook subscribed

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        if kind == "request" and not self.requests:
            return
        if self.printer.json:
            record = {"schema": 1, "record": kind, "time": round(time.time(), 3), **fields}
            self.printer.out.file.write(to_json(record, indent=None) + "\n")
            self.printer.out.file.flush()
            return
        stamp = time.strftime("%H:%M:%S")
        line = getattr(self, f"_{kind}", None)
        if line is not None:
            # Each piece is shown as text (URLs and errors come from outside), never markup.
            for parts in line(fields):
                self.printer.out.print(styled((stamp, "dim"), "  ", *parts))
                stamp = " " * len(stamp)

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
            [(str(f["event_type"]), "bold"), f" {_short(f['event_id'])} → {to}"]
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
                    ("✓", "green"),
                    f" {f['event_type']} → {where} ",
                    ("200", "green"),
                    (f" {f['duration_ms']}ms {attempt}", "dim"),
                ]
            ]
        line: list[Part] = [
            "  ",
            ("✗", "red"),
            f" {f['event_type']} → {where} ",
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
            return [["  ", ("✓", "green"), f" verification challenge answered by {f['url']}"]]
        return [["  ", ("!", "yellow"), f" verification failed for {f['url']}: {f['error']}"]]

    def _error(self, f: dict[str, Any]) -> list[list[Part]]:
        """A fault in the sandbox's own machinery (its delivery worker, say): it carries on."""
        where = f.get("where") or "sandbox"
        return [["  ", ("✗", "red"), f" {where}: {f.get('error')} (the sandbox carries on)"]]
