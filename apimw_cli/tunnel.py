"""The ngrok tunnel: pyngrok lives here only.

`Tunnel` starts an ngrok agent through pyngrok with an explicit `PyngrokConfig` built at run time
(never pyngrok's import-time defaults), opens one HTTP endpoint to a local port, and stops the agent
on `close()`. Every pyngrok failure becomes a `TunnelError` (exit code 7) with a hint, raised
`from` the original exception.

- The authtoken goes into our own ngrok config file (mode 0600), never onto the agent's command
  line, where `ps` would show it to every user of the machine.
- pyngrok's start-up timeout is only checked between the agent's output lines, so a silent agent
  would block forever: the start runs in a worker thread under our own deadline, and an agent that
  misses it is killed.
- The agent's log lines never reach the terminal raw: they are kept (masked) in `Tunnel.agent_log`
  and forwarded at DEBUG level to the `apimw_cli.tunnel` logger; the `pyngrok` logger does not
  propagate to the root logger.

pyngrok is imported inside the functions that need it, so importing this module stays cheap
(`apimw listen --help` must not load it).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from apimw_cli.errors import TunnelError
from apimw_cli.output.masking import mask
from apimw_cli.settings import write_private_file

if TYPE_CHECKING:
    from types import TracebackType

    from pyngrok.conf import PyngrokConfig
    from pyngrok.log import NgrokLog
    from pyngrok.ngrok import NgrokTunnel
    from pyngrok.process import NgrokProcess

log = logging.getLogger(__name__)
_agent_logger = logging.getLogger(f"{__name__}.agent")

AUTHTOKEN_URL = "https://dashboard.ngrok.com/get-started/your-authtoken"
SIGNUP_URL = "https://dashboard.ngrok.com/signup"
AGENTS_URL = "https://dashboard.ngrok.com/agents"
DOMAINS_URL = "https://dashboard.ngrok.com/domains"
DOWNLOAD_URL = "https://ngrok.com/download"
CONFIG_FILE_NAME = "ngrok.yml"
AGENT_LOG_LINES = 200

_HOW_TO_SET_TOKEN = "`apimw config set ngrok_authtoken <token>` or the NGROK_AUTHTOKEN variable"
_HOW_TO_SET_PATH = "`apimw config set ngrok_path /path/to/ngrok` or APIMW_NGROK_PATH"
_ERROR_CODE = re.compile(r"ERR_NGROK_\d+")
_DELETE_TIMEOUT = 2.0  # seconds; close() runs on Ctrl-C and must not keep the user waiting

BinarySource = Literal["ngrok_path", "PATH", "managed"]


@dataclass(frozen=True)
class TunnelSettings:
    """What the tunnel needs, resolved from apimw's settings by the caller.

    `config_dir` is where apimw keeps its own ngrok config file (e.g. `config_dir()/ngrok`);
    the authtoken is written there (0600) and never passed on the command line.
    `authtoken_source` only improves error hints ("env NGROK_AUTHTOKEN", "profile 'default'").
    """

    authtoken: str | None = field(repr=False)
    ngrok_path: str | None
    region: str | None
    config_dir: Path
    domain: str | None = None
    startup_timeout: float = 20.0
    authtoken_source: str | None = None

    @property
    def config_file(self) -> Path:
        return self.config_dir / CONFIG_FILE_NAME


@dataclass(frozen=True)
class AgentBinary:
    """Where the ngrok agent is, and how it was found (`exists` False: it would be downloaded)."""

    path: Path
    source: BinarySource
    exists: bool


def managed_ngrok_path() -> Path:
    """pyngrok's own copy of the agent, computed now (pyngrok's constant is fixed at import)."""
    from pyngrok import installer

    return Path(installer.get_default_ngrok_dir()) / installer.get_ngrok_bin()


def find_agent_binary(ngrok_path: str | None) -> AgentBinary:
    """The agent to run: `ngrok_path` if set, else `ngrok` on PATH, else pyngrok's managed copy.

    Raises TunnelError when `ngrok_path` is set but is not an executable file: a configured
    path that is wrong is an error, not a reason to download another agent. Downloads nothing.
    """
    if ngrok_path:
        path = Path(ngrok_path).expanduser()
        if not path.is_file():
            raise TunnelError(
                f"the ngrok agent was not found at {path} (ngrok_path)",
                hint=f"install ngrok ({DOWNLOAD_URL}) and point {_HOW_TO_SET_PATH} at it, "
                "or unset ngrok_path to let apimw download it",
            )
        if not os.access(path, os.X_OK):
            raise TunnelError(
                f"the ngrok agent at {path} is not executable (ngrok_path)",
                hint=f"chmod +x {path}, or point {_HOW_TO_SET_PATH} at another ngrok",
            )
        return AgentBinary(path, "ngrok_path", True)
    on_path = shutil.which("ngrok")
    if on_path:
        return AgentBinary(Path(on_path), "PATH", True)
    managed = managed_ngrok_path()
    return AgentBinary(managed, "managed", managed.is_file())


# --- logging: pyngrok's records never reach the terminal raw ---

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def _scrub(text: str, secrets: set[str] | None = None) -> str:
    """`text` with every known authtoken replaced by its masked form."""
    with _secrets_lock:
        known = set(_secrets) if secrets is None else secrets
    for secret in sorted(known, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, mask(secret))
    return text


class _PyngrokForwarder(logging.Handler):
    """Re-logs pyngrok's records at DEBUG on our own logger."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("%s: %s", record.name, record.getMessage())


