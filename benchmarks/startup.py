"""Start-up time of `apimw`, against the floor of `import typer`.

    python benchmarks/startup.py [--runs 15]     # timings; always exits 0 (it measures)
    python benchmarks/startup.py --check-imports # exit 1 if --help/--version import a heavy lib
    python benchmarks/startup.py --top-imports 15  # slowest imports of `apimw --help`

Every command runs with the same interpreter (`sys.executable`), interleaved run by run so
that drifts of the machine spread evenly, after one untimed warm-up each; medians are
reported. The target is `apimw --help` (and `--version`) within 1.3x of `import typer`:
the CLI should add little to the framework it needs anyway.

`--check-imports` runs the CLI in-process (`apimw_cli.main.main`, with `sys.argv` set and
SystemExit caught) for `--help`, `--version` and the `--help` of every command path of the
tree, and lists the heavy modules that got imported. Heavy libraries belong inside commands.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.3
DEFAULT_RUNS = 15

# Libraries `apimw --help` must not import (their top-level package names).
HEAVY_MODULES = (
    "anyio",
    "filelock",
    "httpx",
    "platformdirs",
    "pyngrok",
    "rich",
    "starlette",
    "tenacity",
    "uvicorn",
)

BASELINE = ("import typer", [sys.executable, "-c", "import typer"])
COMMANDS = (
    ("apimw --help", [sys.executable, "-m", "apimw_cli", "--help"]),
    ("apimw --version", [sys.executable, "-m", "apimw_cli", "--version"]),
)

# Runs in a fresh interpreter: argv[1] is the JSON list of heavy top-level names. Prints a JSON
# object: invocation -> heavy modules loaded after it (cumulative), in the order run.
_PROBE = r"""
import contextlib, io, json, sys

heavy_roots = set(json.loads(sys.argv[1]))

def heavy():
    return sorted(m for m in sys.modules if m.split(".")[0] in heavy_roots)

import typer.main
from apimw_cli.main import app, main

report = {"import apimw_cli.main": heavy()}

def paths(command, prefix):
    yield prefix
    ctx = typer.Context(command, info_name=prefix[-1] if prefix else "apimw")
    for name in getattr(command, "list_commands", lambda ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None and not getattr(sub, "hidden", False):
            yield from paths(sub, [*prefix, name])

invocations = [["--help"], ["--version"]]
invocations += [[*p, "--help"] for p in paths(typer.main.get_command(app), []) if p]
for args in invocations:
    sys.argv = ["apimw", *args]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        try:
            main()
        except SystemExit:
            pass
    report[" ".join(["apimw", *args])] = heavy()
print(json.dumps(report))
"""


# As on a user's machine: bytecode is cached (pip compiles it on install). Some environments set
# PYTHONDONTWRITEBYTECODE, which would make every run recompile apimw_cli and nothing of typer.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run_once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv,
        cwd=ROOT,
        env=_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start


def measure(runs: int) -> dict[str, float]:
    """Median wall time in seconds of the baseline and of each command, interleaved."""
    every = [BASELINE, *COMMANDS]
    samples: dict[str, list[float]] = {label: [] for label, _ in every}
    for _, argv in every:  # warm-up: page cache, .pyc files
        _run_once(argv)
    for _ in range(runs):
        for label, argv in every:
            samples[label].append(_run_once(argv))
    return {label: statistics.median(times) for label, times in samples.items()}


def report_timings(runs: int) -> None:
    medians = measure(runs)
    base_label = BASELINE[0]
    base = medians[base_label]
    print(f"start-up, median of {runs} interleaved runs ({sys.executable})")
    for label, seconds in medians.items():
        print(f"  {label:<18} {seconds * 1000:8.1f} ms")
    for label, _ in COMMANDS:
        ratio = medians[label] / base
        verdict = "PASS" if ratio <= TARGET else "ABOVE TARGET"
        print(f"  {label} / {base_label}: {ratio:.2f}x (target <= {TARGET}x) {verdict}")


def heavy_imports() -> dict[str, list[str]]:
    """Invocation -> heavy modules imported once it ran (cumulative), in the order run."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(HEAVY_MODULES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"import probe failed:\n{result.stderr}")
    report: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return report


def first_offenders(report: dict[str, list[str]]) -> dict[str, list[str]]:
    """Invocation -> the heavy modules it was the first to import."""
    seen: set[str] = set()
    offenders: dict[str, list[str]] = {}
    for invocation, modules in report.items():
        new = [m for m in modules if m not in seen]
        if new:
            offenders[invocation] = new
            seen.update(new)
    return offenders


def check_imports() -> int:
    report = heavy_imports()
    offenders = first_offenders(report)
    print(f"checked {len(report) - 1} invocations for: {', '.join(HEAVY_MODULES)}")
    if not offenders:
        print("OK: no heavy module imported")
        return 0
    for invocation, modules in offenders.items():
        roots = sorted({m.split(".")[0] for m in modules})
        print(f"HEAVY: `{invocation}` imported {', '.join(roots)} ({len(modules)} modules)")
    return 1


def top_imports(count: int) -> None:
    """The slowest imports (cumulative) of `apimw --help`, from `python -X importtime`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "apimw_cli", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    line = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")
    rows = []
    for match in map(line.match, result.stderr.splitlines()):
        if match:
            rows.append((int(match.group(2)), len(match.group(3)) // 2, match.group(4)))
    rows.sort(reverse=True)
    print(f"slowest imports of `apimw --help` (cumulative, microseconds), top {count}:")
    for cumulative, depth, module in rows[:count]:
        print(f"  {cumulative:>8}  {'  ' * depth}{module}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--runs", type=int, default=DEFAULT_RUNS, help="runs per command")
    parser.add_argument(
        "--check-imports", action="store_true", help="check that help/version stay light"
    )
    parser.add_argument("--top-imports", type=int, metavar="N", help="list the N slowest imports")
    args = parser.parse_args(argv)
    if args.check_imports:
        return check_imports()
    if args.top_imports:
        top_imports(args.top_imports)
        return 0
    report_timings(max(args.runs, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
