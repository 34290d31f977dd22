"""`apimw events`: the event catalog and realistic sample payloads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import check_http_url, secret_from_env, state
from apimw_cli.errors import ApimwError, UsageError

if TYPE_CHECKING:
    from apimw_cli.output import Printer
    from apimw_cli.receiver.replay import ReplayResult

app = typer.Typer(
    help="The event catalog, and the events `apimw listen` recorded (log, replay).",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the event types you can subscribe to."""
    printer = state(ctx).printer
    rows = [{"type": e.name, "description": e.description} for e in catalog.EVENT_TYPES]

    def human() -> None:
        printer.table(["type", "description"], [[r["type"], r["description"]] for r in rows])

    printer.data(rows, human)


_RECORD_PREFIX = "rec_"


@app.command("show")
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
        typer.Argument(help="With an id: a session file [default: the latest session]."),
    ] = None,
    raw: Annotated[
        bool,
        typer.Option("--raw", help="With an id: write the exact body bytes, nothing else."),
    ] = False,
) -> None:
    """Show a recorded request (headers, body, signature, forwards), or a sample payload.

    Examples:

      apimw events show message.received    # a sample payload

      apimw events show rec_3f2a            # from the latest session

      apimw events show rec_3f2a --raw > body.json
    """
    printer = state(ctx).printer
    if what.startswith(_RECORD_PREFIX):
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


# --- recorded sessions (written by `apimw listen`) ------------------------------------------
#
# A session file is input from outside (it may be torn, edited, or not ours at all): every field
# of a record may hold any JSON value. Nothing here assumes a type; what cannot be shown is left
# blank, and what cannot be replayed is reported and skipped.

_MAX_DEPTH = 32  # JSON nested deeper than this is shown as a placeholder
_DEEP = "…(nested too deep)"


