"""What a listen session runs on, each a context manager that stops what it started: the
sandbox, the receiver, the ngrok tunnel and the demo traffic. A failure to start becomes an
ApimwError that says what to do."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from apimw_cli.errors import ApimwError
from apimw_cli.settings import SANDBOX_API_BASE

if TYPE_CHECKING:
    from apimw_cli.api.client import ApiClient
    from apimw_cli.output.live import LiveView
    from apimw_cli.receiver.events import ReceiverConfig, Sink
    from apimw_cli.receiver.server import RunningReceiver
    from apimw_cli.server_stack import ServerStack
    from apimw_cli.settings import Settings
    from apimw_cli.tunnel import Tunnel

__all__ = ["demo_traffic", "receiver", "sandbox", "tunnel_to"]


@contextlib.contextmanager
def sandbox(base: str, view: LiveView) -> Iterator[tuple[str, bool]]:
    """The sandbox at `base`, and whether it was already running; started here, in memory,
    when none answers at the default address."""
    from apimw_cli.api.sandbox import is_up

    if is_up(base):
        yield base, True
        return
    if base.rstrip("/") != SANDBOX_API_BASE:
        raise ApimwError(
            f"no sandbox answers at {base}",
            hint="start one with `apimw sandbox`, or unset APIMW_SANDBOX_URL so listen starts one",
        )
    from apimw_cli.sandbox.config import SandboxConfig
    from apimw_cli.sandbox.server import run_in_thread

    with contextlib.ExitStack() as stack:
        # Only starting it is "cannot start": an OSError from the session inside (stdout's
        # reader gone: BrokenPipeError) goes on as it is.
        try:
            running = stack.enter_context(run_in_thread(SandboxConfig(ephemeral=True)))
        except OSError as exc:
            raise ApimwError(f"cannot start a sandbox at {base}: {exc}") from exc
        view.note(f"started a sandbox at {running.base_url} (in memory, stops with listen)")
        yield running.base_url, False


@contextlib.contextmanager
def receiver(
    config: ReceiverConfig, sink: Sink, debug: Callable[[str], None] | None = None
) -> Iterator[RunningReceiver]:
    """The receiver, serving in its own thread; drained and stopped on exit. `debug` (--debug)
    is told which server stack it runs on, and why a part fell back to pure Python."""
    from apimw_cli.receiver.server import run_in_thread
    from apimw_cli.server_stack import detect

    server_stack = detect()  # a bad APIMW_SERVER_STACK: ConfigError, before the thread starts
    with contextlib.ExitStack() as stack:
        try:
            running = stack.enter_context(run_in_thread(config, sink, server_stack=server_stack))
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise ApimwError(
                f"cannot start the receiver on {config.host}:{config.port}: {exc}",
                hint="pick another --port, or check that --record's folder is writable",
            ) from exc
        if debug is not None:
            debug(f"the receiver runs on {server_stack.describe()}{_fallbacks(server_stack)}")
        yield running


def _fallbacks(server_stack: ServerStack) -> str:
    """Why a part is the pure-Python one, after "; " (nothing when none is)."""
    return "".join(f"; {why}" for why in server_stack.fallbacks)


@contextlib.contextmanager
def tunnel_to(
    port: int, settings: Settings, domain: str | None, debug: Callable[[str], None] | None
) -> Iterator[tuple[Tunnel, str]]:
    """The ngrok tunnel to the local `port`, configured from apimw's settings, and its public
    URL; closed (agent stopped) on exit. `debug` gets the agent's own words (authtoken
    masked) when the tunnel fails to open."""
    from apimw_cli.tunnel import Tunnel, TunnelSettings

    token = settings.resolve("ngrok_authtoken")
    tunnel_settings = TunnelSettings(
        authtoken=token.value,
        authtoken_source=token.source,
        ngrok_path=settings.get("ngrok_path"),
        region=settings.get("ngrok_region"),
        config_dir=settings.config_dir / "ngrok",
        domain=domain,
    )
    with Tunnel(tunnel_settings) as tunnel:
        try:
            public = tunnel.open(port, "127.0.0.1")
        except ApimwError:
            if debug is not None:
                for line in tunnel.agent_log:
                    debug(f"ngrok: {line}")
            raise
        yield tunnel, public


@contextlib.contextmanager
def demo_traffic(client: ApiClient, stop: threading.Event) -> Iterator[None]:
    """--demo: realistic traffic on the sandbox from its own thread, until `stop` is set (on
    exit at the latest)."""
    from apimw_cli.api.sandbox import run_demo

    thread = threading.Thread(target=run_demo, args=(client, stop), daemon=True, name="apimw-demo")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
