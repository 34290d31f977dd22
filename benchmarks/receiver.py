"""`apimw listen` against the fastest receivers there are, side by side in one run (issue #17).

    python benchmarks/receiver.py                 # 6 rounds of 10 s, all phases (~15 minutes)
    python benchmarks/receiver.py --quick         # a smoke run: tiny counts, short rounds
    python benchmarks/receiver.py --markdown      # also print the rows for benchmarks/README.md
    python benchmarks/receiver.py --phases throughput --rounds 4 --seconds 5
    python benchmarks/receiver.py --reference-tree /tmp/ref   # also listen from another tree

Phases:
- throughput: every contender (benchmarks/servers.py: bare starlette on h11, bare starlette on
  httptools + uvloop, Node verifying the HMAC, `listen --format ndjson`, `listen` with the live
  view on a 160x45 pty; for issue #18, `listen --format ndjson` with its inspector page open in
  headless Chromium (inspector_client.py; an SSE client on /api/stream without a browser or
  with --sse-viewer) and the same with --no-inspect; `listen --format ndjson --no-record` only
  when --contenders names it) takes a closed-loop burst of distinct
  signed ~1 KB events in each round, in a rotating order; per contender: req/s and the
  server's CPU microseconds per request (its /proc utime+stime over the burst); per round: the
  issues' ratios, whose medians are reported, each also by CPU per request (what the req/s
  ratio is when the server's core is the limit: steadier when other processes share the
  machine). The inspector pair also takes a paced burst (wrk's per-connection delay, about
  --inspector-pace requests/s) in each round: in the closed loop the browser shares the
  client's core and slows the load itself, so the page's cost to the receiver is its CPU per
  request at the same offered rate.
- lag: events at a fixed 2,000/s to the live view; the time from each send to its
  `[dlv_xxxxxxxx]` label appearing on the pty: p50, p99, max.
- forward: `listen --format ndjson --forward-to` the fast sink (fast_receiver.py): the receive
  rate and, during the same burst, the sink's rate (its /stats), then the time to drain; then the
  sink is stopped (SIGSTOP) and `listen`'s peak RSS is sampled while a 100,000-event backlog
  builds.

- paired (only when asked: --phases paired): the two contenders of --pair loaded at once, each
  by its own client, both servers on the one server CPU; per round, each one's CPU per request
  and their ratio. A swing of the machine's speed then hits both alike, so the ratio holds
  within a few percent where the rounds of `throughput` scatter by tens: the way to compare
  two trees (`--pair ndjson-ref,ndjson`) or a change's cost. Sharing a core costs each server
  more per request than running alone (and the one with more to keep in cache more), so its
  ratios are a comparison, not the issue's figure.

Each round of throughput and paired starts every `listen` on an empty session log (the file
truncated; --keep-logs lets them grow): run after run, the logs of all the recording
contenders would otherwise add up to gigabytes, and every one of them slows round after round
(benchmarks/README.md, "Where listen's time goes"), which no user's single session sees.

With --reference-tree PATH (a worktree of an older commit), `listen` from that tree runs too,
beside this tree's, in the throughput, lag and paired phases: before and after in one run.

By default the client (wrk, or the Python client when wrk is absent) runs on the first CPU and
the server under test on the last (--no-pin: let the OS place them). It measures, it does not
judge: exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import servers
from benchmarks.common import (
    Row,
    Spread,
    cpu_split,
    percentile,
    print_header,
    print_table,
    ratio_row,
    sampling,
    wait_until,
)
from benchmarks.load import Burst, Driver, fixed_rate, signed_requests

LABELS = {
    "bare-h11": "bare starlette app, uvicorn h11 + asyncio",
    "bare-fast": "bare starlette app, uvicorn httptools + uvloop",
    "node": "Node `http` server verifying the HMAC",
    "ndjson": "`apimw listen --format ndjson`",
    "live": "`apimw listen`, live view on a 160x45 pty",
    "inspected": "`apimw listen --format ndjson`, inspector page open in a browser",
    "no-inspect": "`apimw listen --format ndjson --no-inspect`",
    "no-record": "`apimw listen --format ndjson --no-record`",
    "ndjson-ref": "reference tree: `apimw listen --format ndjson`",
    "live-ref": "reference tree: `apimw listen`, live view",
}
REFERENCES = ("ndjson-ref", "live-ref")  # run only with --reference-tree
# Run only when --contenders or --pair names it: what recording costs (no log, no inspector).
ASKED_FOR = ("no-record",)
PHASES = ("throughput", "lag", "forward")
ON_REQUEST = ("paired",)  # phases run only when --phases names them
LAG_FIRST = 0x40000000  # the lag phase's event numbers: labels no earlier event had


@dataclass
class Sample:
    per_second: float
    cpu_us: float
    failures: int
    paced_per_second: float = float("nan")  # the inspector pair's paced burst
    paced_cpu_us: float = float("nan")


@dataclass
class Lag:
    """Send-to-display times (ms) of the events shown, out of `sent`."""

    ms: list[float]
    sent: int
    failures: int


@dataclass
class Results:
    rounds: list[dict[str, Sample]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    lags: dict[str, Lag] = field(default_factory=dict)
    receive: list[float] = field(default_factory=list)
    forward: list[float] = field(default_factory=list)
    forward_cpu_us: list[float] = field(default_factory=list)
    drain_s: list[float] = field(default_factory=list)
    backlog: int = 0
    backlog_rss: list[float] = field(default_factory=list)
    failures: int = 0
    viewer: str = ""  # what watched the inspector page (a browser, or the SSE fallback)
    pair: tuple[str, str] = ("", "")
    pairs: list[tuple[Sample, Sample]] = field(default_factory=list)  # --phases paired


PACED = ("inspected", "no-inspect")  # also measured at a paced rate, see the docstring


def measured(
    server: servers.Server, driver: Driver, seconds: float, pace: float | None = None
) -> tuple[Burst, float]:
    """A burst (closed loop, or paced) and the server's CPU microseconds per answered request
    during it."""
    before = server.cpu_seconds()
    burst = driver.burst(server.port, seconds, pace=pace)
    spent = server.cpu_seconds() - before
    return burst, spent / burst.requests * 1e6 if burst.requests else float("nan")


@contextlib.contextmanager
def contenders(
    workdir: Path,
    cpus: set[int] | None,
    results: Results,
    need: set[str],
    tree: Path | None = None,
    sse: bool = False,
) -> Iterator[dict[str, servers.Server]]:
    """The servers of `need` that can run here, started; the others go to results.skipped.
    The `inspected` listen gets its viewer (a browser, or an SSE client with `sse`)."""
    with contextlib.ExitStack() as stack:
        started: dict[str, servers.Server] = {}
        missing = {"bare-fast": servers.fast_stack_missing(), "node": servers.node_missing()}
        for name in LABELS:
            if name not in need:
                continue
            if missing.get(name):
                results.skipped[name] = str(missing[name])
                continue
            if name == "bare-h11":
                started[name] = stack.enter_context(servers.bare("h11", cpus))
            elif name == "bare-fast":
                started[name] = stack.enter_context(servers.bare("fast", cpus))
            elif name == "node":
                started[name] = stack.enter_context(servers.node(cpus))
            elif name == "no-record":
                started[name] = stack.enter_context(
                    servers.listen(name, workdir, cpus, record=False)
                )
            elif name in ("inspected", "no-inspect"):
                inspected = name == "inspected"
                server = stack.enter_context(servers.listen(name, workdir, cpus, inspect=inspected))
                if inspected:
                    url = servers.inspector_url(server)
                    results.viewer = stack.enter_context(servers.watcher(url, sse))
                started[name] = server
            else:
                live = name.startswith("live")
                reference = tree if name in REFERENCES else None
                started[name] = stack.enter_context(
                    servers.listen(name, workdir, cpus, live, tree=reference)
                )
        yield started


def throughput(
    started: dict[str, servers.Server], driver: Driver, args: argparse.Namespace, out: Results
) -> None:
    names = list(started)
    for server in started.values():  # warm-up: imports, caches, connection set-up
        driver.burst(server.port, min(1.0, args.seconds))
    for number in range(args.rounds):
        if not args.keep_logs:
            for server in started.values():
                server.fresh_log()
        shift = number % len(names)
        order = names[shift:] + names[:shift]
        if number % 2:
            order.reverse()
        samples: dict[str, Sample] = {}
        for name in order:
            server = started[name]
            burst, cpu_us = measured(server, driver, args.seconds)
            samples[name] = sample = Sample(burst.per_second, cpu_us, burst.failures)
            out.failures += burst.failures
            if name in PACED and args.inspector_pace and driver.wrk:
                burst, cpu_us = measured(server, driver, args.seconds, args.inspector_pace)
                sample.paced_per_second, sample.paced_cpu_us = burst.per_second, cpu_us
                out.failures += burst.failures
        out.rounds.append(samples)
        shown = "  ".join(f"{n} {s.per_second:,.0f}/s {s.cpu_us:.0f}us" for n, s in samples.items())
        print(f"round {number + 1}/{args.rounds}: {shown}", flush=True)


def paired_loads(
    first: servers.Server,
    second: servers.Server,
    drivers: tuple[Driver, Driver],
    args: argparse.Namespace,
    out: Results,
) -> None:
    """Both servers under load at once (see the module docstring), `args.rounds` times."""
    for server, driver in zip((first, second), drivers, strict=True):  # warm-up
        driver.burst(server.port, min(1.0, args.seconds))
    taken: dict[int, tuple[Burst, float]] = {}

    def load(index: int, server: servers.Server) -> None:
        taken[index] = measured(server, drivers[index], args.seconds)

    for number in range(args.rounds):
        if not args.keep_logs:
            first.fresh_log()
            second.fresh_log()
        # Each round the other one's client starts first.
        order = [(0, first), (1, second)] if number % 2 == 0 else [(1, second), (0, first)]
        other = threading.Thread(target=load, args=order[0])
        other.start()
        load(*order[1])
        other.join()
        pair = tuple(Sample(b.per_second, cpu, b.failures) for b, cpu in (taken[0], taken[1]))
        out.pairs.append((pair[0], pair[1]))
        out.failures += pair[0].failures + pair[1].failures
        shown = "  ".join(
            f"{name} {s.per_second:,.0f}/s {s.cpu_us:.0f}us"
            for name, s in zip(out.pair, pair, strict=True)
        )
        print(f"paired {number + 1}/{args.rounds}: {shown}", flush=True)


def display_lag(server: servers.Server, args: argparse.Namespace) -> Lag:
    """Events at a fixed rate to the live view; send-to-display time of each label."""
    drain = server.drain
    assert drain is not None
    count = max(1, int(args.lag_rate * args.lag_seconds))
    requests = signed_requests(count, first=LAG_FIRST)
    sent_at: dict[int, float] = {}

    def note(index: int, when: float) -> None:
        sent_at[LAG_FIRST + index] = when

    drain.seen.clear()
    drain.watching = True
    failures = asyncio.run(
        fixed_rate(server.port, requests, args.lag_rate, args.lag_seconds, note, args.connections)
    )
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: all(n in drain.seen for n in sent_at), 10, "every label on the pty")
    drain.watching = False
    shown = [(drain.seen[n] - sent) * 1000 for n, sent in sent_at.items() if n in drain.seen]
    return Lag(shown, len(sent_at), failures)


def forwarding(
    workdir: Path, driver: Driver, cpus: set[int] | None, args: argparse.Namespace, out: Results
) -> None:
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(servers.sink(None))
        target = f"http://127.0.0.1:{sink.port}/hook"
        server = stack.enter_context(servers.listen("forward", workdir, cpus, forward_to=target))
        received = driver.burst(server.port, min(1.0, args.seconds)).requests  # warm-up
        drain_time(sink, received, args.drain_timeout)
        for _ in range(args.rounds):
            before = servers.sink_deliveries(sink.port)
            cpu_before = server.cpu_seconds()
            burst = driver.burst(server.port, args.seconds)
            forwarded = servers.sink_deliveries(sink.port) - before
            received += burst.requests
            out.failures += burst.failures
            out.receive.append(burst.per_second)
            out.forward.append(forwarded / burst.seconds)
            out.drain_s.append(drain_time(sink, received, args.drain_timeout))
            # CPU from the burst's start until the last event was forwarded, per event
            spent = server.cpu_seconds() - cpu_before
            out.forward_cpu_us.append(spent / burst.requests * 1e6 if burst.requests else 0.0)
            print(
                f"forward round {len(out.receive)}/{args.rounds}: received"
                f" {burst.per_second:,.0f}/s, forwarded {out.forward[-1]:,.0f}/s meanwhile,"
                f" drained {out.drain_s[-1]:.2f} s later",
                flush=True,
            )
        backlog(server, sink, driver, args, out)


def drain_time(sink: servers.Server, count: int, timeout: float) -> float:
    """Seconds until the sink has `count` deliveries (NaN if not within `timeout`)."""
    try:
        return wait_until(servers.sink_reached(sink.port, count), timeout, "the sink's events")
    except TimeoutError:
        return float("nan")


def backlog(
    server: servers.Server,
    sink: servers.Server,
    driver: Driver,
    args: argparse.Namespace,
    out: Results,
) -> None:
    """Stop the sink and sample listen's RSS while `args.backlog` events pile up behind it."""
    drain = server.drain
    assert drain is not None
    start = drain.lines
    os.kill(sink.pid, signal.SIGSTOP)
    try:
        with sampling(server.pid) as rss:
            burst = driver.burst(
                server.port, args.backlog_timeout, lambda: drain.lines - start >= args.backlog
            )
            out.backlog = burst.requests
        out.backlog_rss = rss
        print(f"backlog: {out.backlog:,} events sent with the sink stopped", flush=True)
    finally:
        os.kill(sink.pid, signal.SIGCONT)


