"""Run the three benchmarks one after another and put their tables into benchmarks/README.md.

    python benchmarks/results.py                              # ~20 minutes
    python benchmarks/results.py --reference-tree /tmp/apimw-ref
    python benchmarks/results.py --quick --output /tmp/results.md   # a smoke run, elsewhere

Each script runs as `python benchmarks/<script> --markdown [...]`, its progress passed through;
its table (from its bold title on, with the machine and the command) replaces the text between
the README's `<!-- results -->` and `<!-- /results -->` markers, in the order run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
START, END = "<!-- results -->", "<!-- /results -->"
SCRIPTS = ("receiver.py", "sandbox_delivery.py", "startup.py")


def table_of(output: str) -> str:
    """The Markdown part of a script's output: from its bold title to the end."""
    lines = output.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("**")), len(lines))
    return "\n".join(lines[first:]).strip()


def run(script: str, extra: list[str]) -> str:
    command = [sys.executable, str(HERE / script), "--markdown", *extra]
    print(f"$ {' '.join(command[1:])}", file=sys.stderr, flush=True)
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:  # progress as it comes
            sys.stderr.write(line)
            lines.append(line)
    if process.returncode != 0:
        return f"`{script}` exited with {process.returncode}: no figures."
    return table_of("".join(lines))


def replace_between(text: str, body: str) -> str:
    before, start, rest = text.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"{README} has no {START} ... {END} section")
    return f"{before}{START}\n{body}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reference-tree", metavar="PATH", help="passed to every script")
    parser.add_argument("--quick", action="store_true", help="passed to every script")
    parser.add_argument("--output", type=Path, default=README, help="the file to update")
    args = parser.parse_args(argv)
    extra = ["--quick"] if args.quick else []
    if args.reference_tree:
        extra += ["--reference-tree", args.reference_tree]
    tables = [run(script, extra) for script in SCRIPTS]
    target = args.output
    text = target.read_text() if target.exists() else f"{START}\n{END}\n"
    target.write_text(replace_between(text, "\n\n".join(tables)))
    print(f"updated {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
