"""Starting the agent with one endpoint under our own deadline, and stopping it.

pyngrok's start-up timeout is only checked between the agent's output lines, so a silent agent
would block forever: `connect()` runs in a worker thread, its outcome arrives through a Future,
and an agent that misses our deadline (or a Ctrl-C while we wait) is killed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apimw_cli.tunnel.ngrok_errors import too_slow
from apimw_cli.tunnel.pyngrok_private import registered_agent
from apimw_cli.tunnel.scrubbing import Scrub

if TYPE_CHECKING:
    from pyngrok.conf import PyngrokConfig
    from pyngrok.ngrok import NgrokTunnel
    from pyngrok.process import NgrokProcess

log = logging.getLogger(__name__)

DELETE_TIMEOUT = 2.0  # seconds; close() runs on Ctrl-C and must not keep the user waiting
ABORT_FIND_TIMEOUT = 2.0  # seconds to wait for pyngrok to register the agent we abort
REAP_TIMEOUT = 5.0  # seconds to wait for a killed agent, or for pyngrok's start thread


@dataclass(frozen=True)
class Started:
    """A running agent and the endpoint it opened."""

    endpoint: NgrokTunnel
    agent: NgrokProcess


def start_endpoint(
    config: PyngrokConfig, name: str, options: dict[str, Any], timeout: float
) -> Future[Started]:
    """pyngrok's `connect()` in a worker thread; returns its outcome once it is done.

    The returned Future is done: its `exception()` is what `connect()` raised, if anything.
    Raises TunnelError when `timeout` runs out first; a Ctrl-C while waiting propagates. In
    both cases the agent is killed first.
    """
    from pyngrok import ngrok

    outcome: Future[Started] = Future()

    def start() -> None:
        try:
            endpoint = ngrok.connect(name=name, proto="http", pyngrok_config=config, **options)
            outcome.set_result(Started(endpoint, ngrok.get_ngrok_process(config)))
        except BaseException as exc:  # handed to the caller's thread
            outcome.set_exception(exc)

    worker = threading.Thread(target=start, name="apimw-ngrok-start", daemon=True)
    worker.start()
    try:
        done, _ = wait([outcome], timeout)
    except BaseException:  # Ctrl-C while waiting: leave no agent starting behind
        abort_start(config, worker)
        raise
    if not done:
        abort_start(config, worker)
        raise too_slow(timeout)
    return outcome


def abort_start(config: PyngrokConfig, worker: threading.Thread) -> None:
    """Kill an agent that missed the deadline, and let pyngrok's start thread finish.

    pyngrok holds its process lock for the whole start, so ngrok.kill() would block: the
    process is found in pyngrok's registry and killed directly. Its stdout then ends, the
    start loop gives up, and pyngrok cleans its own state (and reaps the process).
    """
    path = config.ngrok_path
    deadline = time.monotonic() + ABORT_FIND_TIMEOUT
    agent = registered_agent(path)
    while agent is None and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
        agent = registered_agent(path)
    if agent is not None:
        with contextlib.suppress(OSError):
            agent.proc.kill()
        with contextlib.suppress(Exception):
            agent.proc.wait(timeout=REAP_TIMEOUT)
    worker.join(REAP_TIMEOUT)
    if worker.is_alive():
        log.debug("pyngrok's start thread did not finish after the agent was killed")
        return
    kill_agent(config)


def stop(config: PyngrokConfig, started: Started | None, scrub: Scrub) -> None:
    """Remove the endpoint (while the agent still runs), kill the agent and reap it."""
    if started is not None and started.agent.proc.poll() is None:
        delete_endpoint(started, scrub)
    kill_agent(config)
    if started is not None:
        with contextlib.suppress(Exception):
            started.agent.proc.wait(timeout=REAP_TIMEOUT)


def delete_endpoint(started: Started, scrub: Scrub) -> None:
    """DELETE the endpoint through the agent's API (not ngrok.disconnect(), which would
    start a new agent if this one died in the meantime)."""
    from pyngrok import ngrok
    from pyngrok.exception import PyngrokError

    agent, endpoint = started.agent, started.endpoint
    if not agent.api_url or not endpoint.uri:
        return
    try:
        ngrok.api_request(f"{agent.api_url}{endpoint.uri}", method="DELETE", timeout=DELETE_TIMEOUT)
    except PyngrokError as exc:
        log.debug("could not remove the ngrok endpoint: %s", scrub(str(exc)))


def kill_agent(config: PyngrokConfig) -> None:
    from pyngrok import ngrok
    from pyngrok.exception import PyngrokError

    try:
        ngrok.kill(config)
    except (PyngrokError, OSError) as exc:
        log.debug("could not kill the ngrok agent: %s", exc)
