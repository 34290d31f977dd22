"""The live view of `apimw listen`: a header, one line per event and forward, a summary.

Renders the receiver's records (apimw_cli.receiver.events) for people (styled lines) or for
programs (NDJSON, one schema-versioned record a line: output/ndjson.py).

Records come by the thousand a second, and the main thread that shows them shares the GIL
with the receiver: each line is built as a string (output/lines.py: rich is asked once per
style, not once per line) and, inside `batch()`, gathered and written with one write and one
flush (output/batched.py). Outside a batch each line is written at once, as before.

Everything in a record came from outside (the sender chose the body, headers and path; the
app chose its answer): it is shown through the safe pieces (`Painter.line`, `block_text`,
`ndjson`), so control characters arrive as visible escapes and nothing is read as markup, and
every parse of it is allowed to fail (it is then shown as unparseable, never raised).
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from apimw_cli.models import Forwarded, Received, Tally, Verdict, VerdictCode, VerdictMemo
from apimw_cli.output import ndjson
from apimw_cli.output.batched import BatchedOutput
from apimw_cli.output.glyphs import Glyphs
from apimw_cli.output.lines import Painter, block_text
from apimw_cli.output.masking import mask
from apimw_cli.output.payload import (
    InexactNumber,
    count,
    fast_parse,
    indented,
    parse_body,
    short_id,
    summarize_payload,
    verdict_dict,
)
from apimw_cli.output.printer import Part, Printer
from apimw_cli.output.untrusted import clip, is_visible, visible

__all__ = ["LiveView", "Tally", "parse_body", "short_id", "summarize_payload", "verdict_dict"]

SCHEMA = ndjson.SCHEMA
# How much of each untrusted field a line shows: a sender controls their length.
TYPE_WIDTH = 80
FIELD_WIDTH = 40
PATH_WIDTH = 120
VERBOSE_LIMIT = 64 * 1024  # characters of a body or an app's answer shown with --verbose
INDENT = "          "
_UNVERIFIED = ("unverified", "yellow")


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
        forwarding: bool = True,
    ) -> None:
        self.printer = printer
        self.ndjson = ndjson
        self.verbose = verbose
        self.recorded = recorded  # whether a session log has every event (said when skipping)
        self.signature_hint = signature_hint  # said once, when the app answers 401/403
        self._refusing = 0  # events refused in a row because recording failed
        # Each forward result line names its event as the event line did (bounded memory);
        # kept only when there are forwards to name (`forwarding`).
        self._labels: OrderedDict[str, str] = OrderedDict()
        self._keep_labels = forwarding
        self._batching = 0
        self._batch_time = 0.0  # when the current batch began, as NDJSON records say it
        self._stamp: tuple[int, str] = (-1, "")  # the last second shown, as text

    @functools.cached_property
    def _output(self) -> BatchedOutput:
        return BatchedOutput(self.printer.out.file, json_lines=self.ndjson)

    @functools.cached_property
    def _painter(self) -> Painter:
        return Painter(self.printer.out)

    @functools.cached_property
    def _dim_bold(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """The codes of every event line's dim and bold parts (asked once, not per line)."""
        return self._painter.codes("dim"), self._painter.codes("bold")

    @functools.cached_property
    def _glyphs(self) -> Glyphs:
        return self.printer.out_glyphs

    # --- writing: gathered inside a batch, at once outside ---
    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Lines shown inside are written together when it ends (however it ends)."""
        self._batching += 1
        if self._batching == 1:
            # One time for the batch's NDJSON lines: they are written together, at its end.
            self._batch_time = round(time.time(), 3)
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching:
                self.flush()

    def flush(self) -> None:
        """Write what is gathered. Messages on stderr (and anything else written around the
        view) come after it, so the two streams stay in order on one terminal."""
        if "_output" in self.__dict__ and self._output:
            self._output.flush()

    def _now(self) -> float:
        """An NDJSON record's `time`: now, or the batch's (see `batch`)."""
        return self._batch_time if self._batching else round(time.time(), 3)

    def _put(self, text: str) -> None:
        self._output.add(text)
        if not self._batching:
            self._output.flush()

    def _put_utf8(self, line: bytes) -> None:
        """`_put` for an NDJSON line made as UTF-8 bytes (no round trip through str)."""
        self._output.add_utf8(line)
        if not self._batching:
            self._output.flush()

    def _emit(self, record: str, **fields: Any) -> None:
        self._put(ndjson.line(record, self._now(), **fields))

    def _print(self, *parts: Part) -> None:
        self._put(self._painter.line(*parts))

    def _message(self, kind: str, message: str) -> None:
        """A message on stderr (`info`, `warn`, `success`), after the lines gathered so far."""
        self.flush()
        getattr(self.printer, kind)(message)

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
        inspector: str | None = None,
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
                inspector=inspector,
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
        if inspector:
            fields["inspector"] = inspector
        self.flush()
        self.printer.fields(fields, title="apimw listen")
        if not verifying:
            self._message(
                "warn", "--skip-verify: signatures are NOT checked; forged events get through"
            )
        self._message("info", "Ready. Ctrl-C to stop.")

    def tunnel(self, state: str, message: str, **fields: Any) -> None:
        """Tunnel news (down, restarted, failed): an NDJSON `tunnel` record, or a line."""
        if self.ndjson:
            self._emit("tunnel", state=state, message=message, **fields)
        else:
            self._message("success" if state == "restarted" else "warn", message)

    def note(self, message: str, **fields: Any) -> None:
        """Lifecycle news (registered, verified, cleaned up)."""
        if self.ndjson:
            self._emit("note", message=message, **fields)
        else:
            self._message("info", message)

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
        what = [count(n, w) for n, w in ((events, "event"), (forwards, "forward result")) if n]
        self._message("warn", f"{' and '.join(what)} not shown: the view fell behind; {where}")

    def backlog(self, pending: int) -> None:
        """How far forwarding is behind (0: it caught up)."""
        message = (
            f"forwarding is behind: {count(pending, 'event')} waiting for your app"
            if pending
            else "forwarding caught up"
        )
        if self.ndjson:
            self._emit("note", message=message, forward_backlog=pending)
        else:
            self._message("warn" if pending else "info", message)

    # --- per record ---
    def show(self, record: Received | Forwarded) -> None:
        if isinstance(record, Forwarded):
            self._forwarded(record)
        else:
            self._received(record)

    def _time(self, received_at: float) -> tuple[str, str]:
        """The record's time of day, dim (the text is made once per second)."""
        second = int(received_at)
        if second != self._stamp[0]:
            self._stamp = (second, time.strftime("%H:%M:%S", time.localtime(received_at)))
        return (self._stamp[1], "dim")

    def _received(self, r: Received) -> None:
        if r.filtered:
            return
        if r.kind == "event" and (r.record_error is not None or self._refusing):
            self._recording(r)
        if self.ndjson:
            self._put_utf8(ndjson.received_bytes(r, self._now()))
            return
        stamp = self._time(r.received_at)
        if r.kind == "challenge":
            g = self._glyphs
            self._print(stamp, "  ", (f"{g.check} verification challenge answered", "cyan"))
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
        summary, problem = self._summary(r)
        if r.kind == "invalid":
            reason = r.verdict.reason if r.verdict is not None else "invalid signature"
            tag = (f" [{self._label(r)}]", "dim")
            g = self._glyphs
            self._print(stamp, "  ", (f"{g.cross} ", "red"), what, f" {summary}",
                        (f" {g.dash} {r.status}: {reason}", "red"), tag)  # fmt: skip
            if r.verdict is not None and r.verdict.diagnosis:
                self._print(INDENT, (r.verdict.diagnosis, "red"))
            return
        if r.record_error is not None:
            refused = f"answered {r.status}, not recorded: {r.record_error}"
            self._print(stamp, "  ", (f"{self._glyphs.cross} ", "red"), what, f" {summary} ",
                        (refused, "red"),
                        (f" [{self._label(r)}]", "dim"))  # fmt: skip
            return
        label = self._label(r)
        badge = self._badge(r.verdict)
        if r.attempt == 1 and r.status == 200 and not r.duplicate and not self.verbose:
            self._put(self._event_line(stamp[0], what[0], summary, badge, label))
            return
        line: list[Part] = [stamp, f"  {self._glyphs.arrow} ", what, f" {summary} ", badge]
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
            self._body(r.body, problem)

    def _event_line(
        self, stamp: str, what: str, summary: str, badge: tuple[str, str], label: str
    ) -> str:
        """The usual event's line (a first delivery answered 200), as `_print` would make it
        but in one format: it is drawn thousands of times a second. When the sender's parts
        (type, summary, label) hold a URL or a control character, `_print`'s way decides."""
        text, style = badge
        arrow = self._glyphs.arrow
        sent = what + summary + label
        if "@" in sent or not is_visible(sent) or not text or not what:
            parts: list[Part] = [
                (stamp, "dim"),
                f"  {arrow} ",
                (what, "bold"),
                f" {summary} ",
                badge,
            ]
            return self._painter.line(*parts, (f" [{label}]", "dim"))
        (dim, undim), (bold, unbold) = self._dim_bold
        on, off = self._painter.codes(style)
        return (
            f"{dim}{stamp}{undim}  {arrow} {bold}{what}{unbold} {summary} {on}{text}{off}"
            f"{dim} [{label}]{undim}\n"
        )

    def _summary(self, r: Received) -> tuple[str, str | None]:
        """A few words from the body (or why it could not be read), and the reason."""
        parsed, problem, fast = fast_parse(r.body)
        if problem is not None:
            if r.kind == "event":
                return f"(unparseable body: {problem}, {count(len(r.body), 'byte')})", problem
            return "", problem
        try:
            return summarize_payload(r.event_type, parsed, exact=not fast), None
        except InexactNumber:  # an integer past 64 bits: Python's json reads it exactly
            return summarize_payload(r.event_type, json.loads(r.body)), None

    def _label(self, r: Received) -> str:
        label = short_id(r.delivery_id or r.record_id)
        if self._keep_labels:
            labels = self._labels
            labels[r.record_id] = label
            if len(labels) > 10_000:
                labels.popitem(last=False)
        return label

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
            self.warn_line(f"recording resumed ({count(refused, 'event')} refused meanwhile)")

    def warn_line(self, message: str) -> None:
        if self.ndjson:
            self._emit("note", message=message)
        else:
            self._message("warn", message)

    def _body(self, raw: bytes, problem: str | None) -> None:
        text: str | None = None
        whole = True
        if problem is None:
            # Python's reading (exact numbers), indented as before; --verbose is for people.
            parsed, problem = parse_body(raw)
            try:
                text, whole = (
                    indented(parsed, VERBOSE_LIMIT + 1) if problem is None else (None, True)
                )
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
        self._put(block_text(shown))  # controls shown as escapes, line feeds kept
        if more > 0:
            rest = count(more, "more character") if whole else "more not shown"
            self._put(block_text(f"{indent}{self._glyphs.ellipsis} {rest}"))

    def _badge(self, verdict: Verdict | None) -> tuple[str, str]:
        """The signature's badge; made once for the verdict every valid event shares."""
        return _UNVERIFIED if verdict is None else self._badges(verdict)

    @functools.cached_property
    def _badges(self) -> VerdictMemo[tuple[str, str]]:
        return VerdictMemo(self._new_badge)

    def _new_badge(self, verdict: Verdict) -> tuple[str, str]:
        if verdict.code is VerdictCode.SKIPPED:
            return _UNVERIFIED
        if verdict.valid:
            which = "" if not verdict.matched_secret else f" (secret #{verdict.matched_secret + 1})"
            return (f"{self._glyphs.check} signed{which}", "green")
        return (verdict.reason, "red")

    def _forwarded(self, f: Forwarded) -> None:
        if f.status in (401, 403) and self.signature_hint:
            hint, self.signature_hint = self.signature_hint, None
            self.warn_line(hint)
        if self.ndjson:
            self._put_utf8(ndjson.forwarded_bytes(f, self._now()))
            return
        label = (f" [{self._labels.get(f.record_id) or short_id(f.record_id)}]", "dim")
        if f.error is not None:
            self._print(INDENT, (f"{self._glyphs.forward} {f.target} {f.error}", "red"), label)
            return
        colour = "green" if f.status is not None and f.status < 400 else "red"
        self._print(INDENT, f"{self._glyphs.forward} ", (str(f.status), colour),
                    f" POST {f.target} ", (f"{f.ms:.0f}ms", "dim"), label)  # fmt: skip
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
        self._message("info", "summary: " + line + ("; " + "; ".join(extras) if extras else ""))