class _MaskSecrets(logging.Filter):
    """Masks known authtokens in a record where it is created, before any handler sees it
    (the agent echoes a rejected token in its error line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        scrubbed = _scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


# pyngrok 9's loggers; a logger's filters only see the records created on that very logger.
_PYNGROK_LOGGERS = (
    "pyngrok",
    "pyngrok.agent",
    "pyngrok.installer",
    "pyngrok.ngrok",
    "pyngrok.process",
    "pyngrok.process.ngrok",
)


def route_pyngrok_logging() -> None:
    """Keep pyngrok's records off the terminal and mask authtokens in them. Idempotent.

    The `pyngrok` logger stops propagating to the root logger's handlers (and to logging's
    last-resort stderr output, which would print the agent's error lines raw); its records
    are forwarded at DEBUG to `apimw_cli.tunnel`.
    """
    names = set(_PYNGROK_LOGGERS) | {
        name for name in logging.root.manager.loggerDict if name.startswith("pyngrok.")
    }
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _MaskSecrets) for f in logger.filters):
            logger.addFilter(_MaskSecrets())
    pyngrok_logger = logging.getLogger("pyngrok")
    pyngrok_logger.propagate = False
    if not any(isinstance(h, _PyngrokForwarder) for h in pyngrok_logger.handlers):
        pyngrok_logger.addHandler(_PyngrokForwarder())


# --- errors ---


def _first_line(text: str) -> str:
    line = text.replace("\\r", "").replace("\\n", "\n").strip().splitlines()
    return line[0].strip() if line else ""


def _error_code(*texts: str | None) -> str | None:
    for text in texts:
        match = _ERROR_CODE.search(text or "")
        if match:
            return match.group(0)
    return None


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
        self.agent_log: collections.deque[str] = collections.deque(maxlen=AGENT_LOG_LINES)
        self._lock = threading.RLock()
        self._config: PyngrokConfig | None = None
        self._agent: NgrokProcess | None = None
        self._endpoint: NgrokTunnel | None = None
        self._public_url: str | None = None
        self._upstream: tuple[int, str] | None = None
        self._secrets: set[str] = set()
        self._lines_seen = 0  # agent lines ever logged; agent_log keeps the last ones
        self._start_mark = 0
        if settings.authtoken:
            self._secrets.add(settings.authtoken)
            with _secrets_lock:
                _secrets.add(settings.authtoken)
        route_pyngrok_logging()

    # --- public API ---

    @property
    def public_url(self) -> str | None:
        """The endpoint's public URL while open, else None."""
        return self._public_url

    @property
    def agent_pid(self) -> int | None:
        """The process id of the running agent, if one was started and not yet closed."""
        agent = self._agent
        return agent.proc.pid if agent is not None else None

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
            if self._public_url is not None:
                raise RuntimeError(f"the tunnel is already open at {self._public_url}")
            return self._open(local_port, local_host)

    def close(self) -> None:
        """Remove the endpoint and kill the agent. Idempotent; never raises for a dead agent."""
        with self._lock:
            self._close()

    def alive(self) -> bool:
        """True while the tunnel is open and its agent process runs."""
        agent = self._agent
        return self._public_url is not None and agent is not None and agent.proc.poll() is None

    def restart(self) -> str:
        """Kill the agent (dead or alive) and open the tunnel again. The URL may change
        (it stays the same with a reserved domain). Raises TunnelError."""
        with self._lock:
            if self._upstream is None:
                raise RuntimeError("restart() needs a tunnel that was opened")
            port, host = self._upstream
            self._close()
            return self._open(port, host)

    # --- opening ---

    def _open(self, local_port: int, local_host: str) -> str:
        token = self._require_authtoken()  # first: no point downloading an agent without it
        binary = self._agent_binary()
        self._write_config(token)
        config = self._pyngrok_config(binary.path)
        self._upstream = (local_port, local_host)
        endpoint, agent = self._start(config, local_port, local_host)
        public_url = endpoint.public_url
        assert public_url is not None  # pyngrok raises when the agent gives none
        self._config, self._agent, self._endpoint = config, agent, endpoint
        self._public_url = public_url
        atexit.register(self.close)
        log.debug(
            "ngrok tunnel %s -> %s:%d (agent pid %d)",
            public_url,
            local_host,
            local_port,
            agent.proc.pid,
        )
        return public_url

    def _agent_binary(self) -> AgentBinary:
        binary = find_agent_binary(self.settings.ngrok_path)
        if not binary.exists:
            self._download(binary.path)
        return binary

    def _download(self, path: Path) -> None:
        """Install pyngrok's managed agent, without pyngrok's progress output on stdout."""
        from pyngrok import installer
        from pyngrok.exception import PyngrokError

        log.debug("downloading the ngrok agent to %s", path)
        with _quiet_installer():
            try:
                installer.install_ngrok(str(path), ngrok_version="3")
            except PyngrokError as exc:
                raise TunnelError(
                    "the ngrok agent is not installed and could not be downloaded",
                    hint=f"install ngrok ({DOWNLOAD_URL}, or your package manager) so that "
                    f"`ngrok` is on PATH, or point {_HOW_TO_SET_PATH} at it",
                ) from exc

    def _require_authtoken(self) -> str:
        token = self.settings.authtoken
        if not token:
            raise TunnelError(
                "no ngrok authtoken: ngrok needs a (free) account to open a tunnel",
                hint=f"copy yours from {AUTHTOKEN_URL} and set it with {_HOW_TO_SET_TOKEN}",
            )
        return token

    def _write_config(self, token: str) -> None:
        # JSON strings are valid YAML double-quoted scalars: any token is quoted safely.
        text = (
            "# Written by apimw for `apimw listen`. Holds the ngrok authtoken: keep it private.\n"
            "version: '3'\n"
            "agent:\n"
            f"  authtoken: {json.dumps(token)}\n"
        )
        try:
            write_private_file(self.settings.config_file, text.encode("utf-8"))
        except OSError as exc:
            raise TunnelError(
                f"cannot write the ngrok config file {self.settings.config_file}: {exc.strerror}",
                hint=f"check the permissions of {self.settings.config_dir}",
            ) from exc

    def _pyngrok_config(self, ngrok_path: Path) -> PyngrokConfig:
        from pyngrok.conf import PyngrokConfig

        config = PyngrokConfig(
            ngrok_path=str(ngrok_path),
            config_path=str(self.settings.config_file),
            region=self.settings.region or None,
            monitor_thread=True,
            log_event_callback=self._on_agent_line,
            startup_timeout=max(1, math.ceil(self.settings.startup_timeout)),
            # Creating the endpoint waits for ngrok's servers; our deadline bounds it anyway.
            request_timeout=max(5.0, self.settings.startup_timeout),
            ngrok_version="3",
            config_version="3",
        )
        # PyngrokConfig falls back to NGROK_AUTHTOKEN / NGROK_API_KEY from the environment, and
        # pyngrok passes an auth_token as `--authtoken T` (visible in `ps`): the token is in our
        # config file instead.
        config.auth_token = None
        config.api_key = None
        return config

    def _start(
        self, config: PyngrokConfig, local_port: int, local_host: str
    ) -> tuple[NgrokTunnel, NgrokProcess]:
        """pyngrok's connect() in a worker thread, under our own deadline."""
        from pyngrok import ngrok
        from pyngrok.exception import PyngrokError

        options: dict[str, Any] = {"upstream": {"url": f"http://{_host(local_host)}:{local_port}"}}
        if self.settings.domain:
            options["url"] = _domain_url(self.settings.domain)
        name = f"apimw-{local_port}-{uuid.uuid4().hex[:12]}"
        outcome: dict[str, object] = {}

        def start() -> None:
            try:
                endpoint = ngrok.connect(name=name, proto="http", pyngrok_config=config, **options)
                outcome["result"] = (endpoint, ngrok.get_ngrok_process(config))
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=start, name="apimw-ngrok-start", daemon=True)
        self._start_mark = self._lines_seen
        began = time.monotonic()
        worker.start()
        try:
            worker.join(self.settings.startup_timeout)
        except BaseException:  # Ctrl-C while waiting: leave no agent starting behind
            self._abort_start(config, worker)
            raise
        if worker.is_alive():
            self._abort_start(config, worker)
            raise self._too_slow()
        error = outcome.get("error")
        if error is not None:
            self._kill(config)
            if isinstance(error, PyngrokError):
                if _gave_up(error) and time.monotonic() - began >= self.settings.startup_timeout:
                    raise self._too_slow() from error
                raise self._translate(error, config) from error
            if isinstance(error, OSError):
                raise TunnelError(
                    f"cannot run the ngrok agent {config.ngrok_path}: {error.strerror or error}",
                    hint=f"check that it is an ngrok binary for this machine, or point "
                    f"{_HOW_TO_SET_PATH} at one",
                ) from error
            assert isinstance(error, BaseException)
            raise error
        result = outcome["result"]
        assert isinstance(result, tuple)
        return result[0], result[1]

    def _too_slow(self) -> TunnelError:
        return TunnelError(
            f"the ngrok agent did not start within {self.settings.startup_timeout:g} s",
            hint="the agent needs outbound HTTPS to ngrok's servers: check your network, "
            "proxy or firewall, and https://status.ngrok.com",
        )

    def _abort_start(self, config: PyngrokConfig, worker: threading.Thread) -> None:
        """Kill an agent that missed the deadline, and let pyngrok's start thread finish.

        pyngrok holds its process lock for the whole start, so ngrok.kill() would block: the
        process is found in pyngrok's registry and killed directly. Its stdout then ends, the
        start loop gives up, and pyngrok cleans its own state (and reaps the process).
        """
        from pyngrok import process

        path = config.ngrok_path
        deadline = time.monotonic() + 2.0
        agent = process._current_processes.get(path)
        while agent is None and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
            agent = process._current_processes.get(path)
        if agent is not None:
            with contextlib.suppress(OSError):
                agent.proc.kill()
            with contextlib.suppress(Exception):
                agent.proc.wait(timeout=5)
        worker.join(5)
        if worker.is_alive():
            log.debug("pyngrok's start thread did not finish after the agent was killed")
            return
        self._kill(config)

    def _translate(self, exc: Exception, config: PyngrokConfig) -> TunnelError:
        """A pyngrok error as a TunnelError with a hint; never includes the authtoken."""
        from pyngrok.exception import (
            PyngrokNgrokError,
            PyngrokNgrokHTTPError,
            PyngrokNgrokInstallError,
            PyngrokNgrokURLError,
        )

        if isinstance(exc, PyngrokNgrokInstallError):
            return TunnelError(
                "the ngrok agent is not installed and could not be downloaded",
                hint=f"install ngrok ({DOWNLOAD_URL}) or point {_HOW_TO_SET_PATH} at it",
            )
        detail = ""
        if isinstance(exc, PyngrokNgrokHTTPError):
            detail = exc.body or str(exc)
        elif isinstance(exc, PyngrokNgrokError):
            detail = exc.ngrok_error or ""
        code = _error_code(
            getattr(exc, "ngrok_error_code", None), detail, str(exc), *self._lines_of_this_start()
        )
        known = self._known_error(code)
        if known is not None:
            return known
        if isinstance(exc, PyngrokNgrokHTTPError):
            return TunnelError(
                f"the ngrok agent refused to open the tunnel "
                f"({exc.status_code}): {self._scrub(_first_line(_api_message(detail)))}",
                hint=_docs_hint(code),
            )
        if isinstance(exc, PyngrokNgrokURLError):
            return TunnelError(
                "the ngrok agent's local API did not answer",
                hint="the agent may have crashed: try again",
            )
        if isinstance(exc, PyngrokNgrokError) and exc.ngrok_error:
            return TunnelError(
                f"the ngrok agent failed to start: {self._scrub(_first_line(exc.ngrok_error))}",
                hint=_docs_hint(code),
            )
        if _gave_up(exc):
            lines = self._lines_of_this_start()
            last = f" (its last line: {_first_line(lines[-1])})" if lines else ""
            return TunnelError(
                f"the ngrok agent exited before it was ready{last}",
                hint=f"check that `{config.ngrok_path} version` runs and says 3.x, or point "
                f"{_HOW_TO_SET_PATH} at a working ngrok v3",
            )
        return TunnelError(f"ngrok: {self._scrub(str(exc))}", hint=_docs_hint(code))

    def _known_error(self, code: str | None) -> TunnelError | None:
        source = (
            f" (from {self.settings.authtoken_source})" if self.settings.authtoken_source else ""
        )
        token = mask(self.settings.authtoken)
        domain = self.settings.domain
        if code == "ERR_NGROK_4018":
            return TunnelError(
                f"ngrok refused to start without a verified account and authtoken ({code})",
                hint=f"sign up (or verify your e-mail) at {SIGNUP_URL}, copy your authtoken from "
                f"{AUTHTOKEN_URL} and set it with {_HOW_TO_SET_TOKEN}",
            )
        if code in ("ERR_NGROK_105", "ERR_NGROK_106", "ERR_NGROK_107"):
            return TunnelError(
                f"ngrok rejected the authtoken {token}{source} ({code})",
                hint=f"copy the current authtoken from {AUTHTOKEN_URL} (it changes when it is "
                f"reset) and set it with {_HOW_TO_SET_TOKEN}",
            )
        if code == "ERR_NGROK_108":
            return TunnelError(
                f"another ngrok agent session is already online for this ngrok account ({code})",
                hint=f"free ngrok accounts allow one agent at a time: stop the other `ngrok` or "
                f"`apimw listen` (see {AGENTS_URL}), or run `apimw listen --no-tunnel` behind "
                "the tunnel you already have",
            )
        if code in ("ERR_NGROK_319", "ERR_NGROK_320", "ERR_NGROK_7117", "ERR_NGROK_7118"):
            return TunnelError(
                f"the domain {domain or '(none)'} is not reserved for this ngrok account ({code})",
                hint=f"reserve it at {DOMAINS_URL} (with the account of this authtoken), "
                "or run without a domain to get a random URL",
            )
        if code == "ERR_NGROK_334":
            return TunnelError(
                f"{_domain_url(domain) if domain else 'this URL'} is already online in another "
                f"ngrok session ({code})",
                hint=f"stop the other agent that serves it (see {AGENTS_URL}), "
                "or use another domain",
            )
        if code in ("ERR_NGROK_120", "ERR_NGROK_121"):
            return TunnelError(
                f"this ngrok agent is too old for the ngrok service ({code})",
                hint=f"run `ngrok update`, or install a current one from {DOWNLOAD_URL}",
            )
        return None

    def _lines_of_this_start(self) -> list[str]:
        count = min(self._lines_seen - self._start_mark, len(self.agent_log))
        return list(self.agent_log)[len(self.agent_log) - count :] if count > 0 else []

    # --- closing ---

    def _close(self) -> None:
        config, agent, endpoint = self._config, self._agent, self._endpoint
        self._config, self._agent, self._endpoint, self._public_url = None, None, None, None
        atexit.unregister(self.close)
        if config is None:
            return
        if agent is not None and endpoint is not None and agent.proc.poll() is None:
            self._delete_endpoint(agent, endpoint)
        self._kill(config)
        if agent is not None:
            with contextlib.suppress(Exception):
                agent.proc.wait(timeout=5)

    def _delete_endpoint(self, agent: NgrokProcess, endpoint: NgrokTunnel) -> None:
        """DELETE the endpoint through the agent's API (not ngrok.disconnect(), which would
        start a new agent if this one died in the meantime)."""
        from pyngrok import ngrok
        from pyngrok.exception import PyngrokError

        if not agent.api_url or not endpoint.uri:
            return
        try:
            ngrok.api_request(
                f"{agent.api_url}{endpoint.uri}", method="DELETE", timeout=_DELETE_TIMEOUT
            )
        except PyngrokError as exc:
            log.debug("could not remove the ngrok endpoint: %s", self._scrub(str(exc)))

    def _kill(self, config: PyngrokConfig) -> None:
        from pyngrok import ngrok
        from pyngrok.exception import PyngrokError

        try:
            ngrok.kill(config)
        except (PyngrokError, OSError) as exc:
            log.debug("could not kill the ngrok agent: %s", exc)

    # --- agent log ---

    def _on_agent_line(self, line: NgrokLog) -> None:
        text = self._scrub(line.line)
        self.agent_log.append(text)
        self._lines_seen += 1
        _agent_logger.debug("%s", text)

    def _scrub(self, text: str) -> str:
        return _scrub(text, self._secrets)


