"""The inspector over a session log (apimw_cli/inspector/): checking `--inspect-port`, and
starting the page with its index and actions, stopped together.

`apimw listen` serves it live over the log it writes; `apimw events inspect` over a past one.
Both come here, so the page is the same. The inspector package (starlette, uvicorn) is imported
only when a page starts, never for `--help`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from apimw_cli.errors import ApimwError, UsageError

if TYPE_CHECKING:
    from apimw_cli.inspector.server import RunningInspector
    from apimw_cli.receiver.recorder import Recorder

__all__ = ["HOST", "OFF_WITHOUT_LOG", "Page", "check_port", "serving"]

HOST = "127.0.0.1"  # the inspector serves on loopback only
OFF_WITHOUT_LOG = "inspector off: --no-record keeps no session log to inspect"


@dataclass(frozen=True)
class Page:
    """What one inspector page shows and where its actions send. `secret` re-signs replays and
    curl commands; it never reaches the page."""

    log: Path  # the session log it reads
    live: bool  # listen is still writing it
    target: str | None = None  # where a replay goes: listen's first --forward-to, or --to
    receive_url: str | None = None  # listen's own local URL (curl's fallback target)
    secret: str | None = None
    timeout: float = 30.0  # how long a replay may take
    port: int | None = None  # None: 4040 or the next free; 0: any free
    port_option: str = "--inspect-port"  # the option that chose it, for the hints


def check_port(inspect_port: int | None, port: int, *, no_inspect: bool, no_record: bool) -> None:
    """--inspect-port goes with an inspector, on a port of its own that is free now. (A default
    port that is taken is no error: the inspector takes the next free one.)"""
    if inspect_port is None:
        return
    if no_inspect:
        raise UsageError("--inspect-port and --no-inspect exclude each other")
    if no_record:
        raise UsageError(
            "--inspect-port: the inspector shows the session log, and --no-record keeps none",
            hint="drop --no-record, or --inspect-port",
        )
    if inspect_port and inspect_port == port:
        raise UsageError(f"--inspect-port {inspect_port} is the receiver's --port too")
    from apimw_cli.sockets import port_is_free

    if inspect_port and not port_is_free(HOST, inspect_port):
        # Said now, before a sandbox, a tunnel or a webhook is set up for nothing; the same
        # error the inspector gives when it finds the port taken as it starts.
        from apimw_cli.inspector.server import InspectorPortBusy

        raise InspectorPortBusy(HOST, inspect_port)


@contextlib.contextmanager
def serving(page: Page, title: str, recorder: Recorder | None = None) -> Iterator[RunningInspector]:
    """The inspector serving `page` from its own thread; stopped on exit (however it ends).
    `recorder`: the live session's own, which replay lines then go through (one writer)."""
    from apimw_cli.inspector import server
    from apimw_cli.inspector.actions import Actions, Source
    from apimw_cli.inspector.logindex import LogIndex
    from apimw_cli.output.masking import mask_url

    # Live and forwarding: an event not forwarded yet is "pending", not "none".
    index = LogIndex(page.log, live=page.live, forwarding=page.live and page.target is not None)
    source = Source(
        log=page.log,
        live=page.live,
        target=page.target,
        receive_url=page.receive_url,
        secret=page.secret,
        timeout=page.timeout,
    )
    info = {
        "title": title,
        "target": mask_url(page.target) if page.target else None,
        "receive_url": page.receive_url,
    }
    other_port = f"pick another with {page.port_option} (0: any free port)"
    try:
        actions = Actions(index, source, recorder=recorder)
        running = server.start(index, actions, info, host=HOST, port=page.port)
    except server.InspectorPortBusy as exc:
        if page.port_option == "--inspect-port":
            raise  # its hint is listen's
        raise ApimwError(exc.message, hint=other_port) from None
    except (OSError, RuntimeError, TimeoutError) as exc:
        off = ", or --no-inspect" if page.port_option == "--inspect-port" else ""
        raise ApimwError(
            f"cannot start the inspector on {HOST}: {exc}", hint=other_port + off
        ) from exc
    with running:
        yield running
