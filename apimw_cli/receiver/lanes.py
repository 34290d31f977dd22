"""The consumers that empty the forward backlog: `concurrency` lanes, each forwarding one job at a
time (one lane: receipt order), each job to all its targets at once.

A lane runs on callbacks, not as a task: the app's answer (the HTTP client calls back from its
`data_received`) reports the outcome and writes the next job's request in the same pass of the
event loop. An awaiting task needs one more pass per forward, and the forwarder shares its loop
with the receiver: during a burst every pass also serves each request that came in meanwhile,
so passes, not CPU, are what held an ordered forwarder to ~120 forwards a second. Even at one
forward a pass, a pass serves 4-16 received events during a burst; so the receiver also lets
the answers in between two requests (Forwarder.poll, on http1's polled connections), and a
lane advances as fast as the app answers.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from apimw_cli.models import Forwarded
from apimw_cli.receiver.backlog import Backlog, Job

__all__ = ["Lanes", "Send"]

Landed = Callable[[Forwarded], None]
# Start forwarding (record id, target, body, headers, timeout) and call back with the outcome
# later, never from within: that is the HTTP client's contract.
Send = Callable[[str, str, bytes, list[tuple[bytes, bytes]], float, Landed], None]


class _Flight:
    """A job being forwarded: its outcomes so far, per target."""

    __slots__ = ("job", "left", "outcomes")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.outcomes: list[Forwarded | None] = [None] * len(job.targets)
        self.left = len(job.targets)


class Lanes:
    """Take jobs from `backlog` while a lane is free; `report` every outcome, in job order per
    lane (with one lane: receipt order)."""

    def __init__(
        self,
        backlog: Backlog,
        count: int,
        send: Send,
        report: Landed,
        timeout: float,
        shutdown_error: str,
    ) -> None:
        self._backlog = backlog
        self._free = count
        self._send = send
        self._report = report
        self._timeout = timeout
        self._shutdown_error = shutdown_error
        self._flights: set[_Flight] = set()
        self._stopped = False
        self._pumping = False
        self._scheduled = False
        backlog.on_put = self._wake

    @property
    def busy(self) -> int:
        """Jobs being forwarded right now."""
        return len(self._flights)

    def stop(self) -> None:
        """Stop taking jobs; report the ones in flight (what has not landed as not forwarded).
        Their requests are the HTTP clients' to abort; what lands later is ignored."""
        self._stopped = True
        flights, self._flights = self._flights, set()
        for flight in flights:
            job = flight.job
            for index, target in enumerate(job.targets):
                outcome = flight.outcomes[index]
                if outcome is None:
                    outcome = Forwarded(job.record_id, target, None, 0.0, self._shutdown_error)
                self._safely(self._report, outcome)
            self._backlog.task_done()

    def _wake(self) -> None:
        """A job was queued: start it on the next pass if a lane is free (not from inside the
        request handler that queued it)."""
        if self._free and not self._scheduled and not self._stopped:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        self._scheduled = False
        if self._pumping:
            return  # the loop below is already taking jobs
        self._pumping = True
        try:
            while self._free and not self._stopped:
                job = self._backlog.take()
                if job is None:
                    return
                self._begin(job)
        finally:
            self._pumping = False

    def _begin(self, job: Job) -> None:
        try:
            job = self._backlog.load(job)
        except (OSError, ValueError) as exc:
            error = f"not forwarded: could not read it back from the session log: {exc}"
            for target in job.targets:
                self._safely(self._report, Forwarded(job.record_id, target, None, 0.0, error))
            self._backlog.task_done()
            return
        assert job.body is not None and job.headers is not None
        flight = _Flight(job)
        self._free -= 1
        self._flights.add(flight)
        for index, target in enumerate(job.targets):
            landed = functools.partial(self._landed, flight, index)
            self._send(job.record_id, target, job.body, job.headers, self._timeout, landed)

    def _landed(self, flight: _Flight, index: int, outcome: Forwarded) -> None:
        if flight not in self._flights:
            return  # stopped meanwhile: stop() reported it
        flight.outcomes[index] = outcome
        flight.left -= 1
        if flight.left:
            return
        self._flights.discard(flight)
        self._free += 1
        for landed in flight.outcomes:
            assert landed is not None
            self._safely(self._report, landed)
        self._backlog.task_done()
        self._pump()  # the next job, in this same pass of the loop

    @staticmethod
    def _safely(report: Landed, outcome: Forwarded) -> None:
        try:
            report(outcome)
        except Exception as exc:  # a bug (in a sink, say): say so, keep the queue moving
            asyncio.get_running_loop().call_exception_handler(
                {
                    "message": f"reporting the forward of {outcome.record_id} failed",
                    "exception": exc,
                }
            )