def _session_file(file: Path | None) -> Path:
    from apimw_cli.settings import sessions_dir

    if file is not None:
        if not file.is_file():
            raise UsageError(f"no such session file: {file}")
        return file
    sessions = sorted(sessions_dir().glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not sessions:
        raise UsageError(
            "no recorded session yet",
            hint="`apimw listen` records what it receives; or name a file recorded with --record",
        )
    return sessions[-1]


def _load(
    file: Path, printer: Printer
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The requests of a session, and the forward outcomes by request id; warns about the lines
    that are not records."""
    from apimw_cli.receiver.recorder import SkippedLines, read_records

    requests: list[dict[str, Any]] = []
    forwards: dict[str, list[dict[str, Any]]] = {}
    skipped = SkippedLines()
    try:
        for record in read_records(file, skipped):
            kind = record.get("record")
            if kind == "request":
                requests.append(record)
            elif kind == "forward" and isinstance(record.get("id"), str):
                forwards.setdefault(record["id"], []).append(record)
    except OSError as error:
        raise ApimwError(f"cannot read {file}: {error.strerror or error}") from None
    if skipped.count:
        lines = f"{skipped.count} line{'s' if skipped.count != 1 else ''}"
        printer.warn(
            f"skipped {lines} of {file} that {'are' if skipped.count != 1 else 'is'} not a"
            " record (a torn write, or the file was edited)"
        )
    return requests, forwards


def _outcomes(
    request: dict[str, Any], forwards: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    record_id = request.get("id")
    return forwards.get(record_id, []) if isinstance(record_id, str) else []


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _forward_failed(outcomes: list[dict[str, Any]]) -> bool:
    """No forward, or one with an error, a status >= 400, or no status that makes sense."""
    return not outcomes or any(
        o.get("error") is not None or not _is_int(o.get("status")) or o["status"] >= 400
        for o in outcomes
    )


def _bounded(value: Any, depth: int = 0) -> Any:
    """`value` with what is nested deeper than _MAX_DEPTH replaced by a placeholder (such JSON
    cannot be encoded again)."""
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return _DEEP
        return {k: _bounded(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        if depth >= _MAX_DEPTH:
            return _DEEP
        return [_bounded(v, depth + 1) for v in value]
    return value


def _shown(value: Any, limit: int = 80) -> str:
    """A record's value as a table cell: text as is, other JSON compact and clipped."""
    import json

    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    text = json.dumps(_bounded(value), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clock(value: Any, layout: str = "%H:%M:%S") -> str:
    """HH:MM:SS (or `layout`) of a unix time, local; "" when there is none, "?" when it is not
    a usable number."""
    import math
    import time

    if value is None:
        return ""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "?"
    try:
        return time.strftime(layout, time.localtime(value))
    except (OverflowError, OSError, ValueError):
        return "?"


def _body(record: dict[str, Any]) -> tuple[bytes | None, str | None]:
    """The exact body bytes of a request record, or None and why they cannot be had."""
    from apimw_cli.receiver.replay import Unsendable, body_of

    try:
        return body_of(record), None
    except Unsendable as why:
        return None, str(why)


# --- one recorded request: `events show rec_...` ---------------------------------------------


def _find_request(
    requests: list[dict[str, Any]], wanted: str, session: Path, latest: bool
) -> dict[str, Any]:
    """The one request whose id is `wanted`, or else starts with it; a usage error otherwise."""
    exact = [r for r in requests if r.get("id") == wanted]
    matches = exact or [
        r for r in requests if isinstance(r.get("id"), str) and r["id"].startswith(wanted)
    ]
    if len(matches) == 1:
        return matches[0]
    where = f"the latest session ({session})" if latest else str(session)
    if matches:
        ids = list(dict.fromkeys(str(r["id"]) for r in matches))
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise UsageError(
            f"{len(matches)} recorded requests in {where} match {wanted!r}: {shown}",
            hint="give more of the id"
            if len(ids) > 1
            else "the file holds that id more than once (was it edited?)",
        )
    import difflib

    ids = [r["id"] for r in requests if isinstance(r.get("id"), str)]
    close = difflib.get_close_matches(wanted, ids, n=1, cutoff=0.75)
    log = "apimw events log" + ("" if latest else f" {session}")
    hint = f"`{log}` lists the ids"
    if latest:
        hint += "; for an older session, name its file (`apimw events show ID FILE`)"
    raise UsageError(
        f"no recorded request {wanted!r} in {where}"
        + (f": did you mean {close[0]!r}?" if close else ""),
        hint=hint,
    )


def _json_body(text: str) -> tuple[Any, str | None]:
    """(the parsed JSON, None), or (None, why it is not shown indented)."""
    import json

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise _NotShownIndented("it has a duplicate key")
        return dict(pairs)

    def no_constant(name: str) -> Any:
        raise ValueError(name)  # NaN, Infinity: not JSON

    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant), None
    except _NotShownIndented as why:
        return None, str(why)
    except RecursionError:
        return None, "it is nested too deep"
    except ValueError:
        return None, ""


class _NotShownIndented(ValueError):
    """JSON that indenting would change (a duplicate key would be lost)."""


def _recorded_data(
    record: dict[str, Any], outcomes: list[dict[str, Any]], session: Path
) -> dict[str, Any]:
    """Everything recorded about one request, as `-o json` gives it; the body as recorded."""
    body, problem = _body(record)
    if isinstance(record.get("body"), str) or "body_b64" not in record:
        as_recorded = {"body": record.get("body")}
    else:
        as_recorded = {"body_b64": record.get("body_b64")}
    return {
        "session": str(session),
        "id": record.get("id"),
        "received_at": record.get("received_at"),
        "method": record.get("method"),
        "path": record.get("path"),
        "event_type": record.get("event_type"),
        "delivery_id": record.get("delivery_id"),
        "kind": record.get("kind"),
        "status": record.get("status"),
        "duplicate": record.get("duplicate"),
        "verdict": record.get("verdict"),
        "headers": record.get("headers"),
        **as_recorded,
        "size": None if body is None else len(body),
        "body_error": problem,
        "forwards": [
            {
                "target": o.get("target"),
                "status": o.get("status"),
                "ms": o.get("ms"),
                "error": o.get("error"),
                "at": o.get("at"),
            }
            for o in outcomes
        ],
    }


def _show_recorded(printer: Printer, wanted: str, file: Path | None, raw: bool) -> None:
    import sys

    session = _session_file(file)
    requests, forwards = _load(session, printer)
    record = _find_request(requests, wanted, session, latest=file is None)
    if raw:
        body, problem = _body(record)
        if body is None:
            raise ApimwError(
                f"{_shown(record.get('id'))}: {problem}",
                hint="the session file holds a body that cannot be read (was it edited?)",
            )
        sys.stdout.flush()
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return
    outcomes = _outcomes(record, forwards)
    data = _recorded_data(record, outcomes, session)
    printer.data(_bounded(data), lambda: _show_human(printer, record, data))


def _show_human(printer: Printer, record: dict[str, Any], data: dict[str, Any]) -> None:
    verdict = data["verdict"] if isinstance(data["verdict"], dict) else {}
    signature = _shown(verdict.get("code")) if verdict else _shown(data["verdict"])
    matched = verdict.get("matched_secret")
    if isinstance(matched, int) and not isinstance(matched, bool) and matched > 0:
        signature += f" (secret #{matched + 1})"
    reason = _shown(verdict.get("reason"))
    if reason:
        signature += f": {reason}" if signature else reason
    fields = {
        "received": _clock(data["received_at"], "%Y-%m-%d %H:%M:%S"),
        "request": " ".join(_shown(data[k]) for k in ("method", "path") if data[k] is not None),
        "type": _shown(data["event_type"]),
        "delivery": _shown(data["delivery_id"]),
        "kind": _shown(data["kind"]),
        "answered": _shown(data["status"]),
        "duplicate": "yes (a redelivery: not forwarded)"
        if data["duplicate"] is True
        else _shown(data["duplicate"])
        if data["duplicate"] not in (False, None)
        else "",
        "signature": signature,
        "diagnosis": _shown(verdict.get("diagnosis")),
    }
    printer.info(f"session {data['session']}")
    printer.fields({k: v for k, v in fields.items() if v}, title=_shown(data["id"]) or "request")

    headers = data["headers"]
    printer.line()
    if isinstance(headers, dict):
        printer.line(f"headers ({len(headers)})")
        printer.table(["name", "value"], [[name, _shown(value)] for name, value in headers.items()])
    else:
        from apimw_cli.receiver.replay import json_type

        printer.line(f"headers: {json_type(headers)}, not an object: {_shown(headers)}")

    printer.line()
    _show_body(printer, record, data)

    printer.line()
    outcomes = data["forwards"]
    if not outcomes:
        printer.line("forwards: none")
        return
    printer.line(f"forwards ({len(outcomes)})")
    printer.table(
        ["target", "status", "ms", "error"],
        [
            [
                _shown(o["target"]),
                _shown(o["status"]),
                f"{o['ms']:.1f}" if isinstance(o["ms"], float) else _shown(o["ms"]),
                _shown(o["error"]),
            ]
            for o in outcomes
        ],
    )


def _show_body(printer: Printer, record: dict[str, Any], data: dict[str, Any]) -> None:
    from apimw_cli.output.untrusted import json_text

    body, problem = _body(record)
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
    parsed, why = _json_body(text)
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


@app.command("log")
def log(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="A session file [default: the latest session].")
    ] = None,
    last: Annotated[int | None, typer.Option("--last", help="Only the last N.", min=1)] = None,
) -> None:
    """List the events `apimw listen` recorded."""
    printer = state(ctx).printer
    session = _session_file(file)
    requests, forwards = _load(session, printer)
    if last is not None:
        requests = requests[-last:]
    rows: list[dict[str, Any]] = []
    for r in requests:
        verdict = r.get("verdict")
        rows.append(
            {
                "id": r.get("id"),
                "received_at": r.get("received_at"),
                "type": r.get("event_type"),
                "kind": r.get("kind"),
                "status": r.get("status"),
                "verdict": verdict.get("code") if isinstance(verdict, dict) else None,
                "duplicate": r.get("duplicate"),
                "delivery_id": r.get("delivery_id"),
                "size": None if (body := _body(r)[0]) is None else len(body),
                "forwards": [
                    {"target": o.get("target"), "status": o.get("status"), "error": o.get("error")}
                    for o in _outcomes(r, forwards)
                ],
            }
        )

    def human() -> None:
        printer.info(f"session {session}")
        printer.table(
            ["id", "time", "type", "status", "signature", "forwarded"],
            [
                [
                    _shown(row["id"]),
                    _clock(row["received_at"]),
                    _shown(row["type"] or row["kind"]),
                    _shown(row["status"]),
                    _shown(row["verdict"]),
                    ", ".join(
                        _shown(f["status"] if f["error"] is None else f["error"])
                        for f in row["forwards"]
                    ),
                ]
                for row in rows
            ],
        )

    printer.data(_bounded(rows), human)


