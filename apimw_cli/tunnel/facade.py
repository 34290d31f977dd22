"""`Tunnel`: one ngrok agent with one HTTP endpoint to a local port, behind a small API."""

from __future__ import annotations

import atexit
import collections
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from apimw_cli.tunnel.agent_config import pyngrok_config, require_authtoken, write_agent_config
from apimw_cli.tunnel.agent_log import AgentLog
from apimw_cli.tunnel.agent_process import Started, kill_agent, start_endpoint, stop
from apimw_cli.tunnel.binary import ready_agent_binary
from apimw_cli.tunnel.ngrok_errors import StartFailure, cannot_run, gave_up, too_slow, translate
from apimw_cli.tunnel.scrubbing import route_pyngrok_logging, scrubber_for
from apimw_cli.tunnel.settings import TunnelSettings, domain_url

if TYPE_CHECKING:
    from types import TracebackType

    from pyngrok.conf import PyngrokConfig

log = logging.getLogger(__name__)


class Tunnel:
    """One ngrok agent with one HTTP endpoint to a local port.

        with Tunnel(settings) as tunnel:
            url = tunnel.open(8000)
            ...

    `close()` is idempotent and also runs at interpreter exit as a safety net. Methods are
    thread-safe: a watchdog may call `alive()` and `restart()` while another thread waits.
    """

    def __init__(self, settings: TunnelSettings) -> None:
        self.settings = settings
        self._scrub = scrubber_for(settings.authtoken)
        self._log = AgentLog(self._scrub)
        self._lock = threading.RLock()
        self._config: PyngrokConfig | None = None
        self._started: Started | None = None
        self._upstream: tuple[int, str] | None = None
        route_pyngrok_logging()

    @property
    def agent_log(self) -> collections.deque[str]:
        """The agent's last log lines (authtokens masked), across restarts."""
        return self._log.lines

    @property
    def public_url(self) -> str | None:
        """The endpoint's public URL while open, else None."""
        started = self._started
        return started.endpoint.public_url if started is not None else None

    @property
    def agent_pid(self) -> int | None:
        """The process id of the running agent, if one was started and not yet closed."""
        started = self._started
        return started.agent.proc.pid if started is not None else None

    def __enter__(self) -> Tunnel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self, local_port: int, local_host: str = "localhost") -> str:
        """Start the agent and an HTTP endpoint to `http://<local_host>:<local_port>`.

        Returns the public URL (https with the real ngrok service). Raises TunnelError.
        """
        with self._lock:
            if self._started is not None:
                raise RuntimeError(f"the tunnel is already open at {self.public_url}")
            return self._open(local_port, local_host)

    def close(self) -> None:
        """Remove the endpoint and kill the agent. Idempotent; never raises for a dead agent."""
        with self._lock:
            self._close()

    def alive(self) -> bool:
        """True while the tunnel is open and its agent process runs."""
        started = self._started
        return started is not None and started.agent.proc.poll() is None

    def restart(self) -> str:
        """Kill the agent (dead or alive) and open the tunnel again. The URL may change
        (it stays the same with a reserved domain). Raises TunnelError."""
        with self._lock:
            if self._upstream is None:
                raise RuntimeError("restart() needs a tunnel that was opened")
            port, host = self._upstream
            self._close()
            return self._open(port, host)

    def _open(self, local_port: int, local_host: str) -> str:
        token = require_authtoken(self.settings)  # first: no download without a token
        binary = ready_agent_binary(self.settings.ngrok_path)
        write_agent_config(self.settings, token)
        config = pyngrok_config(self.settings, binary.path, self._log.on_line)
        self._upstream = (local_port, local_host)
        started = self._start(config, local_port, local_host)
        public_url = started.endpoint.public_url
        assert public_url is not None  # pyngrok raises when the agent gives none
        self._config, self._started = config, started
        atexit.register(self.close)
        log.debug(
            "ngrok tunnel %s -> %s:%d (agent pid %d)",
            public_url,
            local_host,
            local_port,
            started.agent.proc.pid,
        )
        return public_url

    def _start(self, config: PyngrokConfig, local_port: int, local_host: str) -> Started:
        """The agent with our endpoint, or a TunnelError (and no agent left running)."""
        from pyngrok.exception import PyngrokError

        options: dict[str, Any] = {"upstream": {"url": f"http://{_host(local_host)}:{local_port}"}}
        if self.settings.domain:
            options["url"] = domain_url(self.settings.domain)
        name = f"apimw-{local_port}-{uuid.uuid4().hex[:12]}"
        timeout = self.settings.startup_timeout
        self._log.mark_start()
        began = time.monotonic()
        outcome = start_endpoint(config, name, options, timeout)
        error = outcome.exception()
        if error is None:
            return outcome.result()
        kill_agent(config)
        if isinstance(error, PyngrokError):
            if gave_up(error) and time.monotonic() - began >= timeout:
                raise too_slow(timeout) from error
            failure = StartFailure(
                self.settings, config.ngrok_path, self._log.since_start(), self._scrub
            )
            raise translate(error, failure) from error
        if isinstance(error, OSError):
            raise cannot_run(config.ngrok_path, error) from error
        raise error

    def _close(self) -> None:
        config, started = self._config, self._started
        self._config, self._started = None, None
        atexit.unregister(self.close)
        if config is not None:
            stop(config, started, self._scrub)


def _host(host: str) -> str:
    """`host` as it goes into a URL (an IPv6 address in brackets)."""
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else bare
