"""The sandbox's live log: one line per API request, event, delivery attempt and verification."""

from __future__ import annotations

import time
from typing import Any

from apimw_cli.output.printer import Printer, to_json


def _e(text: object) -> str:
    """Escape what came from outside (URLs, error texts) so rich does not read it as markup."""
    from rich.markup import escape

    return escape(str(text))


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
            self.printer.out.print(f"[dim]{stamp}[/dim]  {line(fields)}", highlight=False)

    def _request(self, f: dict[str, Any]) -> str:
        colour = "green" if f["status"] < 400 else "yellow" if f["status"] < 500 else "red"
        request = f"[dim]{f['method']:6} {_e(f['path'])}[/dim]"
        return f"{request} [{colour}]{f['status']}[/{colour}] [dim]{f['ms']:.0f}ms[/dim]"

    def _event(self, f: dict[str, Any]) -> str:
        to = f"{f['webhooks']} webhook{'s' if f['webhooks'] != 1 else ''}"
        line = f"[bold]{f['event_type']}[/bold] {_short(f['event_id'])} → {to}"
        if f["webhooks"] == 0 and not self._hinted:
            self._hinted = True
            line += (
                "\n          [dim]no webhook is subscribed yet: try "
                "`apimw --sandbox webhooks register --url http://localhost:3000/hooks --events all`"
                "[/dim]"
            )
        return line

    def _delivery(self, f: dict[str, Any]) -> str:
        where = f"{_short(f['webhook_id'])} {_e(f['url'])}"
        attempt = f"attempt {f['attempt']}/5"
        if f["error"] is None:
            return (
                f"  [green]✓[/green] {f['event_type']} → {where} [green]200[/green] "
                f"[dim]{f['duration_ms']}ms {attempt}[/dim]"
            )
        error = f"[red]{_e(f['error'])}[/red]"
        text = f"  [red]✗[/red] {f['event_type']} → {where} {error} [dim]{attempt}[/dim]"
        if f.get("next_retry_in") is not None:
            text += f" [dim]retry in {_duration(f['next_retry_in'])}[/dim]"
        if f.get("disabled_reason"):
            disabled = f"[bold red]webhook {_short(f['webhook_id'])} disabled[/bold red]"
            text += f"\n           {disabled}: {_e(f['disabled_reason'])}"
        return text

    def _verification(self, f: dict[str, Any]) -> str:
        if f["error"] is None:
            return f"  [green]✓[/green] verification challenge answered by {_e(f['url'])}"
        return f"  [yellow]![/yellow] verification failed for {_e(f['url'])}: {_e(f['error'])}"
