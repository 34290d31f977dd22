"""The live view of `apimw listen`: a header, one line per event and forward, a summary.

Renders the receiver's records (apimw_cli.receiver.events) for people (rich) or for programs
(NDJSON, one schema-versioned record a line, flushed per line).

Everything in a record came from outside (the sender chose the body, headers and path; the
app chose its answer): it is shown through `Printer`'s safe pieces (`styled`, `to_json`), so
control characters arrive as visible escapes and nothing is read as markup, and every parse of
it is allowed to fail (it is then shown as unparseable, never raised).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from apimw_cli.models import Forwarded, Received, Tally, Verdict, VerdictCode
from apimw_cli.output.masking import mask, mask_url, redact
from apimw_cli.output.printer import Part, Printer, styled, to_json
from apimw_cli.output.untrusted import clip, visible

__all__ = ["LiveView", "Tally", "parse_body", "summarize_payload", "verdict_dict"]

SCHEMA = 1
# How much of each untrusted field a line shows: a sender controls their length.
TYPE_WIDTH = 80
FIELD_WIDTH = 40
PATH_WIDTH = 120
VERBOSE_LIMIT = 64 * 1024  # characters of a body or an app's answer shown with --verbose
INDENT = "          "
# NDJSON fields that carry our own words (notes, errors): redacted like messages on stderr.
_MESSAGES = frozenset({"message", "error", "reason"})


def parse_body(body: bytes) -> tuple[Any, str | None]:
    """The body as JSON, or (None, why not) when it cannot be read as JSON."""
    if not body:
        return None, "empty body"
    try:
        return json.loads(body), None
    except RecursionError:
        return None, "JSON nested too deep to read"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except ValueError:
        return None, "not JSON"


def _indented(data: Any, limit: int) -> tuple[str, bool]:
    """`data` as JSON indented by 2, and whether that is all of it: encoding stops once past
    `limit` characters, as indenting can make a body's text far longer than the body (1 MB of
    numbers nested 300 deep is 300 MB indented)."""
    chunks: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(data):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            return "".join(chunks), False
    return "".join(chunks), True


def _word(value: object, width: int = FIELD_WIDTH) -> str:
    """One payload field for a summary: text or a number, else a placeholder."""
    if isinstance(value, str):
        return clip(value, width)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return clip(str(value), width)
    return "?"


def summarize_payload(event_type: str | None, event: Any) -> str:
    """A few words from a parsed payload: who, what, which error."""
    data = event.get("data") if isinstance(event, dict) else None
    if not isinstance(data, dict):
        return ""
    if event_type == "message.received":
        return f'from {_word(data.get("from"))} "{_word(data.get("text", ""))}"'
    if event_type == "message.failed":
        error = data.get("error")
        error = error if isinstance(error, dict) else {}
        code, message = _word(error.get("code", "")), _word(error.get("message", ""), 60)
        return f"to {_word(data.get('to'))} {code} {message}".strip()
    if event_type and event_type.startswith("message."):
        return f"to {_word(data.get('to'))}"
    if event_type and event_type.startswith("quota."):
        used, limit = _word(data.get("used")), _word(data.get("limit"))
        return f"{used}/{limit} {_word(data.get('quota', ''))}".strip()
    if event_type and event_type.startswith("account."):
        return _word(data.get("phone_number", ""))
    return ""


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


def short_id(identifier: str) -> str:
    """`dlv_3f2a9c1b`: an id's prefix and 8 characters, enough to match lines by eye. Record
    ids count up (receiver/app.py), so theirs are the last 8: the first are the same."""
    prefix, sep, rest = identifier.partition("_")
    if sep and prefix.isalnum() and len(prefix) <= 8 and rest:
        return f"{prefix}_{rest[-8:] if prefix == 'rec' else rest[:8]}"
    return clip(identifier, 16)


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


class LiveView:
    """Pretty lines on a terminal, or NDJSON with `--format ndjson`."""

    def __init__(
        self,
        printer: Printer,
        *,
        ndjson: bool,
        verbose: bool = False,
        signature_hint: str | None = None,
        recorded: bool = True,
    ) -> None:
        self.printer = printer
        self.ndjson = ndjson
        self.verbose = verbose
        self.recorded = recorded  # whether a session log has every event (said when skipping)
        self.signature_hint = signature_hint  # said once, when the app answers 401/403
        self._refusing = 0  # events refused in a row because recording failed
        # Each forward result line names its event as the event line did (bounded memory).
        self._labels: OrderedDict[str, str] = OrderedDict()

    # --- NDJSON ---
    def _emit(self, record: str, **fields: Any) -> None:
        # Our own words are redacted as on stderr; every URL loses its password.
        for key in _MESSAGES.intersection(fields):
            if isinstance(fields[key], str):
                fields[key] = redact(fields[key])
        data = {"schema": SCHEMA, "record": record, "time": round(time.time(), 3), **fields}
        try:
            line = to_json(data, indent=None, allow_nan=False)
        except RecursionError:  # a body that parsed but is too deep to write back out
            data["body"] = None
            data["body_error"] = "JSON nested too deep to embed"
            line = to_json(data, indent=None)
        except ValueError:  # Python reads NaN, Infinity and 1e999, but they are not JSON
            data["body"] = None
            data["body_error"] = "NaN or Infinity in the body, which JSON cannot carry"
            line = to_json(data, indent=None)
        self.printer.out.file.write(mask_url(line) + "\n")
        self.printer.out.file.flush()

    def _print(self, *parts: Part) -> None:
        self.printer.out.print(styled(*parts))

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

    def skipped(self, events: int, forwards: int) -> None:
        """Records the view could not keep up with (stdout stalled); counted, not shown."""
        where = "all are in the session log" if self.recorded else "they are counted in the summary"
        if self.ndjson:
            self._emit(
                "skipped",
                events=events,
                forwards=forwards,
                message=f"the reader fell behind; {where}",
            )
            return
        what = [_count(n, w) for n, w in ((events, "event"), (forwards, "forward result")) if n]
        self.printer.warn(f"{' and '.join(what)} not shown: the view fell behind; {where}")

    def backlog(self, pending: int) -> None:
        """How far forwarding is behind (0: it caught up)."""
        message = (
            f"forwarding is behind: {_count(pending, 'event')} waiting for your app"
            if pending
            else "forwarding caught up"
        )
        if self.ndjson:
            self._emit("note", message=message, forward_backlog=pending)
        elif pending:
            self.printer.warn(message)
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
        if r.kind == "event":
            self._recording(r)
        if self.ndjson:
            self._received_ndjson(r)
            return
        stamp = (time.strftime("%H:%M:%S", time.localtime(r.received_at)), "dim")
        if r.kind == "challenge":
            self._print(stamp, "  ", ("✓ verification challenge answered", "cyan"))
            if r.note:
                self._print(INDENT, (r.note, "yellow"))
            return
        if r.kind == "rejected":
            self._print(
                stamp,
                "  ",
                (str(r.status), "yellow"),
                f" {clip(r.method, FIELD_WIDTH)} {clip(r.path, PATH_WIDTH)} ",
                (r.note or "", "dim"),
            )
            return
        what = (clip(r.event_type or "unknown event", TYPE_WIDTH), "bold")
        parsed, problem = parse_body(r.body)
        summary = summarize_payload(r.event_type, parsed) if problem is None else ""
        if problem is not None and r.kind == "event":
            summary = f"(unparseable body: {problem}, {_count(len(r.body), 'byte')})"
        if r.kind == "invalid":
            reason = r.verdict.reason if r.verdict is not None else "invalid signature"
            tag = (f" [{self._label(r)}]", "dim")
            self._print(stamp, "  ", ("✗ ", "red"), what, f" {summary}",
                        (f" — {r.status}: {reason}", "red"), tag)  # fmt: skip
            if r.verdict is not None and r.verdict.diagnosis:
                self._print(INDENT, (r.verdict.diagnosis, "red"))
            return
        if r.record_error is not None:
            refused = f"answered {r.status}, not recorded: {r.record_error}"
            self._print(stamp, "  ", ("✗ ", "red"), what, f" {summary} ", (refused, "red"),
                        (f" [{self._label(r)}]", "dim"))  # fmt: skip
            return
        label = self._label(r)
        line: list[Part] = [stamp, "  → ", what, f" {summary} ", self._badge(r.verdict)]
        if r.duplicate and r.previous_status == 200:
            line.append((f" (duplicate, attempt {r.attempt}: acknowledged before, not forwarded)",
                         "yellow"))  # fmt: skip
        elif r.duplicate:
            line.append((f" (retry {r.attempt}: forwarded before, not again)", "yellow"))
        elif r.attempt > 1:
            line.append((f" (retry {r.attempt})", "yellow"))
        if r.status != 200:
            line.append((f" answered {r.status}", "yellow"))
        if r.note and r.status != 200:
            line.append((f" {r.note}", "dim"))
        line.append((f" [{label}]", "dim"))
        self._print(*line)
        if self.verbose:
            self._body(r.body, parsed, problem)

    def _label(self, r: Received) -> str:
        label = short_id(r.delivery_id or r.record_id)
        labels = self._labels
        labels[r.record_id] = label
        if len(labels) > 10_000:
            labels.popitem(last=False)
        return label

    def _received_ndjson(self, r: Received) -> None:
        body, problem = parse_body(r.body) if r.kind != "rejected" else (None, None)
        fields: dict[str, Any] = {
            "id": r.record_id,
            "kind": r.kind,
            "type": r.event_type,
            "delivery_id": r.delivery_id,
            "status": r.status,
            "verdict": verdict_dict(r.verdict),
            "duplicate": r.duplicate,
            "attempt": r.attempt,
            "size": len(r.body),
            "path": r.path,
            "note": r.note,
            "body": body,
        }
        if problem is not None and r.body:
            fields["body_error"] = problem
        if r.record_error is not None:
            fields["record_error"] = r.record_error
        self._emit("event" if r.kind != "challenge" else "challenge", **fields)

    def _recording(self, r: Received) -> None:
        """Say once when events start being refused for lack of a log, and when that ends."""
        if r.record_error is not None:
            if not self._refusing:
                self.warn_line(
                    f"not recorded: {r.record_error}. Events are answered 503 (APIMW retries "
                    "them) until the session log can be written again."
                )
            self._refusing += 1
        elif self._refusing:
            refused, self._refusing = self._refusing, 0
            self.warn_line(f"recording resumed ({_count(refused, 'event')} refused meanwhile)")

    def warn_line(self, message: str) -> None:
        if self.ndjson:
            self._emit("note", message=message)
        else:
            self.printer.warn(message)

    def _body(self, raw: bytes, parsed: Any, problem: str | None) -> None:
        text: str | None = None
        whole = True
        if problem is None:
            try:
                text, whole = _indented(parsed, VERBOSE_LIMIT + 1)
            except RecursionError:
                text = None
        if text is None:
            text, whole = raw.decode("utf-8", "replace"), True
        # Indented: a line of the body can never pass for one of ours (they start with a time).
        self._block(text, INDENT, whole=whole)

    def _block(self, text: str, indent: str = "", *, whole: bool = True) -> None:
        more = len(text) - VERBOSE_LIMIT
        shown = text[:VERBOSE_LIMIT]
        if indent:
            shown = indent + shown.replace("\n", "\n" + indent)
        self.printer.line(shown)  # which shows controls as escapes, keeping line feeds
        if more > 0:
            rest = _count(more, "more character") if whole else "more not shown"
            self.printer.line(f"{indent}… {rest}")

    @staticmethod
    def _badge(verdict: Verdict | None) -> Part:
        if verdict is None or verdict.code is VerdictCode.SKIPPED:
            return ("unverified", "yellow")
        if verdict.valid:
            which = "" if not verdict.matched_secret else f" (secret #{verdict.matched_secret + 1})"
            return (f"✓ signed{which}", "green")
        return (verdict.reason, "red")

    def _forwarded(self, f: Forwarded) -> None:
        if f.status in (401, 403) and self.signature_hint:
            hint, self.signature_hint = self.signature_hint, None
            self.warn_line(hint)
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
        label = (f" [{self._labels.get(f.record_id) or short_id(f.record_id)}]", "dim")
        if f.error is not None:
            self._print(INDENT, (f"↳ {f.target} {f.error}", "red"), label)
            return
        colour = "green" if f.status is not None and f.status < 400 else "red"
        self._print(INDENT, "↳ ", (str(f.status), colour), f" POST {f.target} ",
                    (f"{f.ms:.0f}ms", "dim"), label)  # fmt: skip
        if self.verbose and f.response_body:
            self._block(f.response_body.decode("utf-8", "replace"), indent=INDENT + "  ")

    # --- the end ---
    def summary(self, tally: Tally, *, outcome: Mapping[str, Any] | None = None) -> None:
        data = tally.as_dict()
        if self.ndjson:
            self._emit("summary", **data, **(outcome or {}))
            return
        total = data["total"]
        # Event types come from outside: one line each here too (`info` keeps line feeds).
        parts = [f"{n} {visible(t)}" for t, n in sorted(tally.by_type.items())]
        line = f"{total} event{'s' if total != 1 else ''}" + (
            f" ({', '.join(parts)})" if parts else ""
        )
        extras = []
        if tally.invalid:
            extras.append(f"{tally.invalid} invalid signature{'s' if tally.invalid != 1 else ''}")
        if tally.duplicates:
            extras.append(f"{tally.duplicates} duplicate{'s' if tally.duplicates != 1 else ''}")
        if tally.unrecorded:
            extras.append(f"{tally.unrecorded} refused (not recorded)")
        if tally.forwarded or tally.forward_failures:
            extras.append(f"{tally.forwarded} forwarded, {tally.forward_failures} failed")
        self.printer.info("summary: " + line + ("; " + "; ".join(extras) if extras else ""))
