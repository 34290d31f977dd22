"""`apimw events show`: a sample payload of an event type, or one recorded request in full."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import state
from apimw_cli.commands.events.display import bounded, clock, json_body, shown
from apimw_cli.errors import ApimwError, UsageError
from apimw_cli.receiver import sessions
from apimw_cli.receiver.sessions import RECORD_PREFIX, Record

if TYPE_CHECKING:
    from apimw_cli.output import Printer


def show(
    ctx: typer.Context,
    what: Annotated[
        str,
        typer.Argument(
            metavar="TYPE_OR_ID",
            help="An event type (prints a sample payload), or the id of a recorded request"
            " (rec_..., or a unique prefix of it).",
        ),
    ],
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE", help="With an id: a session file [default: the latest session]."
        ),
    ] = None,
    raw: Annotated[
        bool,
        typer.Option("--raw", help="With an id: write the exact body bytes, nothing else."),
    ] = False,
) -> None:
    """Show a recorded request, or an event type's sample payload.

    A recorded request shows with its headers, body, signature check and forwards.

    Examples:

      apimw events show message.received    # a sample payload

      apimw events show rec_3f2a            # from the latest session

      apimw events show rec_3f2a --raw > body.json
    """
    printer = state(ctx).printer
    if what.startswith(RECORD_PREFIX):
        _show_recorded(printer, what, file, raw)
        return
    if catalog.get(what) is None:
        guess = catalog.suggest(what)
        if guess:
            raise UsageError(
                f"unknown event type {what!r}: did you mean {guess!r}?",
                hint="`apimw events list` shows them all",
            )
        raise UsageError(
            f"{what!r} is neither an event type nor the id of a recorded request (rec_...)",
            hint="`apimw events list` shows the event types, `apimw events log` the recorded ids",
        )
    if file is not None or raw:
        raise UsageError(
            f"{'a session file' if file is not None else '--raw'} goes with a recorded request's"
            f" id (rec_...), not with an event type",
            hint=f"`apimw events show {what}` prints a sample payload",
        )
    printer.data(catalog.sample(what))
    event_type = catalog.get(what)
    if event_type is not None and not event_type.documented:
        printer.info(
            f"note: {what}: {catalog.UNDOCUMENTED}; this sample is the sandbox's own choice"
            " and the real API may send other fields"
        )


def _show_recorded(printer: Printer, wanted: str, file: Path | None, raw: bool) -> None:
    session = sessions.session_file(file)
    requests, forwards = sessions.load(session, printer.warn)
    record = sessions.find_request(requests, wanted, session, latest=file is None)
    if raw:
        _write_raw_body(record)
        return
    data = sessions.recorded_data(record, sessions.outcomes(record, forwards), session)
    printer.data(bounded(data), lambda: _show_human(printer, record, data))


def _write_raw_body(record: Record) -> None:
    import sys

    body, problem = sessions.body(record)
    if body is None:
        raise ApimwError(
            f"{shown(record.get('id'))}: {problem}",
            hint="the session file holds a body that cannot be read (was it edited?)",
        )
    sys.stdout.flush()
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()


def _signature(data: dict[str, Any]) -> str:
    """The verdict on the signature, in a few words."""
    verdict = data["verdict"] if isinstance(data["verdict"], dict) else {}
    signature = shown(verdict.get("code")) if verdict else shown(data["verdict"])
    matched = verdict.get("matched_secret")
    if isinstance(matched, int) and not isinstance(matched, bool) and matched > 0:
        signature += f" (secret #{matched + 1})"
    reason = shown(verdict.get("reason"))
    if reason:
        signature += f": {reason}" if signature else reason
    return signature


def _show_human(printer: Printer, record: Record, data: dict[str, Any]) -> None:
    verdict = data["verdict"] if isinstance(data["verdict"], dict) else {}
    fields = {
        "received": clock(data["received_at"], "%Y-%m-%d %H:%M:%S"),
        "request": " ".join(shown(data[k]) for k in ("method", "path") if data[k] is not None),
        "type": shown(data["event_type"]),
        "delivery": shown(data["delivery_id"]),
        "kind": shown(data["kind"]),
        "answered": shown(data["status"]),
        "duplicate": "yes (a redelivery: not forwarded)"
        if data["duplicate"] is True
        else shown(data["duplicate"])
        if data["duplicate"] not in (False, None)
        else "",
        "signature": _signature(data),
        "diagnosis": shown(verdict.get("diagnosis")),
    }
    printer.info(f"session {data['session']}")
    printer.fields({k: v for k, v in fields.items() if v}, title=shown(data["id"]) or "request")
    printer.line()
    _show_headers(printer, data["headers"])
    printer.line()
    _show_body(printer, record)
    printer.line()
    _show_forwards(printer, data["forwards"])


def _show_headers(printer: Printer, headers: Any) -> None:
    if isinstance(headers, dict):
        printer.line(f"headers ({len(headers)})")
        printer.table(["name", "value"], [[name, shown(value)] for name, value in headers.items()])
    else:
        from apimw_cli.receiver.replay import json_type

        printer.line(f"headers: {json_type(headers)}, not an object: {shown(headers)}")


def _show_forwards(printer: Printer, outcomes: list[dict[str, Any]]) -> None:
    if not outcomes:
        printer.line("forwards: none")
        return
    printer.line(f"forwards ({len(outcomes)})")
    printer.table(
        ["target", "status", "ms", "error"],
        [
            [
                shown(o["target"]),
                shown(o["status"]),
                f"{o['ms']:.1f}" if isinstance(o["ms"], float) else shown(o["ms"]),
                shown(o["error"]),
            ]
            for o in outcomes
        ],
    )


def _show_body(printer: Printer, record: Record) -> None:
    from apimw_cli.output.untrusted import json_text

    body, problem = sessions.body(record)
    if body is None:
        printer.line(f"body: cannot be read: {problem}")
        return
    size = f"{len(body)} byte{'s' if len(body) != 1 else ''}"
    if not body:
        printer.line(f"body: empty ({size})")
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        printer.line(
            f"body ({size}, not UTF-8: invalid bytes shown as \\xNN; --raw writes them as they are)"
        )
        printer.line(body.decode("utf-8", "backslashreplace"))
        return
    parsed, why = json_body(text)
    if why is None:
        try:
            pretty = json_text(parsed, indent=2)
        except RecursionError:
            why = "it is nested too deep"
        else:
            printer.line(f"body ({size}, JSON)")
            printer.line(pretty)
            return
    note = f"JSON shown as received: {why}" if why else "text"
    printer.line(f"body ({size}, {note})")
    printer.line(text)
