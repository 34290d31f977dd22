"""A stable signing secret for local development: `listen` signs its webhooks with a secret
that stays the same across sessions, so an app that verifies signatures is set up once."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from apimw_cli.sandbox.server import RunningSandbox
from apimw_cli.settings import ENV_CONFIG_DIR
from tests.e2e.listen_process import start_listen, stop
from tests.support.capture import Captured, CaptureServer, Reply
from tests.support.waiting import wait_for


def apimw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apimw_cli", *args], capture_output=True, text=True, timeout=60
    )


@contextmanager
def verifying_app(secret: str) -> Iterator[tuple[str, list[int]]]:
    """An app that checks X-APIMW-Signature with `secret`: 200 if it matches, else 401."""
    answers: list[int] = []

    def answer(request: Captured) -> Reply:
        expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        given = request.header("X-APIMW-Signature") or ""
        status = 200 if hmac.compare_digest(expected, given) else 401
        answers.append(status)
        return Reply(status, b"", content_type=None)

    with CaptureServer(answer, path="/hooks", keep_alive=True) as server:
        yield server.url, answers


def session(tmp_path: Path, url: str, answers: list[int], n: int) -> list[dict[str, Any]]:
    """One listen --sandbox session forwarding to `url`; the sandbox sends `n` events."""
    proc, _ = start_listen(tmp_path, "--sandbox", "--forward-to", url, "--format", "ndjson")
    try:
        before = len(answers)
        for _ in range(n):
            sent = apimw("--sandbox", "trigger", "message.received")
            assert sent.returncode == 0, sent.stderr
        wait_for(lambda: len(answers) >= before + n, 20, f"{n} forwards at the app")
    finally:
        out, err = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_print_secret_is_stable_private_and_rotates(running_sandbox: RunningSandbox) -> None:
    first = apimw("--sandbox", "listen", "--print-secret")
    again = apimw("listen", "--sandbox", "--print-secret")
    assert first.returncode == 0 and first.stdout == again.stdout
    secret = first.stdout.strip()
    assert secret.startswith("whsec_") and len(secret) > 40 and first.stderr == ""
    files = list(Path(os.environ[ENV_CONFIG_DIR]).glob("secrets/*"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    profile = apimw("listen", "--print-secret").stdout.strip()
    assert profile.startswith("whsec_") and profile != secret  # one per profile, one sandbox
    rotated = apimw("--sandbox", "listen", "--rotate-secret")
    assert rotated.returncode == 0 and rotated.stdout.strip() not in ("", secret)
    assert apimw("--sandbox", "listen", "--print-secret").stdout == rotated.stdout


@pytest.mark.slow
def test_a_verifying_app_accepts_every_forward_across_two_sessions(
    running_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    secret = apimw("--sandbox", "listen", "--print-secret").stdout.strip()
    with verifying_app(secret) as (url, answers):
        for _ in range(2):
            session(tmp_path, url, answers, 2)
    assert answers and set(answers) == {200}, answers


def test_a_401_from_the_app_says_once_how_to_give_it_the_secret(
    running_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    with verifying_app("whsec_not_the_one_listen_uses_000000") as (url, answers):
        records = session(tmp_path, url, answers, 2)
    assert set(answers) == {401}
    hints = [r for r in records if r["record"] == "note" and "--print-secret" in r["message"]]
    assert len(hints) == 1
    assert "listen --sandbox --print-secret" in hints[0]["message"]
