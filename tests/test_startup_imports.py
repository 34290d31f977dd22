"""One-shot commands import only what they use (#17): help imports no heavy library, and a
command that makes one plain-HTTP request imports httpx without its CLI, builds no TLS context,
and neither pydantic nor tenacity nor (with a fresh cached token) filelock, nor httpcore; data
piped or printed as JSON imports no rich.

Measured on the 2-core CI machine (python -X importtime, best of 5), what these keep out:
pydantic ~75 ms (typer's parameter adapters, see apimw_cli/commands/params.py), httpx's CLI
module ~55 ms of httpx's ~95 ms (click, pygments, rich: see apimw_cli/api/transport.py),
certifi's CA bundle loaded into an SSLContext ~50 ms, filelock ~40 ms (it imports asyncio),
httpcore with h11 and anyio ~20-30 ms, rich for a piped table or JSON ~30-40 ms.

Each probe runs the CLI in a fresh interpreter, in-process (`apimw_cli.main.main` with
`sys.argv` set and SystemExit caught), and reports the modules each invocation imported.
Speed itself is measured by benchmarks/, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.capture import Captured, CaptureServer, Reply

ROOT = Path(__file__).resolve().parent.parent

# Top-level packages that no --help and no --version may import.
NEVER_FOR_HELP = frozenset(
    {
        "anyio",
        "certifi",
        "filelock",
        "h11",
        "httpcore",
        "httptools",
        "httpx",
        "orjson",
        "platformdirs",
        "pydantic",
        "pydantic_core",
        "pyngrok",
        "rich",  # help is plain text (rich_markup_mode=None): no rich.console either
        "starlette",
        "tenacity",
        "uvicorn",
        "uvloop",
    }
)
# ... and what a one-shot API command over plain HTTP must not import either.
NEVER_FOR_A_REQUEST = frozenset(
    {"pydantic", "pydantic_core", "tenacity", "uvicorn", "starlette", "pyngrok", "uvloop"}
)
# httpx's default transport and what it brings, which a plain-HTTP request does without.
HTTPCORE_STACK = frozenset({"httpcore", "h11", "anyio", "certifi"})
# httpx's CLI and what it drags in (api/transport.py keeps it out).
HTTPX_CLI = frozenset({"httpx._main", "click", "pygments", "rich.progress", "rich.syntax"})

# Runs in a fresh interpreter: prints {invocation: [modules it imported], ...} as JSON.
# argv[1]: a JSON list of argument lists ("tree" in it: the --help of every command path).
_PROBE = r"""
import contextlib, io, json, ssl, sys

contexts = []
_new = ssl.SSLContext.__new__
def _counting_new(cls, *args, **kwargs):
    contexts.append(cls.__name__)
    return _new(cls, *args, **kwargs)
ssl.SSLContext.__new__ = _counting_new

before = set(sys.modules)
import typer.main
from apimw_cli.main import app, main

report = {"import apimw_cli.main": sorted(set(sys.modules) - before)}

