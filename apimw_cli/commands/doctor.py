"""`apimw doctor`: check, before `apimw listen`, what it needs; one row per check.

Each check is a `Check` row: ok, warn or fail, what was found, and a hint. `-o json` prints the
rows as a list. Any fail makes the exit code 1 (through the one error boundary); warnings alone
do not. The network probes live in `apimw_cli/api/diagnostics.py` (httpx stays in `api/`), the
ngrok agent is found by `apimw_cli.tunnel` (pyngrok stays there); here they are judged and worded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import typer

from apimw_cli.commands.common import AppState, state
from apimw_cli.errors import ApimwError, AuthenticationError, ConfigError, NetworkError
from apimw_cli.output import mask
from apimw_cli.protocol import LOOPBACK_ADDRESSES, WEBHOOKS_PERMISSION, is_loopback
from apimw_cli.settings import SANDBOX_API_BASE, Credentials, Settings

if TYPE_CHECKING:
    from apimw_cli.api.diagnostics import ApiProbe, UrlProbe

Status = Literal["ok", "warn", "fail"]

LISTEN_HOST = "127.0.0.1"  # `apimw listen`'s default --host
SKEW_WARN = 30.0  # seconds
SKEW_FAIL = 300.0
# Files whose presence says "this process runs in a container" (Docker, Podman).
CONTAINER_MARKERS: tuple[Path, ...] = (Path("/.dockerenv"), Path("/run/.containerenv"))
HOSTS_FILE = Path("/etc/hosts")  # Docker Desktop may add host.docker.internal here
DOCKER_HOST = "host.docker.internal"


class DoctorFailed(ApimwError):
    """At least one check failed (exit code 1)."""


@dataclass(frozen=True)
class Check:
    """One row of the report."""

    check: str
    status: Status
    detail: str
    hint: str | None = None


def _guarded(name: str, check: Callable[[Settings], Check], settings: Settings) -> Check:
    """`check(settings)`, or a fail row for `name` when it raises an ApimwError."""
    try:
        return check(settings)
    except ApimwError as exc:
        return Check(name, "fail", exc.message, exc.hint)


# --- credentials and the API ---------------------------------------------------------------


def _credentials_row(settings: Settings) -> tuple[Check, Credentials | None]:
    try:
        creds = settings.credentials()
    except ConfigError as exc:  # none, incomplete, or an unreadable config file
        return Check("credentials", "fail", exc.message, exc.hint), None
    if creds.token:
        what = f"access token {mask(creds.token)}"
    else:
        what = f"API key {mask(creds.api_key)} and its secret"
    return Check("credentials", "ok", f"{what}, from {creds.source}"), creds


def _probe_api(app: AppState, creds: Credentials | None) -> ApiProbe:
    from apimw_cli.api.diagnostics import probe_api, probe_client

    with probe_client(app.settings, creds, transport=app.transport) as client:
        return probe_api(client)


def _api_rows(app: AppState, credentials: Check, creds: Credentials | None) -> list[Check]:
    """The credentials row (refused ones fail), then api, permission and clock."""
    base = app.settings.api_base
    try:
        probe = _probe_api(app, creds)
    except NetworkError as exc:
        if app.sandbox and base == SANDBOX_API_BASE:
            # `listen --sandbox` starts its own sandbox when none answers at the default address.
            return [
                credentials,
                Check(
                    "api",
                    "warn",
                    f"no sandbox answers at {base}",
                    "`apimw listen --sandbox` starts one itself; `apimw sandbox` runs one "
                    "that other commands can use too",
                ),
            ]
        return [credentials, Check("api", "fail", exc.message, exc.hint)]
    rows: list[Check] = []
    error = probe.error
    if isinstance(error, AuthenticationError):
        if creds is not None:
            credentials = replace(
                credentials,
                status="fail",
                detail=f"{credentials.detail}: refused by the API ({error.message})",
                hint=error.hint,
            )
        without = " without credentials" if creds is None else ""
        rows += [credentials, Check("api", "ok", f"{base} answers (HTTP {error.status}{without})")]
    elif error is not None and error.status == 403:
        rows += [
            credentials,
            Check("api", "ok", f"{base} answers"),
            Check("permission", "warn", f"auth/me was refused: {error.message}", error.hint),
        ]
    elif error is not None:
        hint = error.hint or "check --api-base (`apimw config show` says where it comes from)"
        rows += [credentials, Check("api", "fail", f"{base} answered: {error.message}", hint)]
    else:
        rows += [credentials, Check("api", "ok", f"{base} answers")]
    if probe.identity is not None:
        identity = probe.identity
        who = f"{identity.email}, tenant {identity.tenant_name}"
        if identity.can(WEBHOOKS_PERMISSION):
            rows.append(Check("permission", "ok", f"{WEBHOOKS_PERMISSION} granted ({who})"))
        else:
            has = ", ".join(identity.permissions) or "none"
            rows.append(
                Check(
                    "permission",
                    "warn",
                    f"{WEBHOOKS_PERMISSION} missing ({who}; has: {has})",
                    "`listen` cannot register webhooks without it: create an API key with "
                    f"{WEBHOOKS_PERMISSION} in the APIMW console",
                )
            )
    if probe.skew is not None:  # no Date header: nothing to compare, no row
        rows.append(_clock_row(probe.skew))
    return rows


def _clock_row(skew: float) -> Check:
    off = abs(skew)
    if off <= SKEW_WARN:
        return Check("clock", "ok", f"in step with the API's (within {max(off, 1.0):.0f} s)")
    way = "behind" if skew > 0 else "ahead of"
    amount = f"{off / 60:.0f} min" if off >= 120 else f"{off:.0f} s"
    detail = f"this machine's clock is {amount} {way} the API's"
    hint = (
        "turn on automatic time sync (NTP; on Linux `timedatectl set-ntp true`): "
        "token expiry and event times are judged by the API's clock"
    )
    return Check("clock", "fail" if off > SKEW_FAIL else "warn", detail, hint)


# --- ngrok -----------------------------------------------------------------------------------

_SANDBOX_NOTE = " (only a tunnel needs it: not `listen --sandbox`)"


def _soften(row: Check, sandbox: bool) -> Check:
    """With --sandbox no tunnel is opened: an ngrok problem is only a warning."""
    if not sandbox or row.status == "ok":
        return row
    return replace(row, status="warn", detail=row.detail + _SANDBOX_NOTE)


def _ngrok_agent_row(settings: Settings) -> Check:
    from apimw_cli.errors import TunnelError
    from apimw_cli.tunnel import DOWNLOAD_URL, find_agent_binary

    configured = settings.resolve("ngrok_path")
    try:
        binary = find_agent_binary(configured.value)
    except TunnelError as exc:
        return Check("ngrok agent", "fail", f"{exc.message}, from {configured.source}", exc.hint)
    if binary.source == "ngrok_path":
        return Check("ngrok agent", "ok", f"{binary.path} (ngrok_path, from {configured.source})")
    if binary.source == "PATH":
        return Check("ngrok agent", "ok", f"{binary.path} (on PATH)")
    if binary.launcher is not None:
        return _launcher_row(binary.launcher, binary.path, binary.exists)
    if binary.exists:
        return Check("ngrok agent", "ok", f"{binary.path} (downloaded by apimw)")
    return Check(
        "ngrok agent",
        "warn",
        f"not installed: no ngrok on PATH, no ngrok_path; `apimw listen` will try to download "
        f"it to {binary.path}",
        f"if downloads are blocked, install ngrok ({DOWNLOAD_URL}) and put it on PATH, or set "
        "`apimw config set ngrok_path /path/to/ngrok` (or APIMW_NGROK_PATH)",
    )


def _launcher_row(launcher: Path, managed: Path, downloaded: bool) -> Check:
    """`ngrok` on PATH is pyngrok's launcher (a virtualenv's bin/ngrok), not an agent."""
    from apimw_cli.tunnel import DOWNLOAD_URL

    what = f"{launcher} is pyngrok's launcher: downloads the ngrok agent on first use"
    if downloaded:
        return Check("ngrok agent", "ok", f"{managed} (downloaded; {what})")
    return Check(
        "ngrok agent",
        "warn",
        f"{what} (needs internet): `apimw listen` will download it to {managed}; offline, "
        "that fails and the tunnel cannot start",
        f"install ngrok ({DOWNLOAD_URL}) and put it on PATH, or set `apimw config set "
        "ngrok_path /path/to/ngrok` (or APIMW_NGROK_PATH); or run `apimw listen` once online",
    )


def _ngrok_authtoken_row(settings: Settings) -> Check:
    from apimw_cli.tunnel import AUTHTOKEN_URL

    token = settings.resolve("ngrok_authtoken")
    if token.value:
        return Check("ngrok authtoken", "ok", f"{mask(str(token.value))}, from {token.source}")
    return Check(
        "ngrok authtoken",
        "fail",
        "not set: ngrok refuses to start without one",
        f"copy yours from {AUTHTOKEN_URL} and set it with `apimw config set ngrok_authtoken "
        "<token>` or the NGROK_AUTHTOKEN variable",
    )


# --- the receiver's server stack, the local port and the forward targets --------------------


def _server_stack_row() -> Check:
    """What `listen`'s receiver will run on (server_stack.detect, as the receiver calls it)."""
    from apimw_cli.server_stack import ENV_SERVER_STACK, detect

    try:
        stack = detect()
    except ConfigError as exc:
        return Check("server stack", "fail", exc.message, exc.hint)
    detail = stack.describe()
    if not stack.fallbacks:
        return Check("server stack", "ok", detail)
    detail += ": " + "; ".join(stack.fallbacks)
    if stack.broken:  # installed but unusable: listen works, at half the speed or less
        return Check(
            "server stack",
            "warn",
            detail,
            f"reinstall it (`pip install --force-reinstall {' '.join(stack.broken)}`) for the fast "
            f"stack, or set {ENV_SERVER_STACK}=pure to use the pure-Python one on purpose",
        )
    return Check("server stack", "ok", detail)  # no wheel here, or pure on purpose


