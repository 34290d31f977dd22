"""What every benchmark script shares: medians with spread, the report table (plain or
Markdown), the machine it ran on, and a process's CPU time and memory from /proc."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Spread:
    """The median of some samples and their range (min-max)."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, samples: Iterable[float]) -> Spread:
        values = [v for v in samples if v == v]  # NaN (a skipped sample) is left out
        if not values:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(statistics.median(values), min(values), max(values), len(values))

    def show(self, digits: int = 0, unit: str = "") -> str:
        if not self.count:
            return "n/a"
        if self.count == 1:
            return f"{self.median:,.{digits}f}{unit}"
        return f"{self.median:,.{digits}f}{unit} ({self.low:,.{digits}f}-{self.high:,.{digits}f})"


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-quantile (0..1) of samples by the nearest-rank rule; NaN when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


@dataclass(frozen=True)
class Row:
    """One line of a report: what was measured, the figure, and the issue's target."""

    measure: str
    figure: str
    target: str = ""


def ratio_row(
    measure: str, ratios: Iterable[float], target: str, ok: Callable[[float], bool] | None = None
) -> Row:
    """A row whose figure is the median (and range) of paired per-round ratios, with whether
    the median meets the target."""
    spread = Spread.of(ratios)
    verdict = ""
    if ok is not None and spread.count:
        verdict = " (met)" if ok(spread.median) else " (missed)"
    return Row(measure, spread.show(2, "x"), target + verdict)


def print_table(title: str, rows: Sequence[Row], markdown: bool) -> None:
    if markdown:
        print(f"\n**{title}**\n")
        print("| measure | median (min-max) | target |")
        print("|---|---|---|")
        for row in rows:
            print(f"| {row.measure} | {row.figure} | {row.target} |")
        return
    width = max((len(row.measure) for row in rows), default=10)
    figure_width = max((len(row.figure) for row in rows if row.target), default=10)
    print(f"\n{title}")
    for row in rows:
        line = f"  {row.measure:<{width}}  {row.figure:<{figure_width}}"
        if row.target:
            line += f"  target {row.target}"
        print(line.rstrip())


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """The machine and moment a figure belongs to, for the README's table."""
    load = ""
    with contextlib.suppress(OSError):
        load = f", load average {os.getloadavg()[0]:.1f} at the end"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}"
        f" ({platform.python_implementation()}), {platform.system()} {platform.release()},"
        f" {now}{load}"
    )


def command_line() -> str:
    """How this script was run, to print beside its figures."""
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(ROOT)
    return shlex.join(["python", str(script), *sys.argv[1:]])


def print_header(markdown: bool) -> None:
    prefix = "- " if markdown else ""
    if markdown:
        print()  # a blank line ends the table before the list
    print(f"{prefix}machine: {machine()}")
    print(f"{prefix}command: `{command_line()}`" if markdown else f"command: {command_line()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process `pid` (all its threads) has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MB (NaN once it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A preexec_fn that keeps a child (and every thread it starts) on `cpus`."""
    if not cpus:
        return None
    chosen = set(cpus)
    return lambda: os.sched_setaffinity(0, chosen)


def cpu_split(enabled: bool) -> tuple[set[int] | None, set[int] | None]:
    """(client CPUs, server CPUs): apart when there are two or more CPUs to pin to."""
    if not enabled or not hasattr(os, "sched_getaffinity"):
        return None, None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return {available[0]}, {available[-1]}


def stop_process(process: subprocess.Popen[bytes], signal_number: int, wait: float = 10) -> None:
    """Ask a child to stop with `signal_number`, then kill it if it does not within `wait` s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal_number)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def sampling(pid: int, interval: float = 0.05) -> Iterator[list[float]]:
    """Samples of `pid`'s RSS (MB) every `interval` seconds while the block runs."""
    import threading

    samples: list[float] = []
    halt = threading.Event()

    def run() -> None:
        while not halt.is_set():
            samples.append(rss_mb(pid))
            halt.wait(interval)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        halt.set()
        thread.join(5)
        samples.append(rss_mb(pid))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until `condition` holds; the seconds it took. Raises TimeoutError naming `what`."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(0.01)
    return time.perf_counter() - started