# --------------------------------------------------------------------------- report


def paired(results: Results, top: str, bottom: str, key: str = "per_second") -> list[float]:
    """Per round, `top`'s figure over `bottom`'s (rounds where both ran)."""
    ratios = []
    for samples in results.rounds:
        if top in samples and bottom in samples:
            below = getattr(samples[bottom], key)
            ratios.append(getattr(samples[top], key) / below if below else float("nan"))
    return ratios


def rows(results: Results, args: argparse.Namespace) -> list[Row]:
    failures = results.failures + sum(lag.failures for lag in results.lags.values())
    return [
        *throughput_rows(results),
        *lag_rows(results, args),
        *forward_rows(results, args),
        *pair_rows(results),
        Row("non-200 answers and socket errors", str(failures)),
    ]


def throughput_rows(results: Results) -> list[Row]:
    table: list[Row] = []
    for name, label in LABELS.items():
        if name in results.skipped:
            table.append(Row(label, f"skipped: {results.skipped[name]}"))
            continue
        rates = [r[name].per_second for r in results.rounds if name in r]
        if not rates:
            continue
        cpu = Spread.of(r[name].cpu_us for r in results.rounds if name in r)
        table.append(Row(f"{label}: req/s", Spread.of(rates).show(0)))
        table.append(Row(f"{label}: CPU per request", cpu.show(1, " us")))
    if results.rounds:
        table += [
            ratio_row("ndjson / bare h11 (req/s)", paired(results, "ndjson", "bare-h11"),
                      ">= 2.0x", lambda r: r >= 2.0),
            ratio_row("ndjson / bare h11, by CPU per request (bare's / ndjson's)",
                      paired(results, "bare-h11", "ndjson", "cpu_us"), ">= 2.0x",
                      lambda r: r >= 2.0),
            ratio_row("ndjson / bare fast stack (CPU per request)",
                      paired(results, "ndjson", "bare-fast", "cpu_us"), "<= 1.3x",
                      lambda r: r <= 1.3),
            ratio_row("ndjson / Node (req/s)", paired(results, "ndjson", "node"), "aim 0.5x",
                      lambda r: r >= 0.5),
            ratio_row("ndjson / Node, by CPU per request (Node's / ndjson's)",
                      paired(results, "node", "ndjson", "cpu_us"), "aim 0.5x",
                      lambda r: r >= 0.5),
            ratio_row("live view / ndjson (req/s)", paired(results, "live", "ndjson"), ">= 0.8x",
                      lambda r: r >= 0.8),
            ratio_row("live view / ndjson, by CPU per request (ndjson's / live's)",
                      paired(results, "ndjson", "live", "cpu_us"), ">= 0.8x",
                      lambda r: r >= 0.8),
        ]  # fmt: skip
    if any("inspected" in samples for samples in results.rounds):
        table += [
            Row("the inspector's viewer", results.viewer),
            ratio_row("inspector page open / --no-inspect, closed loop (req/s)",
                      paired(results, "inspected", "no-inspect"), ">= 0.95x",
                      lambda r: r >= 0.95),
            ratio_row("inspector page open / --no-inspect, closed loop, by CPU per request",
                      paired(results, "no-inspect", "inspected", "cpu_us"), ">= 0.95x",
                      lambda r: r >= 0.95),
        ]  # fmt: skip
        table += paced_rows(results)
    if any("no-record" in samples for samples in results.rounds):
        table.append(
            ratio_row("ndjson / --no-record, by CPU per request (what the session log costs)",
                      paired(results, "ndjson", "no-record", "cpu_us"), "")
        )  # fmt: skip
    if any("ndjson-ref" in samples for samples in results.rounds):
        table += [
            ratio_row("ndjson / reference tree's ndjson (req/s)",
                      paired(results, "ndjson", "ndjson-ref"), ""),
            ratio_row("ndjson / reference tree's ndjson (CPU per request)",
                      paired(results, "ndjson", "ndjson-ref", "cpu_us"), ""),
            ratio_row("live view / reference tree's live view (req/s)",
                      paired(results, "live", "live-ref"), ""),
        ]  # fmt: skip
    return table