def _port_row(port: int) -> Check:
    from apimw_cli.sockets import port_is_free  # the very check `listen` makes

    if port == 0:
        return Check("port", "ok", "0: `listen --port 0` picks any free port")
    if port_is_free(LISTEN_HOST, port):
        return Check("port", "ok", f"{port} on {LISTEN_HOST} is free")
    return Check(
        "port",
        "fail",
        f"{port} on {LISTEN_HOST} is in use",
        "stop what uses it, or pick another port with --port (here and for `apimw listen`)",
    )


def _in_container() -> bool:
    return any(marker.exists() for marker in CONTAINER_MARKERS)


def _docker_desktop() -> bool:
    try:
        return DOCKER_HOST in HOSTS_FILE.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _docker_hint(url: str, host: str) -> str | None:
    """A word on Docker networking, when Docker may be why nothing answers."""
    port = urlsplit(url).port
    port_text = str(port) if port is not None else "PORT"
    if host == DOCKER_HOST:
        if _in_container():
            return (
                f"{DOCKER_HOST} is the Docker host: your app must listen on 0.0.0.0 there, not "
                f"only on 127.0.0.1; on Linux start this container with "
                f"--add-host={DOCKER_HOST}:host-gateway"
            )
        return (
            f"{DOCKER_HOST} is for reaching the host from inside a container; from here use "
            f"localhost, and publish your app's container port (docker run -p {port_text}:"
            f"{port_text})"
        )
    if not is_loopback(host):
        return None
    if _in_container():
        return (
            "apimw runs inside a container, where localhost is the container itself: to reach "
            f"an app on the Docker host use http://{DOCKER_HOST}:{port_text}/... (on Linux start "
            f"the container with --add-host={DOCKER_HOST}:host-gateway), or run apimw on the host"
        )
    if _docker_desktop():
        return (
            "if your app runs in a Docker container, publish its port "
            f"(docker run -p {port_text}:{port_text}) so that it answers on localhost"
        )
    return None


