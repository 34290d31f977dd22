"""Re-send recorded events to a local app (`apimw events replay`), byte for byte."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from apimw_cli import __version__
from apimw_cli.signing import SIGNATURE_HEADER, sign

# Hop-by-hop and framing headers: httpx writes its own.
_DROP = frozenset(
    {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "upgrade",
     "proxy-connection", "accept-encoding"}
)  # fmt: skip


@dataclass(frozen=True)
class ReplayResult:
    record_id: str
    status: int | None
    ms: float
    error: str | None = None


def replay_headers(headers: Mapping[str, str], body: bytes, resign: str | None) -> dict[str, str]:
    """The original headers, marked as a replay; with `resign`, a fresh signature."""
    out = {k: v for k, v in headers.items() if k.lower() not in _DROP}
    out["X-APIMW-Replayed-By"] = f"apimw-cli/{__version__}"
    if resign is not None:
        for key in [k for k in out if k.lower() == SIGNATURE_HEADER.lower()]:
            del out[key]
        out[SIGNATURE_HEADER] = sign(body, resign)
    return out


def replay(
    client: httpx.Client,
    url: str,
    record_id: str,
    body: bytes,
    headers: Mapping[str, str],
    resign: str | None = None,
) -> ReplayResult:
    started = time.perf_counter()
    try:
        response = client.post(url, content=body, headers=replay_headers(headers, body, resign))
    except httpx.TimeoutException:
        return ReplayResult(record_id, None, _ms(started), "timed out")
    except httpx.ConnectError:
        return ReplayResult(record_id, None, _ms(started), "connection refused")
    except httpx.HTTPError as exc:
        return ReplayResult(record_id, None, _ms(started), f"{exc.__class__.__name__}: {exc}")
    return ReplayResult(record_id, response.status_code, _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def client(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)
