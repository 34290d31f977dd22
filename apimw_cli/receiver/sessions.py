"""The sessions `apimw listen` records (recorder.py writes them), read back for `apimw events`:
find a session, load its records, choose the ones to show or replay, and give them as data.

A session file is input from outside (it may be torn, edited, or not ours at all): every field
of a record may hold any JSON value. Nothing here assumes a type; what cannot be replayed is
reported and skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from apimw_cli.errors import ApimwError, UsageError

Record = dict[str, Any]
Forwards = dict[str, list[Record]]  # forward outcomes by request id

RECORD_PREFIX = "rec_"  # how a record id starts


# --- writing -----------------------------------------------------------------------------------


def check_record_file(path: Path) -> None:
    """--record names a file to append to (a new one, or an existing regular file): not a
    device such as /dev/null, nor a pipe (the log is read back: replay, the inspector)."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:  # not there yet (created then), or not reachable (said when opening it)
        return
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"--record {path}: not a regular file; the session log is a file apimw appends to "
            "and reads back",
            hint="to keep no session log, use --no-record",
        )


# --- reading -----------------------------------------------------------------------------------


def session_file(file: Path | None) -> Path:
    """`file` if it exists, or the latest recorded session; a usage error when there is none."""
    from apimw_cli.receiver.retention import session_logs
    from apimw_cli.settings import sessions_dir

    if file is not None:
        if not file.is_file():
            raise UsageError(f"no such session file: {file}")
        return file
    sessions = session_logs(sessions_dir())  # a log pruned meanwhile is simply not there
    if not sessions:
        raise UsageError(
            "no recorded session yet",
            hint="`apimw listen` records what it receives; or name a file recorded with --record",
        )
    return sessions[-1]


def all_session_files() -> list[Path]:
    """Every recorded session kept in the data dir, oldest first; a usage error when none."""
    from apimw_cli.receiver.retention import session_logs
    from apimw_cli.settings import sessions_dir

    found = session_logs(sessions_dir())
    if not found:
        raise UsageError(
            "no recorded session yet",
            hint="`apimw listen` records what it receives",
        )
    return found


def load(file: Path, warn: Callable[[str], None]) -> tuple[list[Record], Forwards]:
    """The requests of a session, and the forward outcomes by request id; warns about the lines
    that are not records."""
    from apimw_cli.receiver.recorder import SkippedLines, read_records

    requests: list[Record] = []
    forwards: Forwards = {}
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
        warn(
            f"skipped {lines} of {file} that {'are' if skipped.count != 1 else 'is'} not a"
            " record (a torn write, or the file was edited)"
        )
    return requests, forwards


def outcomes(request: Record, forwards: Forwards) -> list[Record]:
    """The forward outcomes of one request (none when its id is not text)."""
    record_id = request.get("id")
    return forwards.get(record_id, []) if isinstance(record_id, str) else []


def body(record: Record) -> tuple[bytes | None, str | None]:
    """The exact body bytes of a request record, or None and why they cannot be had."""
    from apimw_cli.receiver.replay import Unsendable, body_of

    try:
        return body_of(record), None
    except Unsendable as why:
        return None, str(why)


# --- choosing ------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def forward_failed(forwarded: list[Record]) -> bool:
    """No forward, or one with an error, a status >= 400, or no status that makes sense."""
    return not forwarded or any(
        o.get("error") is not None or not _is_int(o.get("status")) or o["status"] >= 400
        for o in forwarded
    )


def find_request(requests: list[Record], wanted: str, session: Path, latest: bool) -> Record:
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


def choose_events(
    requests: list[Record],
    forwards: Forwards,
    *,
    last: int | None = None,
    record_id: str | None = None,
    failed: bool = False,
    every: bool = False,
) -> list[tuple[int, Record]]:
    """The events to replay, as (position among the session's requests, record): the position
    names a record without a usable id. Only events, never a duplicate; by default the last."""
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
        return chosen
    if failed:
        return [(n, r) for n, r in events if forward_failed(outcomes(r, forwards))]
    if every:
        return events
    return events[-(last or 1) :]


def recorded_data(record: Record, forwarded: list[Record], session: Path) -> dict[str, Any]:
    """Everything recorded about one request, as `events show -o json` gives it; the body as
    recorded."""
    content, problem = body(record)
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
        "size": None if content is None else len(content),
        "body_error": problem,
        "forwards": [
            {
                "target": o.get("target"),
                "status": o.get("status"),
                "ms": o.get("ms"),
                "error": o.get("error"),
                "at": o.get("at"),
            }
            for o in forwarded
        ],
    }


def log_row(record: Record, forwards: Forwards) -> dict[str, Any]:
    """One request as `events log -o json` gives it."""
    verdict = record.get("verdict")
    content = body(record)[0]
    return {
        "id": record.get("id"),
        "received_at": record.get("received_at"),
        "type": record.get("event_type"),
        "kind": record.get("kind"),
        "status": record.get("status"),
        "verdict": verdict.get("code") if isinstance(verdict, dict) else None,
        "duplicate": record.get("duplicate"),
        "delivery_id": record.get("delivery_id"),
        "size": None if content is None else len(content),
        "forwards": [
            {"target": o.get("target"), "status": o.get("status"), "error": o.get("error")}
            for o in outcomes(record, forwards)
        ],
    }
