"""Which server stack the receiver and the sandbox run on, chosen once per server start.

uvloop (the event loop) and httptools (the HTTP parser) are C extensions that more than double
what uvicorn serves per second; their wheels do not exist everywhere (no uvloop on Windows, no
either on PyPy), so each is used when it is installed and imports, and the pure-Python part
(asyncio, h11) takes its place otherwise, each on its own: httptools runs on asyncio too.

`APIMW_SERVER_STACK=pure` forces asyncio + h11 (a way round a broken C extension); `auto`, the
default, picks as above. Importing this module imports neither library: `detect()` does, and
only the commands that serve (listen, sandbox) and `doctor` call it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass

from apimw_cli.errors import ConfigError

__all__ = ["ENV_SERVER_STACK", "ServerStack", "detect", "pure"]

ENV_SERVER_STACK = "APIMW_SERVER_STACK"
_CHOICES = ("auto", "pure")


@dataclass(frozen=True)
class ServerStack:
    """An event loop and an HTTP parser, as uvicorn names them (`Config(loop=..., http=...)`)."""

    loop: str  # "uvloop" or "asyncio"
    http: str  # "httptools" or "h11"
    loop_version: str | None = None  # uvloop's; None for asyncio
    http_version: str | None = None  # httptools'; None for h11
    # Why a part is the pure-Python one: not installed, failed to import, or forced.
    fallbacks: tuple[str, ...] = ()
    broken: tuple[str, ...] = ()  # installed but failed to import: "uvloop", "httptools"

    @property
    def is_pure(self) -> bool:
        return self.loop == "asyncio" and self.http == "h11"

    def describe(self) -> str:
        """E.g. "uvloop 0.23.0 + httptools 0.9.0", or "asyncio + h11 (pure Python)"."""
        if self.is_pure:
            return "asyncio + h11 (pure Python)"
        return f"{_named(self.loop, self.loop_version)} + {_named(self.http, self.http_version)}"


def _named(name: str, version: str | None) -> str:
    return f"{name} {version}" if version else name


def pure(why: str = f"{ENV_SERVER_STACK}=pure") -> ServerStack:
    """asyncio + h11, whatever is installed."""
    return ServerStack("asyncio", "h11", fallbacks=(why,))


def detect(environ: Mapping[str, str] | None = None) -> ServerStack:
    """The fastest stack that imports here, or asyncio + h11 when `APIMW_SERVER_STACK=pure`.

    Raises ConfigError (exit 3) when APIMW_SERVER_STACK is set to anything else.
    """
    choice = _choice(os.environ if environ is None else environ)
    if choice == "pure":
        return pure()
    loop = _probe("uvloop")
    http = _probe("httptools")
    return ServerStack(
        loop="uvloop" if loop.usable else "asyncio",
        http="httptools" if http.usable else "h11",
        loop_version=loop.version,
        http_version=http.version,
        fallbacks=tuple(probe.why for probe in (loop, http) if probe.why is not None),
        broken=tuple(probe.name for probe in (loop, http) if probe.broken),
    )


def _choice(environ: Mapping[str, str]) -> str:
    raw = environ.get(ENV_SERVER_STACK, "")
    value = raw.strip().lower() or "auto"
    if value not in _CHOICES:
        raise ConfigError(
            f"{ENV_SERVER_STACK} must be auto or pure, got {raw!r}",
            hint=f"unset it for the fastest stack installed, or set {ENV_SERVER_STACK}=pure "
            "for asyncio + h11",
        )
    return value


@dataclass(frozen=True)
class _Probe:
    name: str
    version: str | None = None  # when it imports ("" if it says none)
    why: str | None = None  # why not, when it does not
    broken: bool = False  # installed, but the import failed

    @property
    def usable(self) -> bool:
        return self.why is None


def _probe(name: str) -> _Probe:
    """Whether `name` imports, and its version.

    find_spec answers "not installed" without importing; an installed module is imported, as
    one that is there but broken (built for another Python, a missing shared library) must
    fall back rather than fail when the server starts.
    """
    try:
        if importlib.util.find_spec(name) is None:
            return _Probe(name, why=f"{name} is not installed")
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None or has no spec
        return _Probe(name, why=f"{name} is not installed")
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # whatever a broken extension raises: fall back, never crash
        why = f"{name} is installed but did not import ({type(exc).__name__}: {exc})"
        return _Probe(name, why=why, broken=True)
    version = getattr(module, "__version__", None)
    return _Probe(name, version=version if isinstance(version, str) else "")