def pair_rows(results: Results) -> list[Row]:
    if not results.pairs:
        return []
    first, second = results.pair
    at_once = "both loaded at once on one core"
    return [
        Row(f"{LABELS[first]}, {at_once}: CPU per request",
            Spread.of(a.cpu_us for a, _ in results.pairs).show(1, " us")),
        Row(f"{LABELS[second]}, {at_once}: CPU per request",
            Spread.of(b.cpu_us for _, b in results.pairs).show(1, " us")),
        ratio_row(f"{second} / {first}, {at_once} (CPU per request)",
                  [b.cpu_us / a.cpu_us for a, b in results.pairs], ""),
    ]  # fmt: skip


def paced_rows(results: Results) -> list[Row]:
    """The inspector pair at the same paced rate: the page's cost, by CPU per request."""
    table: list[Row] = []
    rounds = [r for r in results.rounds if all(n in r for n in PACED)]
    if not rounds or all(math.isnan(r["inspected"].paced_cpu_us) for r in rounds):
        return table
    for name in PACED:
        rates = Spread.of(r[name].paced_per_second for r in rounds)
        cpu = Spread.of(r[name].paced_cpu_us for r in rounds)
        table.append(Row(f"{LABELS[name]}, paced: req/s", rates.show(0)))
        table.append(Row(f"{LABELS[name]}, paced: CPU per request", cpu.show(1, " us")))
    ratios = [r["no-inspect"].paced_cpu_us / r["inspected"].paced_cpu_us for r in rounds]
    table.append(
        ratio_row("inspector page open / --no-inspect at the same paced rate, by CPU per request"
                  " (theirs / its)", ratios, ">= 0.95x", lambda r: r >= 0.95)
    )  # fmt: skip
    return table