def _answer(probe: UrlProbe) -> str:
    return f"HTTP {probe.status}" if probe.answered else probe.error or "no answer"


_DOWN_HINTS = {
    "refused": "nothing listens there: start your app, or fix the port in --forward-to",
    "unresolved": "check the host name in --forward-to",
    "timeout": "it accepts no request in time: check that your app is not stuck and that no "
    "firewall drops the connection",
}


def _down(url: str, host: str, detail: str, probe: UrlProbe) -> Check:
    hint = _DOWN_HINTS.get(probe.failure or "", "check the URL in --forward-to")
    docker = _docker_hint(url, host)
    return Check("forward-to", "fail", detail, f"{hint}; {docker}" if docker else hint)


def _forward_row(url: str) -> Check:
    from apimw_cli.api.diagnostics import probe_loopback, probe_url, resolve_localhost, with_host

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return Check(
            "forward-to",
            "fail",
            f"{url} is not an http(s) URL",
            "for example http://127.0.0.1:3000/webhooks",
        )
    if host != "localhost":
        probe = probe_url(url)
        if probe.answered:
            return Check("forward-to", "ok", f"{url} answers ({_answer(probe)})")
        return _down(url, host, f"{url}: {_answer(probe)}", probe)
    probes = probe_loopback(url)
    answering = [address for address in LOOPBACK_ADDRESSES if probes[address].answered]
    if len(answering) == len(LOOPBACK_ADDRESSES):
        status = probes[answering[0]].status
        return Check("forward-to", "ok", f"{url} answers (HTTP {status}, on 127.0.0.1 and ::1)")
    if not answering:
        tried = "; ".join(f"{address}: {_answer(probes[address])}" for address in probes)
        return _down(url, host, f"{url} does not answer ({tried})", probes["127.0.0.1"])
    address = answering[0]
    (other,) = (a for a in LOOPBACK_ADDRESSES if a != address)
    literal = with_host(url, address)
    detail = (
        f"{url} answers on {address} only (HTTP {probes[address].status}; "
        f"{other}: {_answer(probes[other])})"
    )
    resolved = resolve_localhost()
    if resolved and address not in resolved:
        detail += f", but localhost resolves to {', '.join(sorted(resolved))} here"
        return Check("forward-to", "fail", detail, f"use --forward-to {literal}")
    return Check(
        "forward-to",
        "warn",
        detail,
        f"use --forward-to {literal}: localhost may resolve to {other} first",
    )