def _replay_failure(
    results: list[ReplayResult], to: str, timeout: float, resigned: bool
) -> ApimwError | None:
    """The error that ends a replay with records not sent or replays that failed, or None."""
    from collections import Counter

    unsendable = [r for r in results if r.failure == "unsendable"]
    sent = [r for r in results if r.failure != "unsendable"]
    failed = [r for r in sent if r.failure is not None or (r.status or 0) >= 400]
    messages: list[str] = []
    hints: list[str] = []
    if unsendable:
        messages.append(f"{len(unsendable)} of {len(results)} events could not be sent")
        hints.append(
            "the lines above say why: the session file holds records that cannot be sent as"
            " they were received (was it edited?)"
        )
    if failed:
        by_failure = Counter(str(r.failure) for r in failed if r.failure is not None)
        statuses = Counter(r.status for r in failed if r.status is not None)
        what = [
            f"{n} {text}"
            for failure, text in (
                ("connect", "could not connect"),
                ("timeout", "timed out"),
                ("transport", "broke off"),
            )
            if (n := by_failure[failure])
        ]
        what += [f"{n} answered {status}" for status, n in sorted(statuses.items())]
        messages.append(
            f"of the {len(sent)} sent, {len(failed)} failed ({', '.join(what)})"
            if unsendable
            else f"{len(failed)} of {len(sent)} replays failed ({', '.join(what)})"
        )
        if by_failure["connect"]:
            hints.append(f"is your app up? nothing accepted a connection at {to}")
        if by_failure["timeout"]:
            hints.append(f"your app did not answer within {timeout:g} s (--timeout)")
        if by_failure["transport"]:
            hints.append("the connection broke off before an answer: see your app's logs")
        if statuses.keys() & {401, 403}:
            hints.append(
                "your app refused the events signed again (401/403): does it expect the"
                " secret you gave?"
                if resigned
                else "your app refused the signature (401/403): the recorded events carry their"
                " sender's signature; sign them again with the secret your app expects:"
                " --resign-env VAR"
            )
        others = sorted(s for s in statuses if s not in (401, 403))
        if others:
            codes = ", ".join(map(str, others))
            hints.append(f"your app answered {codes}: its logs say why")
    if not messages:
        return None
    return ApimwError("; ".join(messages), hint="; ".join(hints))