def lag_rows(results: Results, args: argparse.Namespace) -> list[Row]:
    table = []
    for name, lag in results.lags.items():
        p99 = percentile(lag.ms, 0.99)
        figure = (
            f"p50 {percentile(lag.ms, 0.5):,.1f} ms, p99 {p99:,.1f} ms,"
            f" max {percentile(lag.ms, 1.0):,.1f} ms ({len(lag.ms):,}/{lag.sent:,} shown)"
        )
        verdict = "met" if len(lag.ms) == lag.sent and p99 < 100 else "missed"
        where = "reference tree: " if name in REFERENCES else ""
        table.append(
            Row(f"{where}live view display lag at {args.lag_rate:,.0f}/s", figure,
                f"p99 < 100 ms ({verdict})")
        )  # fmt: skip
    return table


def forward_rows(results: Results, args: argparse.Namespace) -> list[Row]:
    table = []
    if results.receive:
        table += [
            Row("forwarding: received (req/s)", Spread.of(results.receive).show(0)),
            Row("forwarding: forwarded during the burst (/s)", Spread.of(results.forward).show(0)),
            Row("forwarding: CPU per event, received and forwarded",
                Spread.of(results.forward_cpu_us).show(1, " us")),
            Row(f"forwarding: drain after a {args.seconds:g} s burst", drained(results, args)),
            ratio_row("forward rate / receive rate",
                      [f / r for f, r in zip(results.forward, results.receive, strict=True) if r],
                      ">= 0.8x", lambda r: r >= 0.8),
        ]  # fmt: skip
    if results.backlog_rss:
        peak = max(v for v in results.backlog_rss if v == v)
        verdict = "met" if peak < 100 else "missed"
        table.append(
            Row(f"listen RSS, sink stopped, {results.backlog:,} events sent",
                f"peak {peak:.0f} MB (end {results.backlog_rss[-1]:.0f} MB)",
                f"< 100 MB with a 100,000-event backlog ({verdict})")
        )  # fmt: skip
    return table


