"""Instructions per event on listen's hot paths, counted by valgrind's callgrind: the same
figure on every run, whatever else the machine is doing, so a change of 1% shows where
timed runs on a shared VM scatter by tens of percent.

    python benchmarks/instructions.py                       # receiver, ndjson and live paths
    python benchmarks/instructions.py --reference-tree /tmp/apimw-ref --paths receiver

Each path runs in-process, with no sockets (what a timed run adds on top: the kernel's share,
uvloop's I/O, and the caches):

- receiver: signed 1 KB events through listen's HTTP/1.1 protocol (httptools) and the
  receiver (verify, deduplicate, record to a session log, answer), the sink a list;
- ndjson: the same, each event then shown as `--format ndjson` shows it (written to /dev/null);
- live: the live view's line for each event, on a terminal of its own (written to /dev/null).

A path runs twice, for SMALL and LARGE events after the same start-up, and the difference over
LARGE - SMALL is the figure: start-up cancels out. User space only (what callgrind counts);
valgrind emulates the CPU without SHA extensions, so the HMAC's share is larger than on the
real CPU. Needs valgrind (Debian: `apt-get install valgrind`); without it, says so.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

PATHS = ("receiver", "ndjson", "live")
WARM_UP = 2_000  # events before the counted part: caches, the dedupe window, lazy imports
SMALL, LARGE = 1_000, 5_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--paths", default=",".join(PATHS), help="comma-separated: " + ", ".join(PATHS)
    )
    parser.add_argument("--reference-tree", type=Path, help="also count this tree (a worktree)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few events")
    parser.add_argument(
        "--child", nargs=3, metavar=("PATH", "EVENTS", "MADE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        run_path(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    paths = [p for p in args.paths.split(",") if p]
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(
            f"unknown path(s): {', '.join(sorted(unknown))}; choose from {', '.join(PATHS)}"
        )
    if shutil.which("valgrind") is None:
        print(
            "instructions: skipped: valgrind not found on PATH (Debian: apt-get install valgrind)"
        )
        return
    small, large = (50, 250) if args.quick else (SMALL, LARGE)
    trees = [("this tree", ROOT)] + (
        [("reference", args.reference_tree)] if args.reference_tree else []
    )
    print(
        f"instructions per event (callgrind, user space; {large} - {small} events after {WARM_UP})"
    )
    for path in paths:
        counts = {name: per_event(tree, path, small, large) for name, tree in trees}
        line = "  ".join(f"{name} {count:,.0f}" for name, count in counts.items())
        if len(counts) == 2:
            line += f"  this / reference {counts['this tree'] / counts['reference']:.3f}x"
        print(f"  {path:9s} {line}")


def per_event(tree: Path, path: str, small: int, large: int) -> float:
    made = WARM_UP + large  # both runs make as many events: only their handling differs
    counted = instructions(tree, path, large, made) - instructions(tree, path, small, made)
    return counted / (large - small)


def instructions(tree: Path, path: str, events: int, made: int) -> int:
    """What callgrind counts for one run of `path` over `events` of `made` events, from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0", "TERM": "xterm-256color"}
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
               str(Path(__file__).resolve()), "--child", path, str(events), str(made)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    match = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"callgrind failed on {path} from {tree}: {done.stderr[-800:]}")
    return int(match.group(1))


def run_path(path: str, events: int, made: int) -> None:
    """The child: make `made` events, warm up, then handle `events` more on `path`."""
    from benchmarks.load import signed_requests

    requests = signed_requests(max(made, WARM_UP + events))
    with (
        open(os.devnull, "w") as null,
        tempfile.TemporaryDirectory(prefix="apimw-instructions-") as tmp,
    ):
        if path == "live":
            show, received = live_lines(requests, _Terminal(null.buffer))
            show(received[:WARM_UP])
            show(received[WARM_UP : WARM_UP + events])
            return
        feed, answered = receiver(Path(tmp), null if path == "ndjson" else None)
        feed(requests[:WARM_UP])
        feed(requests[WARM_UP : WARM_UP + events])
        if answered.ok != WARM_UP + events:  # a harness that measures refusals measures nothing
            raise SystemExit(f"{answered.ok} of {WARM_UP + events} events answered 200")


def receiver(tmp: Path, shown: IO[str] | None) -> tuple[Any, _Transport]:
    """A function feeding raw requests to listen's protocol and receiver, as on one connection;
    with `shown`, each event is then written there as `--format ndjson` writes it."""
    from apimw_cli.output.live import LiveView
    from apimw_cli.output.printer import Printer
    from apimw_cli.receiver.app import create_app
    from apimw_cli.receiver.events import ReceiverConfig
    from apimw_cli.receiver.fast_protocol import fast_protocol
    from apimw_cli.receiver.feed import Feed
    from apimw_cli.receiver.recorder import Recorder
    from apimw_cli.session.screen import Screen
    from benchmarks.load import SECRET

    sink: list[Any] = []
    feed = Feed()
    screen = Screen(LiveView(Printer(stdout=shown), ndjson=True), feed)
    recorder = Recorder(tmp / "session.jsonl")
    app = create_app(
        ReceiverConfig(secrets=(SECRET,)), feed if shown else sink.append, recorder, None
    )
    state = types.SimpleNamespace(connections=set(), tasks=set(), default_headers=[])
    protocol = fast_protocol(app, 10.0, 1000)(None, state, None, asyncio.new_event_loop())
    transport = _Transport()
    protocol.connection_made(transport)

    def run(requests: list[bytes]) -> None:
        for request in requests:
            protocol.data_received(request)
            sink.clear()
            if len(feed) >= Screen.BATCH:
                while screen.catch_up():
                    pass

    return run, transport


def live_lines(requests: list[bytes], terminal: IO[str]) -> tuple[Any, list[Any]]:
    """A function showing events as the live view draws them, in batches; the requests' events
    as the receiver reports them."""
    from apimw_cli.models import Received
    from apimw_cli.output.live import LiveView
    from apimw_cli.output.printer import Printer
    from apimw_cli.receiver.signatures import Signatures
    from benchmarks.load import SECRET

    view = LiveView(Printer(stdout=terminal), ndjson=False, forwarding=False)
    checks = Signatures((SECRET,))
    received = []
    for n, request in enumerate(requests):
        head, _, body = request.partition(b"\r\n\r\n")
        signature = re.search(rb"X-APIMW-Signature: (\S+)", head)
        verdict = checks.check(body, signature.group(1).decode() if signature else None)
        received.append(Received(f"rec_{n:012x}", time.time(), "POST", "/webhooks/apimw", {},
                                 body, 200, "event", "message.received", f"dlv_{n:08x}",
                                 verdict, strict_json=True))  # fmt: skip

    def run(events: list[Any]) -> None:
        with view.batch():
            for event in events:
                view.show(event)

    return run, received


class _Transport:
    """What the protocol needs of a socket: answers are counted, not sent."""

    ok = 0

    def write(self, data: bytes) -> None:
        self.ok += data.startswith(b"HTTP/1.1 200 ")

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Terminal(io.TextIOWrapper):
    """/dev/null that says it is a terminal: the live view draws its styled lines."""

    def isatty(self) -> bool:
        return True


if __name__ == "__main__":
    main()
