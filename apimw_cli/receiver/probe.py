"""Sends `apimw webhooks test` requests to an endpoint, the way APIMW delivers: one POST,
no redirects followed, certificates verified, no proxy from the environment, and APIMW's own
5-second limit as the timeout: an answer after it counts as a failure, so waiting longer only
makes `webhooks test` slow on an endpoint that hangs.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from types import TracebackType

import httpx

from apimw_cli.conformance import LATENCY_LIMIT, Reply

__all__ = ["MAX_BODY", "Probe"]

MAX_BODY = 64 * 1024  # bytes of an answer kept: enough for a challenge echo or an error page


def _is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text


class Probe:
    """A `Sender` for apimw_cli.conformance, bound to one URL; use it as a context manager."""

    def __init__(self, url: str, *, timeout: float | None = None) -> None:
        self.url = url
        self.timeout = timeout if timeout is not None else LATENCY_LIMIT
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,  # APIMW does not follow them: a redirect is a failure
            trust_env=False,
        )

    def __call__(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        started = time.perf_counter()
        try:
            with self._client.stream("POST", self.url, content=body, headers=dict(headers)) as r:
                kept = bytearray()
                for chunk in r.iter_bytes():
                    kept += chunk[: MAX_BODY - len(kept)]
                    if len(kept) >= MAX_BODY:
                        break
                    if time.perf_counter() - started > self.timeout:  # a body that trickles
                        return self._timed_out(started)
                return Reply(r.status_code, bytes(kept), time.perf_counter() - started)
        except httpx.TimeoutException:
            return self._timed_out(started)
        except httpx.HTTPError as exc:
            tls = _is_tls_error(exc)
            what = "TLS" if tls else type(exc).__name__
            return Reply(
                None,
                seconds=time.perf_counter() - started,
                error=f"{what}: {exc}" if str(exc) else what,
                tls_error=tls,
            )

    def _timed_out(self, started: float) -> Reply:
        seconds = time.perf_counter() - started
        return Reply(None, seconds=seconds, error=f"timed out ({self.timeout:g} s)", timed_out=True)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Probe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