def drained(results: Results, args: argparse.Namespace) -> str:
    figure = Spread.of(results.drain_s).show(2, " s")
    stuck = sum(seconds != seconds for seconds in results.drain_s)
    if stuck:
        figure += f"; {stuck} of {len(results.drain_s)} not drained within {args.drain_timeout:g} s"
    return figure


def options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each burst")
    parser.add_argument("--rounds", type=int, default=6, help="rounds (order rotates)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--events", type=int, default=50_000, help="distinct events generated")
    parser.add_argument("--lag-rate", type=float, default=2_000.0, help="events/s for the lag")
    parser.add_argument("--lag-seconds", type=float, default=5.0)
    parser.add_argument("--backlog", type=int, default=100_000, help="events behind the sink")
    parser.add_argument("--backlog-timeout", type=float, default=300.0)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset")
    parser.add_argument(
        "--contenders",
        default=",".join(n for n in LABELS if n not in REFERENCES + ASKED_FOR),
        help="comma-separated subset of the servers",
    )
    parser.add_argument(
        "--reference-tree",
        type=Path,
        metavar="PATH",
        help="also run listen from this source tree (`git worktree add /tmp/ref dfcc62d`)",
    )
    parser.add_argument(
        "--inspector-pace",
        type=float,
        default=6_000.0,
        help="requests/s of the inspector pair's paced burst (0: none; needs wrk)",
    )
    parser.add_argument(
        "--pair",
        default="bare-fast,ndjson",
        metavar="A,B",
        help="the two servers of the paired phase (B's CPU per request over A's)",
    )
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument(
        "--sse-viewer",
        action="store_true",
        help="watch the inspector with an SSE client on /api/stream, not headless Chromium",
    )
    parser.add_argument("--no-pin", action="store_true", help="let the OS place the processes")
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="let the session logs grow from round to round (default: each round starts empty)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--quick", action="store_true", help="a smoke run with tiny counts")
    args = parser.parse_args(argv)
    if args.quick:
        # More distinct events than listen's 10,000-id duplicate window: the load cycles
        # through them, and with fewer every event after the first lap is a duplicate,
        # acknowledged but never forwarded (with wrk the forward phase read 0/s).
        args.seconds, args.rounds, args.events = min(args.seconds, 0.5), min(args.rounds, 2), 20_000
        args.lag_seconds, args.backlog = 0.25, 500
        args.drain_timeout = min(args.drain_timeout, 5.0)
        args.connections = min(args.connections, 4)
    args.phases = [p for p in args.phases.split(",") if p]
    unknown = set(args.phases) - set(PHASES) - set(ON_REQUEST)
    if unknown:
        choices = ", ".join(PHASES + ON_REQUEST)
        parser.error(f"unknown phases: {', '.join(sorted(unknown))} (choose from {choices})")
    pair = tuple(n for n in args.pair.split(",") if n)
    if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(LABELS):
        parser.error(f"--pair takes two different servers of: {', '.join(LABELS)}")
    if set(pair) & set(REFERENCES) and not args.reference_tree:
        parser.error("--pair with a reference tree's listen needs --reference-tree")
    args.pair = pair
    return args


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    client_cpus, server_cpus = cpu_split(not args.no_pin)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)  # the harness, its drains and the sink go with wrk
    need = {n for n in args.contenders.split(",") if n in LABELS and n not in REFERENCES}
    if args.reference_tree:
        need |= set(REFERENCES)
    if "throughput" not in args.phases:
        need &= {"live", "live-ref"} if "lag" in args.phases else set()
    if "paired" in args.phases:
        need |= set(args.pair)
    results = Results(pair=args.pair)
    with tempfile.TemporaryDirectory(prefix="apimw-bench-") as tmp:
        workdir = Path(tmp)
        driver = Driver(
            signed_requests(args.events), workdir, args.connections,
            use_wrk=not args.python_client, cpus=client_cpus,
        )  # fmt: skip
        pinning = f"client on CPU {client_cpus}, servers on {server_cpus}" if client_cpus else ""
        print(f"load: {driver.name}; {pinning or 'not pinned'}", flush=True)
        tree = args.reference_tree.resolve() if args.reference_tree else None
        with contenders(workdir, server_cpus, results, need, tree, args.sse_viewer) as started:
            if "throughput" in args.phases and started:
                throughput(started, driver, args, results)
            if "lag" in args.phases:
                for name in ("live", "live-ref"):
                    if name in started:
                        results.lags[name] = display_lag(started[name], args)
            if "paired" in args.phases and set(args.pair) <= set(started):
                (workdir / "second").mkdir()
                second = Driver(
                    signed_requests(args.events), workdir / "second", args.connections,
                    use_wrk=not args.python_client, cpus=client_cpus,
                )  # fmt: skip
                first, other = (started[name] for name in args.pair)
                paired_loads(first, other, (driver, second), args, results)
        if "forward" in args.phases:
            forwarding(workdir, driver, server_cpus, args, results)
    title = (
        f"receiver: {args.rounds} rounds of {args.seconds:g} s, {driver.name}, signed 1 KB events"
    )
    print_table(title, rows(results, args), args.markdown)
    print_header(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