def paths(command, prefix):
    yield prefix
    ctx = typer.Context(command, info_name=prefix[-1] if prefix else "apimw")
    for name in getattr(command, "list_commands", lambda ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None and not getattr(sub, "hidden", False):
            yield from paths(sub, [*prefix, name])

invocations = []
for args in json.loads(sys.argv[1]):
    if args == "tree":
        # Listing the tree loads every command module: what their import costs shows up in
        # the first invocation, `apimw --help` is only run after it.
        tree = [p for p in paths(typer.main.get_command(app), []) if p]
        report["import every command module"] = sorted(set(sys.modules) - before)
        invocations += [["--help"], ["--version"]] + [[*p, "--help"] for p in tree]
    else:
        invocations.append(args)
codes = {}
for args in invocations:
    seen = set(sys.modules)
    sys.argv = ["apimw", *args]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        try:
            main()
            codes[" ".join(args)] = 0
        except SystemExit as exit:
            codes[" ".join(args)] = exit.code or 0
    report[" ".join(["apimw", *args])] = sorted(set(sys.modules) - seen)
report["(exit codes)"] = codes
report["(ssl contexts)"] = contexts
print(json.dumps(report))
"""


def probe(*invocations: list[str] | str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the probe in a fresh interpreter, in this test's environment (conftest isolates it)."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(invocations))],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"import probe failed:\n{result.stderr}"
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


def roots(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@cache
def _help_report() -> dict[str, Any]:
    return probe("tree")


@pytest.fixture
def help_report() -> dict[str, Any]:
    """Run once per worker: each test's isolated environment differs, but help reads none."""
    return _help_report()


def offenders(report: dict[str, Any], banned: frozenset[str]) -> dict[str, Any]:
    return {
        invocation: sorted(roots(modules) & banned)
        for invocation, modules in report.items()
        if invocation.startswith("apimw") and roots(modules) & banned
    }


def test_help_and_version_of_every_command_path_import_no_heavy_library(
    help_report: dict[str, Any],
) -> None:
    found = offenders(help_report, NEVER_FOR_HELP)
    details = "; ".join(f"`{inv}` imported {', '.join(mods)}" for inv, mods in found.items())
    assert found == {}, f"heavy imports for help (import them inside the command): {details}"
    assert help_report["(ssl contexts)"] == []


def test_loading_every_command_module_imports_no_heavy_library(
    help_report: dict[str, Any],
) -> None:
    """Command modules import their libraries inside the commands, so that listing or
    showing the help of one costs nothing of another's."""
    imported = roots(help_report["import every command module"])
    assert imported & NEVER_FOR_HELP == set()


def test_the_probe_covers_help_version_and_every_command_path(
    help_report: dict[str, Any],
) -> None:
    invocations = set(help_report)
    assert {"apimw --help", "apimw --version", "apimw webhooks --help"} <= invocations
    assert {"apimw webhooks list --help", "apimw config set --help"} <= invocations
    codes = help_report["(exit codes)"]
    assert isinstance(codes, dict) and set(codes.values()) == {0}, codes


def test_help_is_not_given_pydantic_by_an_environment_value(tmp_path: Path) -> None:
    """A set (even invalid) APIMW_* variable is read by the root's options: still no pydantic."""
    report = probe(["webhooks", "--help"], env={"APIMW_OUTPUT": "json", "APIMW_PROFILE": "x"})
    assert roots(report["apimw webhooks --help"]) & {"pydantic", "httpx"} == set()


WEBHOOK = {
    "id": "whk_probe1",
    "url": "https://example.com/hooks",
    "events": ["message.received"],
    "active": True,
    "verified": True,
    "failure_count": 0,
    "created_at": "2026-01-01T00:00:00Z",
}


def _api(request: Captured) -> Reply:
    """Just enough of APIMW for `webhooks list`: tokens, and a page with one webhook."""
    if request.path.endswith("/auth/token"):
        data = {"access_token": "tok_probe", "expires_in": 3600, "refresh_token": "rt_probe"}
    else:
        page = {"page": 1, "limit": 20, "total": 1, "has_more": False}
        data = {"webhooks": [WEBHOOK], "pagination": page}
    body = json.dumps({"success": True, "data": data}).encode()
    return Reply(200, body, content_type="application/json")


@pytest.fixture
def plain_http_api() -> Iterator[CaptureServer]:
    with CaptureServer(_api) as server:
        yield server


def test_a_request_to_a_plain_http_api_builds_no_tls_context_and_imports_no_pydantic(
    plain_http_api: CaptureServer,
) -> None:
    env = {"APIMW_API_BASE": f"{plain_http_api.base_url}/v1", "APIMW_TOKEN": "tok_probe"}
    report = probe(["webhooks", "list"], env=env)
    assert report["(exit codes)"] == {"webhooks list": 0}
    imported = report["apimw webhooks list"]
    assert "httpx" in imported  # the probe did make the request
    assert [r.path.split("?")[0] for r in plain_http_api.requests] == ["/v1/webhooks"]
    assert report["(ssl contexts)"] == [], "an SSLContext was built for an http:// API"
    assert roots(imported) & NEVER_FOR_A_REQUEST == set()
    assert set(imported) & HTTPX_CLI == set(), "httpx imported its command-line client"
    assert "tomllib" not in imported  # no config file: nothing to parse
    # http:// goes through http.client (api/transport.py): no httpcore, h11, anyio or certifi.
    assert roots(imported) & HTTPCORE_STACK == set()


@pytest.mark.parametrize(
    "args",
    [["webhooks", "list"], ["-o", "json", "webhooks", "list"]],
)
def test_piped_data_imports_no_rich(plain_http_api: CaptureServer, args: list[str]) -> None:
    """Off a terminal a table is aligned text and JSON is json.dumps: rich (a third of a piped
    one-shot command's start-up) is not imported for them (output/printer.py)."""
    env = {"APIMW_API_BASE": f"{plain_http_api.base_url}/v1", "APIMW_TOKEN": "tok_probe"}
    report = probe(args, env=env)
    invocation = " ".join(args)
    assert report["(exit codes)"] == {invocation: 0}
    imported = report[f"apimw {invocation}"]
    assert "httpx" in imported  # the probe did make the request
    assert "rich" not in roots(imported)


def test_a_fresh_cached_token_is_read_without_filelock(plain_http_api: CaptureServer) -> None:
    env = {
        "APIMW_API_BASE": f"{plain_http_api.base_url}/v1",
        "APIMW_API_KEY": "ak_test_probe",
        "APIMW_API_SECRET": "sk_test_probe",
    }
    first = probe(["webhooks", "list"], env=env)  # logs in and caches the token (locked)
    assert first["(exit codes)"] == {"webhooks list": 0}
    assert "filelock" in roots(first["apimw webhooks list"])
    second = probe(["webhooks", "list"], env=env)
    assert second["(exit codes)"] == {"webhooks list": 0}
    assert "filelock" not in roots(second["apimw webhooks list"])
    token_requests = [r for r in plain_http_api.requests if r.path.endswith("/auth/token")]
    assert len(token_requests) == 1  # the second run used the cached token


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], True),
        (["--help"], True),
        (["-h"], True),
        (["--version"], True),
        (["-V"], True),
        (["webhooks", "--help"], True),
        (["--sandbox", "webhooks", "list", "--help"], True),
        (["-o", "json", "webhooks", "list", "-h"], True),
        # --help as an option's value: the command runs, so the log masking is installed.
        (["webhooks", "update", "whk_1", "--description", "--help"], False),
        (["--profile", "--help"], False),
        (["sign", "--", "--help"], False),
        (["webhooks", "list"], False),
        (["--version", "webhooks"], False),
    ],
)
def test_only_help_is_certain_or_false(args: list[str], expected: bool) -> None:
    """main() skips installing the masking log handler only for certain help or version."""
    from apimw_cli.main import only_help

    assert only_help(args) is expected


