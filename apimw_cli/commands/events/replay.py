"""`apimw events replay`: send recorded events to your app again, byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from apimw_cli.commands.common import (
    RESIGN,
    check_http_url,
    duration_option,
    read_secret,
    secret_options,
    state,
)
from apimw_cli.commands.events.display import bounded, shown
from apimw_cli.errors import ApimwError, UsageError
from apimw_cli.receiver import sessions
from apimw_cli.receiver.sessions import Record

if TYPE_CHECKING:
    from apimw_cli.output import Printer
    from apimw_cli.receiver.replay import ReplayResult


RESIGN_VALUE, RESIGN_ENV, RESIGN_FILE = secret_options(RESIGN, "Sign again")


def replay(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", metavar="URL", help="Your app's URL.")],
    file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE", help="A session file [default: the latest session]."),
    ] = None,
    last: Annotated[
        int | None, typer.Option("--last", metavar="N", help="The last N events.", min=1)
    ] = None,
    record_id: Annotated[
        str | None,
        typer.Option("--id", metavar="ID", help="One event, by record id (or a unique prefix)."),
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Events whose forward failed (or never happened).")
    ] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every event of the session.")] = False,
    resign: Annotated[str | None, RESIGN_VALUE] = None,
    resign_env: Annotated[str | None, RESIGN_ENV] = None,
    resign_file: Annotated[Path | None, RESIGN_FILE] = None,
    verbatim: Annotated[
        bool, typer.Option("--verbatim", help="Original headers and signature (the default).")
    ] = False,
    timeout: Annotated[
        float,
        duration_option("--timeout", "How long each request may take", default=30),
    ] = 30.0,
) -> None:
    """Send recorded events to your app again, byte for byte.

    Handy after fixing a handler: the same requests, with their original headers and signature
    unless --resign asks for a new one. Without --last, --id, --failed or --all, the last event
    is replayed. An event that cannot be sent as it was recorded is reported and skipped; the
    others are sent.

    Examples:

      apimw events replay --to http://localhost:3000/webhooks

      apimw events replay --failed --to http://localhost:3000/webhooks

      apimw events replay --last 5 --resign-env WEBHOOK_SECRET --to http://localhost:3000/hooks
    """
    printer = state(ctx).printer
    check_http_url(to, "--to")
    if sum(x is not None and x is not False for x in (last, record_id, failed, all_)) > 1:
        raise UsageError("choose one of --last, --id, --failed and --all")
    secret = read_secret(RESIGN, printer.warn, resign, resign_env, resign_file)
    if secret is not None and verbatim:
        raise UsageError("--verbatim keeps the original signature: do not combine it with --resign")
    session = sessions.session_file(file)
    requests, forwards = sessions.load(session, printer.warn)
    chosen = sessions.choose_events(
        requests, forwards, last=last, record_id=record_id, failed=failed, every=all_
    )
    if not chosen:
        printer.info("nothing to replay")
        printer.data([], lambda: None)
        return
    results, rows = _send_all(printer, chosen, to, secret, timeout)
    if printer.json:
        printer.data(bounded(rows))
    error = _replay_failure(results, to, timeout, resigned=secret is not None)
    if error is not None:
        raise error
    printer.success(f"replayed {len(results)} event{'s' if len(results) != 1 else ''} to {to}")


def _send_all(
    printer: Printer, chosen: list[tuple[int, Record]], to: str, secret: str | None, timeout: float
) -> tuple[list[ReplayResult], list[dict[str, Any]]]:
    """Send each chosen event in turn, a line for each; the results, and the rows of -o json."""
    from apimw_cli.receiver.replay import ReplayResult, Unsendable, body_of, json_type
    from apimw_cli.receiver.replay import client as replay_client
    from apimw_cli.receiver.replay import replay as send

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
                    f"{result.record_id}  {shown(r.get('event_type'))}  "
                    f"{printer.out_glyphs.arrow} {outcome}"
                    f"  {result.ms:.0f}ms"
                )
    return results, rows


def _replay_failure(
    results: list[ReplayResult], to: str, timeout: float, resigned: bool
) -> ApimwError | None:
    """The error that ends a replay with records not sent or replays that failed, or None."""
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
        what, failure_hints = _failures(failed, to, timeout, resigned)
        messages.append(
            f"of the {len(sent)} sent, {len(failed)} failed ({what})"
            if unsendable
            else f"{len(failed)} of {len(sent)} replays failed ({what})"
        )
        hints += failure_hints
    if not messages:
        return None
    return ApimwError("; ".join(messages), hint="; ".join(hints))


def _failures(
    failed: list[ReplayResult], to: str, timeout: float, resigned: bool
) -> tuple[str, list[str]]:
    """What went wrong with the failed replays, counted ("2 timed out, 1 answered 500"), and a
    hint for each kind of failure."""
    from collections import Counter

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
    hints: list[str] = []
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
        hints.append(f"your app answered {', '.join(map(str, others))}: its logs say why")
    return ", ".join(what), hints