@app.command("replay")
def replay(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="Your app's URL.")],
    file: Annotated[
        Path | None, typer.Argument(help="A session file [default: the latest session].")
    ] = None,
    last: Annotated[int | None, typer.Option("--last", help="The last N events.", min=1)] = None,
    record_id: Annotated[
        str | None, typer.Option("--id", help="One event, by record id (or a unique prefix).")
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Events whose forward failed (or never happened).")
    ] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every event of the session.")] = False,
    resign: Annotated[
        str | None, typer.Option("--resign", help="Sign again with this secret.")
    ] = None,
    resign_env: Annotated[
        str | None,
        typer.Option("--resign-env", metavar="VAR", help="Sign again with the secret in $VAR."),
    ] = None,
    verbatim: Annotated[
        bool, typer.Option("--verbatim", help="Original headers and signature (the default).")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds per request.", min=0.1)
    ] = 30.0,
) -> None:
    """Send recorded events to your app again, byte for byte (e.g. after fixing a handler).

    Without --last, --id, --failed or --all, the last event is replayed. An event that cannot
    be sent as it was recorded is reported and skipped; the others are sent.

    Example: apimw events replay --failed --to http://localhost:3000/webhooks
    """
    from apimw_cli.receiver.replay import ReplayResult, Unsendable, body_of, json_type
    from apimw_cli.receiver.replay import client as replay_client
    from apimw_cli.receiver.replay import replay as send

    printer = state(ctx).printer
    check_http_url(to, "--to")
    if (
        sum(
            x is not None and x is not False
            for x in (last, record_id, failed or None, all_ or None)
        )
        > 1
    ):
        raise UsageError("choose one of --last, --id, --failed and --all")
    secret = secret_from_env(resign_env, "--resign-env") if resign_env else resign
    if secret is not None and verbatim:
        raise UsageError("--verbatim keeps the original signature: do not combine it with --resign")
    session = _session_file(file)
    requests, forwards = _load(session, printer)
    # (position among the session's requests, record): the position names a record without a
    # usable id.
    events = [
        (n, r)
        for n, r in enumerate(requests, 1)
        if r.get("kind") == "event" and not r.get("duplicate")
    ]
    if record_id is not None:
        chosen = [
            (n, r)
            for n, r in events
            if isinstance(r.get("id"), str) and r["id"].startswith(record_id)
        ]
        if len(chosen) != 1:
            raise UsageError(
                f"{len(chosen)} recorded events match --id {record_id!r}",
                hint="`apimw events log` lists the ids",
            )
    elif failed:
        chosen = [(n, r) for n, r in events if _forward_failed(_outcomes(r, forwards))]
    elif all_:
        chosen = events
    else:
        chosen = events[-(last or 1) :]
    if not chosen:
        printer.info("nothing to replay")
        printer.data([], lambda: None)
        return
    results: list[ReplayResult] = []
    rows: list[dict[str, Any]] = []
    with replay_client(timeout) as http:
        for position, r in chosen:
            rid = r.get("id")
            label = rid if isinstance(rid, str) else f"request #{position} of the session"
            try:
                if not isinstance(rid, str):
                    raise Unsendable(f"its id is {json_type(rid)}, not text")
                body = body_of(r)
            except Unsendable as why:
                result = ReplayResult(label, None, 0.0, f"not sent: {why}", "unsendable")
            else:
                result = send(http, to, rid, body, r.get("headers"), secret)
            results.append(result)
            sent = result.failure != "unsendable"
            rows.append(
                {"id": rid, "type": r.get("event_type"), "status": result.status,
                 "ms": round(result.ms, 1) if sent else None, "error": result.error}
            )  # fmt: skip
            if not sent:
                printer.info(f"{label}: {result.error}")
            elif not printer.json:
                outcome = result.error or str(result.status)
                printer.line(
                    f"{result.record_id}  {_shown(r.get('event_type'))}  → {outcome}"
                    f"  {result.ms:.0f}ms"
                )
    if printer.json:
        printer.data(_bounded(rows))
    error = _replay_failure(results, to, timeout, resigned=secret is not None)
    if error is not None:
        raise error
    printer.success(f"replayed {len(results)} event{'s' if len(results) != 1 else ''} to {to}")