@pytest.mark.parametrize(
    ("args", "not_imported"),
    [
        (["--help"], ("apimw_cli.output", "apimw_cli.settings.resolve", "logging")),
        (["--version"], ("apimw_cli.output", "apimw_cli.settings.resolve", "logging")),
        (["webhooks", "--help"], ("apimw_cli.output", "apimw_cli.catalog", "apimw_cli.signing")),
        (["webhooks", "list", "--help"], ("apimw_cli.output", "apimw_cli.models")),
    ],
)
def test_help_alone_imports_none_of_apimws_own_heavier_modules(
    args: list[str], not_imported: tuple[str, ...]
) -> None:
    """Run alone (the tree probe above loads every command first): the root's help reads no
    settings file machinery, and no help page imports output/ (rich's owner, the log masking)."""
    report = probe(args)
    imported = {*report["import apimw_cli.main"], *report[" ".join(["apimw", *args])]}
    assert imported.isdisjoint(not_imported), sorted(imported & set(not_imported))


_ON_A_TERMINAL = r"""
import atexit, runpy, sys
atexit.register(lambda: sys.stderr.write("\nrich imported: %s\n" % ("rich" in sys.modules)))
sys.argv = ["apimw", "webhooks", "list"]
runpy.run_module("apimw_cli", run_name="__main__")
"""


def test_a_table_on_a_colour_terminal_imports_no_rich(plain_http_api: CaptureServer) -> None:
    """On a terminal the table of printable-ASCII cells is rich's, byte for byte, made
    without importing rich (output/tables.py terminal_lines; tests/output checks the bytes)."""
    import fcntl
    import pty
    import struct
    import termios

    env = {
        **{k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")},
        "APIMW_API_BASE": f"{plain_http_api.base_url}/v1",
        "APIMW_TOKEN": "tok_probe",
        "TERM": "xterm-256color",
    }
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    try:
        result = subprocess.run(
            [sys.executable, "-c", _ON_A_TERMINAL],
            cwd=ROOT,
            env=env,
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
        shown = os.read(main, 65536).decode()
    finally:
        os.close(terminal)
        os.close(main)
    assert result.returncode == 0, result.stderr
    assert "\x1b[1mid\x1b[0m" in shown and "whk_probe1" in shown  # the table, bold headers
    assert result.stderr.strip().endswith("rich imported: False")
