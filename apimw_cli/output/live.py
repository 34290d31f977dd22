"""The live view of `apimw listen`: a header, one line per event and forward, a summary.

Renders the receiver's records (apimw_cli.receiver.events) for people (rich) or for programs
(NDJSON, one schema-versioned record a line, flushed per line).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apimw_cli.models import Forwarded, Received, Verdict, VerdictCode
from apimw_cli.output.masking import mask
from apimw_cli.output.printer import Printer, to_json

SCHEMA = 1


def _e(text: object) -> str:
    from rich.markup import escape

    return escape(str(text))


def summarize_payload(event_type: str | None, body: bytes) -> str:
    """A few words from the payload: who, what, which error."""
    try:
        event = json.loads(body)
    except ValueError:
        return ""
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(data, dict):
        return ""
    if event_type == "message.received":
        text = str(data.get("text", ""))
        text = text if len(text) <= 40 else text[:39] + "…"
        return f'from {data.get("from", "?")} "{text}"'
    if event_type == "message.failed":
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        assert isinstance(error, dict)
        return (
            f"to {data.get('to', '?')} {error.get('code', '')} {error.get('message', '')}".strip()
        )
    if event_type and event_type.startswith("message."):
        return f"to {data.get('to', '?')}"
    if event_type and event_type.startswith("quota."):
        return f"{data.get('used', '?')}/{data.get('limit', '?')} {data.get('quota', '')}".strip()
    if event_type and event_type.startswith("account."):
        return str(data.get("phone_number", ""))
    return ""


@dataclass
class Tally:
    """What the summary reports, and what `--expect` checks."""

    by_type: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    duplicates: int = 0
    filtered: int = 0
    challenges: int = 0
    forwarded: int = 0
    forward_failures: int = 0

    def add(self, record: Received | Forwarded) -> None:
        if isinstance(record, Forwarded):
            ok = record.error is None and record.status is not None and record.status < 400
            if ok:
                self.forwarded += 1
            else:
                self.forward_failures += 1
            return
        if record.kind == "challenge":
            self.challenges += 1
        elif record.kind == "invalid":
            self.invalid += 1
        elif record.kind == "event":
            if record.duplicate:
                self.duplicates += 1
            elif record.filtered:
                self.filtered += 1
            else:
                self.by_type[record.event_type or "?"] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": dict(self.by_type),
            "total": sum(self.by_type.values()),
            "invalid_signatures": self.invalid,
            "duplicates": self.duplicates,
            "filtered": self.filtered,
            "challenges": self.challenges,
            "forwarded": self.forwarded,
            "forward_failures": self.forward_failures,
        }


def verdict_dict(verdict: Verdict | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {
        "code": str(verdict.code),
        "valid": verdict.valid,
        "reason": verdict.reason,
        "diagnosis": verdict.diagnosis,
        "matched_secret": verdict.matched_secret,
    }


class LiveView:
    """Pretty lines on a terminal, or NDJSON with `--format ndjson`."""

    def __init__(self, printer: Printer, *, ndjson: bool, verbose: bool = False) -> None:
        self.printer = printer
        self.ndjson = ndjson
        self.verbose = verbose

    # --- NDJSON ---
    def _emit(self, record: str, **fields: Any) -> None:
        line = to_json(
            {"schema": SCHEMA, "record": record, "time": round(time.time(), 3), **fields},
            indent=None,
        )
        self.printer.out.file.write(line + "\n")
        self.printer.out.file.flush()

    # --- header ---
    def ready(
        self,
        *,
        receive_url: str,
        public_url: str | None,
        forward_to: Sequence[str],
        webhook_id: str | None,
        secret: str | None,
        verifying: bool,
        api: str | None,
    ) -> None:
        if self.ndjson:
            self._emit(
                "ready",
                receive_url=receive_url,
                public_url=public_url,
                forward_to=list(forward_to),
                webhook_id=webhook_id,
                verifying=verifying,
                api=api,
            )
            return
        fields: dict[str, Any] = {"receiving": receive_url}
        if public_url and public_url != receive_url:
            fields["public URL"] = public_url
        fields["forwarding"] = (
            ", ".join(forward_to) if forward_to else "(nowhere: add --forward-to URL)"
        )
        if webhook_id:
            fields["webhook"] = f"{webhook_id} on {api}" if api else webhook_id
        if secret:
            fields["secret"] = mask(secret)
        self.printer.fields(fields, title="apimw listen")
        if not verifying:
            self.printer.warn(
                "--skip-verify: signatures are NOT checked; forged events get through"
            )
        self.printer.info("Ready. Ctrl-C to stop.")

    def tunnel(self, state: str, message: str, **fields: Any) -> None:
        """Tunnel news (down, restarted, failed): an NDJSON `tunnel` record, or a line."""
        if self.ndjson:
            self._emit("tunnel", state=state, message=message, **fields)
        elif state == "restarted":
            self.printer.success(message)
        else:
            self.printer.warn(message)

    def note(self, message: str, **fields: Any) -> None:
        """Lifecycle news (registered, verified, cleaned up)."""
        if self.ndjson:
            self._emit("note", message=message, **fields)
        else:
            self.printer.info(message)

    # --- per record ---
    def show(self, record: Received | Forwarded) -> None:
        if isinstance(record, Forwarded):
            self._forwarded(record)
        else:
            self._received(record)

    def _received(self, r: Received) -> None:
        if r.filtered:
            return
        if self.ndjson:
            body: Any
            try:
                body = json.loads(r.body)
            except ValueError:
                body = None
            self._emit(
                "event" if r.kind != "challenge" else "challenge",
                id=r.record_id,
                kind=r.kind,
                type=r.event_type,
                delivery_id=r.delivery_id,
                status=r.status,
                verdict=verdict_dict(r.verdict),
                duplicate=r.duplicate,
                size=len(r.body),
                path=r.path,
                note=r.note,
                body=body,
            )
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(r.received_at))
        out = self.printer.out
        if r.kind == "challenge":
            out.print(f"[dim]{stamp}[/dim]  [cyan]✓ verification challenge answered[/cyan]")
            return
        if r.kind == "rejected":
            out.print(
                f"[dim]{stamp}[/dim]  [yellow]{r.status}[/yellow] {_e(r.method)} {_e(r.path)}"
                f" [dim]{_e(r.note or '')}[/dim]"
            )
            return
        what = f"[bold]{_e(r.event_type or 'unknown event')}[/bold]"
        summary = _e(summarize_payload(r.event_type, r.body))
        if r.kind == "invalid":
            assert r.verdict is not None
            out.print(
                f"[dim]{stamp}[/dim]  [red]✗ {what} {summary} — {r.status}: "
                f"{_e(r.verdict.reason)}[/red]"
            )
            if r.verdict.diagnosis:
                out.print(f"          [red]{_e(r.verdict.diagnosis)}[/red]")
            return
        badge = self._badge(r.verdict)
        dup = " [yellow](duplicate: acknowledged, not forwarded)[/yellow]" if r.duplicate else ""
        status = "" if r.status == 200 else f" [yellow]answered {r.status}[/yellow]"
        out.print(f"[dim]{stamp}[/dim]  → {what} {summary} {badge}{dup}{status}")
        if self.verbose:
            try:
                pretty = json.dumps(json.loads(r.body), indent=2, ensure_ascii=False)
            except ValueError:
                pretty = r.body.decode("utf-8", "replace")
            out.print(_e(pretty), highlight=False)

    @staticmethod
    def _badge(verdict: Verdict | None) -> str:
        if verdict is None or verdict.code is VerdictCode.SKIPPED:
            return "[yellow]unverified[/yellow]"
        if verdict.valid:
            which = "" if not verdict.matched_secret else f" (secret #{verdict.matched_secret + 1})"
            return f"[green]✓ signed{which}[/green]"
        return f"[red]{_e(verdict.reason)}[/red]"

    def _forwarded(self, f: Forwarded) -> None:
        if self.ndjson:
            self._emit(
                "forward",
                id=f.record_id,
                target=f.target,
                status=f.status,
                ms=round(f.ms, 1),
                error=f.error,
            )
            return
        if f.error is not None:
            self.printer.out.print(f"          [red]↳ {_e(f.target)} {_e(f.error)}[/red]")
            return
        colour = "green" if f.status is not None and f.status < 400 else "red"
        self.printer.out.print(
            f"          ↳ {_e(f.target)} [{colour}]{f.status}[/{colour}] [dim]{f.ms:.0f}ms[/dim]"
        )
        if self.verbose and f.response_body:
            self.printer.out.print(
                "            " + _e(f.response_body[:2000].decode("utf-8", "replace")),
                highlight=False,
            )

    # --- the end ---
    def summary(self, tally: Tally, *, outcome: Mapping[str, Any] | None = None) -> None:
        data = tally.as_dict()
        if self.ndjson:
            self._emit("summary", **data, **(outcome or {}))
            return
        total = data["total"]
        parts = [f"{n} {t}" for t, n in sorted(tally.by_type.items())]
        line = f"{total} event{'s' if total != 1 else ''}" + (
            f" ({', '.join(parts)})" if parts else ""
        )
        extras = []
        if tally.invalid:
            extras.append(f"{tally.invalid} invalid signature{'s' if tally.invalid != 1 else ''}")
        if tally.duplicates:
            extras.append(f"{tally.duplicates} duplicate{'s' if tally.duplicates != 1 else ''}")
        if tally.forwarded or tally.forward_failures:
            extras.append(f"{tally.forwarded} forwarded, {tally.forward_failures} failed")
        self.printer.info("summary: " + line + ("; " + "; ".join(extras) if extras else ""))
