"""Start-up time of `apimw`, against the floor of `import typer`.

    python benchmarks/startup.py [--runs 15] [--markdown]  # timings; exits 0 (it measures)
    python benchmarks/startup.py --quick         # a smoke run: 2 runs each
    python benchmarks/startup.py --check-imports # exit 1 if --help/--version import a heavy lib
    python benchmarks/startup.py --top-imports 15  # slowest imports of `apimw --help`

Every command runs with the same interpreter (`sys.executable`), in fresh config and data
directories, interleaved run by run (the order alternating) so that drifts of the machine spread
evenly, after one untimed warm-up each; medians and ranges are reported, and per run the ratio
to `python -c "import typer"`, the floor of any typer CLI. Targets (issue #17): `apimw --help`
<= 1.2x, `apimw webhooks --help` <= 1.3x, `apimw --sandbox webhooks list` <= 2.5x with a cached
token against a running sandbox (started here; the warm-up run caches its token). With
--reference-tree PATH, the same commands from another source tree run in the same rounds.

`--check-imports` runs the CLI in-process (`apimw_cli.main.main`, with `sys.argv` set and
SystemExit caught) for `--help`, `--version` and the `--help` of every command path of the
tree, and lists the heavy modules that got imported. Heavy libraries belong inside commands.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Row, Spread, print_header, print_table, ratio_row

ROOT = Path(__file__).resolve().parent.parent
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
APIMW = [sys.executable, "-m", "apimw_cli"]
# (label, argv, target ratio to the baseline or None, needs a running sandbox)
COMMANDS: tuple[tuple[str, list[str], float | None, bool], ...] = (
    ("apimw --help", [*APIMW, "--help"], 1.2, False),
    ("apimw --version", [*APIMW, "--version"], None, False),
    ("apimw webhooks --help", [*APIMW, "webhooks", "--help"], 1.3, False),
    ("apimw --sandbox webhooks list", [*APIMW, "--sandbox", "webhooks", "list"], 2.5, True),
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


REFERENCE = " (reference tree)"


def _run_once(argv: list[str], env: dict[str, str], tree: Path | None) -> tuple[Time, int]:
    """Wall and CPU time and exit status of one run; with `tree`, that tree's apimw_cli runs
    (`-m` puts the working directory first on sys.path, PYTHONPATH next)."""
    if tree is not None:
        env = {
            **env,
            "PYTHONPATH": os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH")) if p),
        }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=tree or ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Time(wall, cpu), done.returncode


@dataclass(frozen=True)
class Time:
    """One run: wall seconds, and CPU seconds (user + system), steadier on a busy machine."""

    wall: float
    cpu: float


@contextlib.contextmanager
def environment(with_sandbox: bool) -> Iterator[dict[str, str]]:
    """Fresh config and data directories; with a running sandbox, APIMW_SANDBOX_URL names it
    (its token gets cached by the warm-up run, as after a user's first command)."""
    with (
        tempfile.TemporaryDirectory(prefix="apimw-startup-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        env = {**_ENV, "APIMW_CONFIG_DIR": f"{tmp}/config", "APIMW_DATA_DIR": f"{tmp}/data"}
        if with_sandbox:
            from benchmarks.sandbox_delivery import sandbox_process

            env["APIMW_SANDBOX_URL"] = stack.enter_context(sandbox_process())
        yield env


def measure(
    runs: int, with_sandbox: bool = True, tree: Path | None = None
) -> dict[str, list[Time]]:
    """Wall times in seconds of the baseline and of each command (and with `tree`, of each
    command with a target from that tree), interleaved run by run (the order alternates),
    after one untimed warm-up each."""
    chosen = [c for c in COMMANDS if with_sandbox or not c[3]]
    every: list[tuple[str, list[str], Path | None]] = [(BASELINE[0], BASELINE[1], None)]
    every += [(label, argv, None) for label, argv, _, _ in chosen]
    if tree is not None:
        every += [(label + REFERENCE, argv, tree) for label, argv, target, _ in chosen if target]
    samples: dict[str, list[Time]] = {label: [] for label, _, _ in every}
    with environment(with_sandbox) as env:
        for label, argv, where in every:  # warm-up: page cache, .pyc files, the cached token
            _, status = _run_once(argv, env, where)
            if status:
                raise RuntimeError(f"`{label}` exited with {status}")
        for number in range(runs):
            for label, argv, where in every if number % 2 == 0 else reversed(every):
                samples[label].append(_run_once(argv, env, where)[0])
    return samples


def timings(runs: list[Time]) -> str:
    wall = Spread.of(t.wall * 1000 for t in runs).show(1, " ms")
    return f"{wall}; CPU {Spread.of(t.cpu * 1000 for t in runs).show(1, ' ms')}"


def at_most(bound: float) -> Callable[[float], bool]:
    return lambda ratio: ratio <= bound


def report_timings(runs: int, with_sandbox: bool, markdown: bool, tree: Path | None = None) -> None:
    samples = measure(runs, with_sandbox, tree)
    base_label = BASELINE[0]
    base = samples[base_label]
    table = [Row(base_label, timings(base))]
    for command, _, target, needs_sandbox in COMMANDS:
        if command not in samples:
            table.append(Row(command, "skipped (--no-sandbox)"))
            continue
        for label in (command, command + REFERENCE):
            if label not in samples:
                continue
            table.append(Row(label, timings(samples[label])))
            if target is not None:
                pairs = list(zip(samples[label], base, strict=True))
                note = ", cached token, running sandbox" if needs_sandbox else ""
                row = ratio_row(
                    f"{label} / {base_label}{note}", [t.wall / b.wall for t, b in pairs],
                    f"<= {target}x", at_most(target),
                )  # fmt: skip
                cpu = Spread.of(t.cpu / b.cpu for t, b in pairs if b.cpu)
                table.append(Row(row.measure, f"{row.figure}; CPU {cpu.show(2, 'x')}", row.target))
    title = f"start-up: {runs} interleaved runs of each, wall time; CPU time ({sys.executable})"
    if tree is not None:
        title += f"; reference tree {tree}"
    print_table(title, table, markdown)
    print_header(markdown)


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
    parser.add_argument(
        "--no-sandbox", action="store_true", help="leave out the command that needs a sandbox"
    )
    parser.add_argument(
        "--reference-tree",
        type=Path,
        metavar="PATH",
        help="also time the commands of this source tree (`git worktree add /tmp/ref dfcc62d`)",
    )
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 runs each")
    args = parser.parse_args(argv)
    if args.check_imports:
        return check_imports()
    if args.top_imports:
        top_imports(args.top_imports)
        return 0
    runs = 2 if args.quick else max(args.runs, 1)
    tree = args.reference_tree.resolve() if args.reference_tree else None
    report_timings(runs, not args.no_sandbox, args.markdown, tree)
    return 0


if __name__ == "__main__":
    sys.exit(main())