# --- the command ---------------------------------------------------------------------------


def run_checks(app: AppState, port: int, forward_to: list[str]) -> list[Check]:
    """Every check, in the order shown."""
    local = [_server_stack_row(), _port_row(port), *(_forward_row(url) for url in forward_to)]
    try:
        settings = app.settings
    except ApimwError as exc:  # e.g. an invalid profile name: nothing else can be resolved
        return [Check("settings", "fail", exc.message, exc.hint), *local]
    credentials, creds = _credentials_row(settings)
    try:
        rows = _api_rows(app, credentials, creds)
    except ApimwError as exc:
        rows = [credentials, Check("api", "fail", exc.message, exc.hint)]
    rows += [
        _soften(_guarded("ngrok agent", _ngrok_agent_row, settings), app.sandbox),
        _soften(_guarded("ngrok authtoken", _ngrok_authtoken_row, settings), app.sandbox),
    ]
    return [*rows, *local]


def doctor(
    ctx: typer.Context,
    port: Annotated[
        int,
        typer.Option(
            "--port",
            metavar="PORT",
            help="The port `apimw listen` will listen on (0: any free port).",
            min=0,
            max=65535,
        ),
    ] = 4242,
    forward_to: Annotated[
        list[str] | None,
        typer.Option(
            "--forward-to",
            "-f",
            metavar="URL",
            help="Your app's URL, as you pass it to `apimw listen` (repeatable).",
        ),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option("--sandbox", help="Check for `listen --sandbox` (no tunnel needed)."),
    ] = False,
) -> None:
    """Check your setup for `apimw listen`: credentials, API, clock, ngrok, server, port, app.

    Each check prints ok, warn or fail with a hint; the exit code is 1 when any check
    fails (warnings alone exit 0). Every network call gives up within a few seconds.

    Examples:

      apimw doctor --forward-to http://localhost:3000/webhooks

      apimw -o json doctor --sandbox
    """
    app = state(ctx)
    if sandbox:
        app.use_sandbox()
    rows = run_checks(app, port, forward_to or [])
    printer = app.printer
    data: list[dict[str, Any]] = [asdict(row) for row in rows]

    def human() -> None:
        printer.table(
            ["check", "status", "detail", "hint"],
            [(row.check, row.status, row.detail, row.hint) for row in rows],
        )

    printer.data(data, human)
    failed = [row.check for row in rows if row.status == "fail"]
    warned = [row.check for row in rows if row.status == "warn"]
    if failed:
        names = ", ".join(dict.fromkeys(failed))
        raise DoctorFailed(f"{len(failed)} of {len(rows)} checks failed: {names}")
    if not printer.json:
        if warned:
            printer.info(f"no failures; {len(warned)} warning(s): {', '.join(warned)}")
        else:
            printer.success(f"all {len(rows)} checks passed")
