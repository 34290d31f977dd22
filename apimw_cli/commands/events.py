"""`apimw events`: the event catalog and realistic sample payloads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from apimw_cli import catalog
from apimw_cli.commands.common import secret_from_env, state
from apimw_cli.errors import ApimwError, UsageError

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


@app.command("show")
def show(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="An event type.")],
) -> None:
    """Print a realistic sample payload (what the sandbox sends)."""
    printer = state(ctx).printer
    if catalog.get(event_type) is None:
        guess = catalog.suggest(event_type)
        raise UsageError(
            f"unknown event type {event_type!r}" + (f": did you mean {guess!r}?" if guess else ""),
            hint="`apimw events list` shows them all",
        )
    printer.data(catalog.sample(event_type))


# --- recorded sessions (written by `apimw listen`) ------------------------------------------


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


def _load(file: Path) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The requests of a session, and the forward outcomes by request id."""
    from apimw_cli.receiver.recorder import read_records

    requests: list[dict[str, Any]] = []
    forwards: dict[str, list[dict[str, Any]]] = {}
    for record in read_records(file):
        if record.get("record") == "request":
            requests.append(record)
        elif record.get("record") == "forward":
            forwards.setdefault(str(record.get("id")), []).append(record)
    return requests, forwards


def _forward_failed(outcomes: list[dict[str, Any]]) -> bool:
    return not outcomes or any(
        o.get("error") is not None or (o.get("status") or 0) >= 400 for o in outcomes
    )


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
    requests, forwards = _load(session)
    if last is not None:
        requests = requests[-last:]
    rows: list[dict[str, Any]] = []
    for r in requests:
        outcomes = forwards.get(str(r.get("id")), [])
        rows.append(
            {
                "id": r.get("id"),
                "received_at": r.get("received_at"),
                "type": r.get("event_type"),
                "kind": r.get("kind"),
                "status": r.get("status"),
                "verdict": (r.get("verdict") or {}).get("code"),
                "duplicate": r.get("duplicate"),
                "forwards": [
                    {"target": o.get("target"), "status": o.get("status"), "error": o.get("error")}
                    for o in outcomes
                ],
            }
        )

    def human() -> None:
        import time as _time

        printer.info(f"session {session}")
        printer.table(
            ["id", "time", "type", "status", "signature", "forwarded"],
            [
                [
                    row["id"],
                    _time.strftime("%H:%M:%S", _time.localtime(float(row["received_at"] or 0))),
                    row["type"] or row["kind"],
                    row["status"],
                    row["verdict"] or "",
                    ", ".join(
                        str(f["status"] if f["error"] is None else f["error"])
                        for f in row["forwards"]
                    ),
                ]
                for row in rows
            ],
        )

    printer.data(rows, human)


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

    Without --last, --id, --failed or --all, the last event is replayed.

    Example: apimw events replay --failed --to http://localhost:3000/webhooks
    """
    from apimw_cli.receiver.recorder import record_body
    from apimw_cli.receiver.replay import client as replay_client
    from apimw_cli.receiver.replay import replay as send

    printer = state(ctx).printer
    if not to.startswith(("http://", "https://")):
        raise UsageError(f"--to {to!r} is not an http(s) URL")
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
    requests, forwards = _load(session)
    events = [r for r in requests if r.get("kind") == "event" and not r.get("duplicate")]
    if record_id is not None:
        chosen = [r for r in events if str(r.get("id", "")).startswith(record_id)]
        if len(chosen) != 1:
            raise UsageError(
                f"{len(chosen)} recorded events match --id {record_id!r}",
                hint="`apimw events log` lists the ids",
            )
    elif failed:
        chosen = [r for r in events if _forward_failed(forwards.get(str(r.get("id")), []))]
    elif all_:
        chosen = events
    else:
        chosen = events[-(last or 1) :]
    if not chosen:
        printer.info("nothing to replay")
        printer.data([], lambda: None)
        return
    results: list[dict[str, Any]] = []
    outcomes = []
    with replay_client(timeout) as http:
        for r in chosen:
            body = record_body(r)
            headers = r.get("headers") if isinstance(r.get("headers"), dict) else {}
            assert isinstance(headers, dict)
            result = send(http, to, str(r.get("id")), body, headers, secret)
            outcomes.append(result)
            results.append(
                {"id": result.record_id, "type": r.get("event_type"), "status": result.status,
                 "ms": round(result.ms, 1), "error": result.error}
            )  # fmt: skip
            if not printer.json:
                outcome = result.error or str(result.status)
                printer.line(
                    f"{result.record_id}  {r.get('event_type')}  → {outcome}  {result.ms:.0f}ms"
                )
    if printer.json:
        printer.data(results)
    bad = [o for o in outcomes if o.error is not None or (o.status or 0) >= 400]
    if bad:
        raise ApimwError(f"{len(bad)} of {len(results)} replays failed", hint=f"is {to} up?")
    printer.success(f"replayed {len(results)} event{'s' if len(results) != 1 else ''} to {to}")
