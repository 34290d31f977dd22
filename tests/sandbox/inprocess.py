"""The sandbox's ASGI app in this process, behind starlette's TestClient: no socket, so a
request costs about a millisecond (for tests that send hundreds, fuzzing among them).

The app runs with its lifespan (store and delivery worker), as under uvicorn; TestClient
re-raises any exception that escapes it, so a crash fails the test with its traceback.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

with warnings.catch_warnings():
    # starlette's testclient names an anyio alias that this anyio deprecates (at import only).
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from apimw_cli.sandbox.app import create_app
from apimw_cli.sandbox.config import SandboxConfig
from apimw_cli.settings import SANDBOX_API_KEY, SANDBOX_API_SECRET

__all__ = ["TestClient", "asgi_sandbox"]

BASE = "http://sandbox.test"
DEFAULTS: dict[str, Any] = {"ephemeral": True, "rate_limit": 0, "time_scale": 36000.0}


@contextmanager
def asgi_sandbox(**overrides: Any) -> Iterator[TestClient]:
    """A TestClient on a fresh in-memory sandbox, with a bearer token set."""
    config = SandboxConfig(**{**DEFAULTS, **overrides})
    with TestClient(create_app(config), base_url=BASE) as client:
        answer = client.post(
            "/v1/auth/token", json={"api_key": SANDBOX_API_KEY, "api_secret": SANDBOX_API_SECRET}
        )
        assert answer.status_code == 200, answer.text
        token = answer.json()["data"]["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