def _gave_up(exc: Exception) -> bool:
    """pyngrok's "unable to start": the agent exited, or its own start-up timeout ran out."""
    return "unable to start" in str(exc)


def _docs_hint(code: str | None) -> str | None:
    return f"see https://ngrok.com/docs/errors/{code.lower()}/" if code else None


def _host(host: str) -> str:
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else bare


def _domain_url(domain: str) -> str:
    """A reserved domain as the endpoint URL the agent wants (`https://<domain>`)."""
    domain = domain.strip().rstrip("/")
    return domain if "://" in domain else f"https://{domain}"


def _api_message(body: str) -> str:
    """The agent API's error message out of a JSON error body, else the body itself."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        details = data.get("details")
        if isinstance(details, dict) and isinstance(details.get("err"), str):
            return str(details["err"])
        if isinstance(data.get("msg"), str):
            return str(data["msg"])
    return body


_installer_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_installer() -> Iterator[None]:
    """pyngrok's installer writes "Downloading ngrok ..." to stdout, which carries our data
    (NDJSON): switch its progress output off while we install."""
    from pyngrok import installer

    with _installer_lock:
        previous = getattr(installer, "_print_progress_enabled", True)
        installer._print_progress_enabled = False
        try:
            yield
        finally:
            installer._print_progress_enabled = previous


def answers(url: str, timeout: float = 2.0) -> bool:
    """Does `url` reach our receiver through the tunnel?

    The receiver answers a GET with 405; ngrok answers for a tunnel that is gone (404 with an
    `Ngrok-Error-Code`) or an unreachable upstream (502/504). Any answer of ours means healthy.
    """
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, trust_env=False, follow_redirects=False)
    except httpx.HTTPError:
        return False
    return response.status_code < 500 and "ngrok-error-code" not in response.headers
