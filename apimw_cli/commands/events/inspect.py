"""`apimw events inspect`: the inspector page over a recorded session, without receiving."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from apimw_cli.commands.common import (
    RESIGN,
    check_http_url,
    read_secret,
    remember,
    secret_options,
    state,
)
from apimw_cli.receiver import sessions

if TYPE_CHECKING:
    from apimw_cli.output import Printer

RESIGN_VALUE, RESIGN_ENV, RESIGN_FILE = secret_options(RESIGN, "Sign replays and curl commands")


def inspect(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(metavar="SESSION", help="A session file [default: the latest session]."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            metavar="PORT",
            help="The page's port on 127.0.0.1 (0: any free) [default: 4040 or the next].",
            min=0,
            max=65535,
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="URL", help="Your app's URL: where replay sends events."),
    ] = None,
    resign: Annotated[str | None, RESIGN_VALUE] = None,
    resign_env: Annotated[str | None, RESIGN_ENV] = None,
    resign_file: Annotated[Path | None, RESIGN_FILE] = None,
    no_open: Annotated[
        bool, typer.Option("--no-open", help="Do not open the page in a browser.")
    ] = False,
) -> None:
    """Show a recorded session in the inspector page, until Ctrl-C.

    The page lists the session's events with their headers, bodies, signature verdicts and
    forwards; with --to it replays them to your app (as recorded, or signed again with
    --resign-env). It is served on 127.0.0.1 only and opens in your browser when run in a
    terminal; the URL is printed (as a JSON line when piped, or with -o json).

    Examples:

      apimw events inspect

      apimw events inspect --to http://localhost:3000/webhooks --resign-env WEBHOOK_SECRET
    """
    printer = state(ctx).printer
    if to is not None:
        check_http_url(to, "--to")
    secret = read_secret(RESIGN, printer.warn, resign, resign_env, resign_file)
    remember(secret)  # masked in every message
    session = sessions.session_file(file)
    from apimw_cli.session.inspection import Page, serving
    from apimw_cli.session.stopping import StopEvent, stop_on_sigterm

    page = Page(log=session, live=False, target=to, secret=secret, port=port, port_option="--port")
    stop = StopEvent()
    # Ctrl-C or SIGTERM is the way to stop it (exit 0) from the moment the URL is out: both
    # are in place before it is announced, so a script that stops it at once gets a clean stop.
    with (
        stop_on_sigterm(stop),
        serving(page, "apimw events inspect") as running,
        contextlib.suppress(KeyboardInterrupt),
    ):
        _announce(printer, running.url, session, to, no_open=no_open)
        while not stop.wait(0.5):
            pass


def _announce(printer: Printer, url: str, session: Path, to: str | None, *, no_open: bool) -> None:
    """The URL: for people on a terminal (and the page opened there), else one JSON line."""
    terminal = sys.stdout.isatty()
    if printer.json or not terminal:
        printer.line(json.dumps({"url": url, "session": str(session)}))
        printer.info(f"inspector at {url}; Ctrl-C to stop")
    else:
        printer.fields(
            {
                "inspector": url,
                "session": str(session),
                "replay to": to or "(nowhere: add --to URL)",
            },
            title="apimw events inspect",
        )
        printer.info("Ctrl-C to stop.")
    if terminal and not no_open and not printer.json:
        # A console browser (lynx) would hold the terminal until it quits: never this thread.
        threading.Thread(target=_open, args=(url,), daemon=True, name="apimw-browser").start()


def _open(url: str) -> None:
    import webbrowser

    with contextlib.suppress(webbrowser.Error):  # the URL is printed: open it by hand
        webbrowser.open(url)
