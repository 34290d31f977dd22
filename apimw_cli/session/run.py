"""One `apimw listen` session, from set-up to clean-up.

The receiver (receiver/) runs in a thread and hands its records to a `Feed`, which counts them
and decides `--expect` on the receiver's thread; this (the main) thread shows what the feed
holds, keeps the tunnel and the webhook healthy, and watches the clock. On Ctrl-C, SIGTERM,
`--expect` decided or `--timeout`, it stops cleanly: forwards already acknowledged to APIMW are
finished (bounded), what the session registered is deleted or restored, the receiver drains,
and `run()` returns how it ended. Showing the summary and the exit are the command's.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from apimw_cli.models import Forwarded, Received, Tally
from apimw_cli.output.live import LiveView
from apimw_cli.receiver.feed import Feed
from apimw_cli.session import inspection, records, resources
from apimw_cli.session.matching import Matcher
from apimw_cli.session.outcome import Counts, Outcome, at_deadline, decide
from apimw_cli.session.records import Owner
from apimw_cli.session.screen import BacklogReport, Screen, silence_stdout
from apimw_cli.session.stopping import HeldCtrlC, StopEvent, stop_on_sigterm
from apimw_cli.session.watchdog import Watchdog
from apimw_cli.settings import write_private_file

if TYPE_CHECKING:
    from apimw_cli.api.client import ApiClient
    from apimw_cli.models import Webhook
    from apimw_cli.output import Printer
    from apimw_cli.receiver.recorder import Recorder
    from apimw_cli.receiver.server import RunningReceiver
    from apimw_cli.session.options import Invocation, ListenOptions

__all__ = ["FINISH_LIMIT", "ListenSession", "SessionResult"]

FINISH_LIMIT = 30.0  # seconds listen waits for acknowledged forwards once stopping
OUTPUT_CLOSED = "the output was closed"  # `listen | head`: the reader is gone


@dataclass(frozen=True)
class SessionResult:
    """How a session ended, what it counted, and the webhook it received through."""

    outcome: Outcome
    duration_s: float
    tally: Tally
    webhook_id: str | None
    matched: Counts | None = None  # with --where: the events by type that met the conditions

    @property
    def counted(self) -> Tally | Counts:
        """What --expect counted: the events --where matched, else all of them."""
        return self.tally if self.matched is None else self.matched


class ListenSession:
    """Runs once: `ListenSession(invocation, options).run()`; `view` shows it, live."""

    def __init__(self, invocation: Invocation, options: ListenOptions) -> None:
        self.invocation = invocation
        self.options = options
        self.view = LiveView(
            invocation.printer,
            ndjson=options.ndjson,
            verbose=options.verbose,
            signature_hint=options.signature_hint,
            recorded=options.receiver.record is not None,
            forwarding=bool(options.receiver.forward_to),
        )
        # The receiver counts and decides (--expect) as it appends here; this thread shows what
        # it finds every tick (Screen.TICK), a batch in one write. (Waking this thread per event
        # would cost the receiver a GIL hand-over each time.) A reader that stalls makes the feed
        # skip lines, never grow.
        self.matcher = Matcher(options.where) if options.where else None
        self.feed = Feed(decide=self._decide if options.expectations else None)
        self.stop = StopEvent()
        self.ctrl_c = HeldCtrlC(self.stop)
        self.webhook: Webhook | None = None

    def run(self) -> SessionResult:
        started = time.monotonic()
        with stop_on_sigterm(self.stop):
            outcome = self._serve()
        tally = self.feed.tally
        matched = self.matcher.counts() if self.matcher is not None else None
        if outcome is None:  # --timeout passed: judged now that everything has drained
            outcome = at_deadline(tally, self.options.expectations, matched)
        webhook_id = self.webhook.id if self.webhook is not None else None
        duration = round(time.monotonic() - started, 3)
        return SessionResult(outcome, duration, tally, webhook_id, matched)

    def _decide(self, item: Received | Forwarded, tally: Tally) -> Outcome | None:
        if self.matcher is None:
            return decide(item, tally, self.options.expectations)
        self.matcher.add(item)  # on the receiver's thread, under the feed's lock
        return decide(item, tally, self.options.expectations, self.matcher.counts())

    def _serve(self) -> Outcome | None:
        """Set up, show events until told to stop, clean up; None when --timeout passed."""
        try:
            with contextlib.ExitStack() as stack, self.ctrl_c:
                running, watchdog = self._start(stack)
                screen = Screen(self.view, self.feed)
                outcome = self._loop(
                    screen, watchdog, BacklogReport(self.view, running.pending_forwards)
                )
                self.stop.set()
                # APIMW already got its 200 for what is queued: forward it before stopping.
                with contextlib.suppress(BrokenPipeError):
                    _finish_forwards(self.view, screen, running)
            # The receiver has drained: show what arrived while stopping.
            with contextlib.suppress(BrokenPipeError):
                while screen.catch_up():
                    pass
        except BrokenPipeError:
            silence_stdout()
            return Outcome.stopped(OUTPUT_CLOSED)
        return outcome

    def _loop(self, screen: Screen, watchdog: Watchdog, backlog: BacklogReport) -> Outcome | None:
        options = self.options
        deadline = None if options.deadline_s is None else time.monotonic() + options.deadline_s
        try:
            if self.ctrl_c.release():  # pressed after the banner, before this loop ran
                raise KeyboardInterrupt
            while not self.stop.is_set():
                watchdog.check()
                backlog.check()
                if isinstance(self.feed.decided, Outcome):
                    return self.feed.decided
                if deadline is not None and time.monotonic() > deadline:
                    return None
                screen.catch_up()
                if pause := screen.pause():
                    self.stop.wait(pause)
        except KeyboardInterrupt:
            if not options.ndjson:
                self.invocation.printer.info("")  # past the ^C the terminal echoed
            return Outcome.interrupted()
        except BrokenPipeError:
            silence_stdout()
            return Outcome.stopped(OUTPUT_CLOSED)
        return Outcome.stopped()

    # --- set-up: each step registers its own clean-up on `stack` ---
    def _start(self, stack: contextlib.ExitStack) -> tuple[RunningReceiver, Watchdog]:
        invocation, options, view = self.invocation, self.options, self.view
        api_base, client = self._connect_api(stack)
        if client is not None and not options.webhook_ref:
            # A temporary webhook: its URL carries the session's marker, and only it is served.
            marked = records.marked_path(options.receive_path, records.new_session_id())
            self.options = options = replace(
                options, receiver=replace(options.receiver, path=marked)
            )
        debug = invocation.printer.info if invocation.debug else None
        running = stack.enter_context(resources.receiver(options.receiver, self.feed, debug))
        local_url = running.url.rstrip("/") + options.receive_path
        inspector_url = self._inspector(stack, local_url, running.recorder)
        tunnel, public_url = None, None
        if options.tunnel:
            tunnel, public = stack.enter_context(
                resources.tunnel_to(running.port, invocation.settings, options.domain, debug)
            )
            public_url = public.rstrip("/") + options.receive_path
            view.note(f"tunnel open: {public} -> {running.url}", public_url=public)
        receive_url = public_url or local_url
        if client is not None:
            self._route_webhook(stack, client, receive_url)
        watchdog = Watchdog(
            tunnel, client, self.webhook, options.receive_path, view, options.receiver.probe_token
        )
        webhook_id = self.webhook.id if self.webhook is not None else None
        self.ctrl_c.hold()  # announced: from here a Ctrl-C stops the session as in the loop
        urls = _Urls(local_url, public_url, api_base, inspector_url)
        _announce(view, invocation.printer, options, urls, webhook_id)
        if options.ready_file is not None:
            write_private_file(options.ready_file, (receive_url + "\n").encode())
            stack.callback(options.ready_file.unlink, missing_ok=True)
        if options.demo and client is not None:
            demo_client = stack.enter_context(invocation.client())
            stack.enter_context(resources.demo_traffic(demo_client, self.stop))
        return running, watchdog

    def _inspector(
        self, stack: contextlib.ExitStack, local_url: str, recorder: Recorder | None
    ) -> str | None:
        """The inspector page over the session log, stopped on exit; its URL (None without it:
        --no-inspect, or --no-record and so no log)."""
        options = self.options
        log = options.receiver.record
        if options.inspect is None or log is None:
            return None
        page = inspection.Page(
            log=log,
            live=True,
            target=options.receiver.forward_to[0] if options.receiver.forward_to else None,
            receive_url=local_url,
            secret=options.secret,
            timeout=options.receiver.forward_timeout,
            port=options.inspect.port,
        )
        running = stack.enter_context(inspection.serving(page, "apimw listen", recorder))
        return str(running.url)

    def _connect_api(self, stack: contextlib.ExitStack) -> tuple[str | None, ApiClient | None]:
        """The API events come from (the sandbox's, or APIMW's through the tunnel), with its
        client; (None, None) for a local receiver only. Prunes stale temporary webhooks."""
        invocation, options = self.invocation, self.options
        if invocation.sandbox:
            base = invocation.settings.api_base
            api_base, shared = stack.enter_context(resources.sandbox(base, self.view))
            invocation.use_sandbox(api_base)
            # A sandbox that outlives listen may hold a killed session's webhook.
            prune = shared and not options.keep_stale
        elif options.tunnel:
            api_base = invocation.settings.api_base
            prune = not options.keep_stale
        else:
            return None, None
        client = stack.enter_context(invocation.client())
        if prune:
            from apimw_cli.session.registration import prune_stale

            prune_stale(client, self.view, self._owner())
        return api_base, client

    def _owner(self) -> Owner:
        settings = self.invocation.settings
        return Owner(settings.api_base, settings.profile)

    def _route_webhook(self, stack: contextlib.ExitStack, client: ApiClient, url: str) -> None:
        """Point `--webhook` at `url` (restored on exit), or register a temporary webhook
        there (deleted on exit)."""
        from apimw_cli.session import registration

        view, ref = self.view, self.options.webhook_ref
        if ref:
            self.webhook = webhook = registration.repoint(client, ref, url, view)
            stack.callback(registration.restore, client, webhook.id, webhook.url, view)
            return
        secret = self.options.secret
        assert secret is not None  # the command gives one whenever listen registers
        subscribe = list(self.options.subscribe)
        debug = self.invocation.printer.info if self.invocation.debug else None
        self.webhook = webhook = registration.register_temporary(
            client, url, subscribe, secret, self._owner(), debug
        )
        stack.callback(registration.unregister, client, webhook, view)
        view.note(f"registered temporary webhook {webhook.id} for {url}")
        registration.report_verification(client, webhook, view)


@dataclass(frozen=True)
class _Urls:
    """Where a session receives (locally, and publicly through the tunnel), the API it
    registered with, and its inspector page."""

    local: str
    public: str | None
    api: str | None
    inspector: str | None


def _announce(
    view: LiveView, printer: Printer, options: ListenOptions, urls: _Urls, webhook_id: str | None
) -> None:
    """The session's header: where it receives, forwards, records and shows its events."""
    view.ready(
        receive_url=urls.local,
        public_url=urls.public,
        forward_to=options.receiver.forward_to,
        webhook_id=webhook_id,
        secret=options.secret,
        verifying=not options.receiver.skip_verify,
        api=urls.api,
        inspector=urls.inspector,
    )
    if options.inspect is not None and options.receiver.record is None:
        view.note(inspection.OFF_WITHOUT_LOG)
    if options.stable_secret and not options.ndjson:
        printer.info(
            "The signing secret is this profile's own, the same every session: give it "
            "to your app once (`apimw listen --print-secret`)."
        )
    if options.receiver.record is not None and not options.ndjson:
        printer.info(f"recording to {options.receiver.record}")


def _finish_forwards(view: LiveView, screen: Screen, running: RunningReceiver) -> None:
    """Wait (bounded, saying so) for the forwards of events APIMW already got a 200 for; a
    second Ctrl-C gives up on them (they are then reported as not forwarded)."""
    pending = running.pending_forwards()
    if not pending:
        return
    deadline = time.monotonic() + FINISH_LIMIT
    view.note(
        f"finishing {pending} forward(s) already acknowledged to APIMW "
        f"(up to {FINISH_LIMIT:.0f} s; Ctrl-C again to stop without them)",
        finishing=pending,
    )
    next_word = time.monotonic() + 5.0
    try:
        while (pending := running.pending_forwards()) and time.monotonic() < deadline:
            screen.catch_up()
            if time.monotonic() >= next_word:
                left = deadline - time.monotonic()
                view.note(f"{pending} forward(s) to go, {left:.0f} s left", finishing=pending)
                next_word += 5.0
            time.sleep(0.05)
    except KeyboardInterrupt:
        view.note(f"stopping without {running.pending_forwards()} forward(s)", finishing=0)
    if running.pending_forwards():
        running.abandon_forwards()
    screen.catch_up()
