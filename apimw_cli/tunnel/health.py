"""The self-check through the public URL: does the tunnel still reach our receiver?"""

from __future__ import annotations

from apimw_cli.protocol import PROBE_HEADER


def answers(
    url: str, timeout: float = 2.0, *, exact_path: bool = False, probe_token: str | None = None
) -> bool:
    """Does `url` reach our receiver through the tunnel?

    The receiver answers a GET with 405; ngrok answers for a tunnel that is gone (404 with an
    `Ngrok-Error-Code`) or an unreachable upstream (502/504). Any answer of ours means healthy.
    With `exact_path` (a session's marked URL), a 404 means no session serves that path any
    more: another session now owns the host (a reserved domain), and it serves only its own.
    `probe_token` (the receiver's) marks the request as the session's own check, which the
    receiver does not report as an event.
    """
    import httpx

    try:
        response = httpx.get(
            url,
            headers={PROBE_HEADER: probe_token} if probe_token else None,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
        )
    except httpx.HTTPError:
        return False
    if exact_path and response.status_code == 404:
        return False
    return response.status_code < 500 and "ngrok-error-code" not in response.headers
