"""What libraries log reaches stderr masked and escaped (output/logs.py)."""

from __future__ import annotations

import io
import logging

import pytest

from apimw_cli.output import remember
from apimw_cli.output.logs import install


def test_a_logged_traceback_is_masked_and_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "whsec_logged_secret_0123456789"
    remember(secret)
    install()
    install()  # once only
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    try:
        raise ValueError(f"bad request from https://u:pw-in-url@example.com with {secret}\x1b[2J")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    text = err.getvalue()
    assert "Exception in ASGI application" in text and "ValueError" in text
    assert secret not in text and "pw-in-url" not in text
    assert "\x1b" not in text
    assert text.count("Exception in ASGI application") == 1


def test_info_stays_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    install()
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    logging.getLogger("apimw_cli.test").info("chatter")
    assert err.getvalue() == ""
