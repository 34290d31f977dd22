"""A whole working session with `--debug` on, greped for its secrets: sandbox, login, a webhook
registered with a secret, listen through the (fake) ngrok tunnel forwarding to an app, trigger,
sign and verify, replay --resign, logout. No output stream, log or file the CLI writes shows a
secret in full, except the stores whose job is to keep them (private files)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from apimw_cli.settings import ENV_API_BASE, ENV_CONFIG_DIR, ENV_DATA_DIR, ENV_NGROK_PATH
from apimw_cli.signing import sign
from tests.e2e.listen_process import stop
from tests.fake_ngrok import ERR_105_LINE, kill_all, make_fake_agent
from tests.support.capture import CaptureServer
from tests.support.endpoint import Endpoint
from tests.support.waiting import wait_for, wait_for_file

API_KEY = "ak_test_session_0123456789"
API_SECRET = "sk_test_" + secrets.token_urlsafe(24)
NGROK_AUTHTOKEN = "2sessionNgrok" + secrets.token_hex(16)
HOOK_SECRET = "whsec_" + secrets.token_urlsafe(32)  # given to `webhooks register`
RESIGN_SECRET = "whsec_" + secrets.token_urlsafe(32)  # given to `events replay --resign`
URL_PASSWORD = "pw" + secrets.token_hex(12)  # in an API base URL: https://user:PASSWORD@host
BODY = b'{"type":"message.received","data":{"text":"hello"}}'


@dataclass
class Session:
    """Runs `apimw --debug ...` as a user would, keeping every stream it printed."""

    env: dict[str, str]
    streams: list[tuple[str, str]] = field(default_factory=list)

    def run(self, *args: str, input: str | None = None, ok: bool = True) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "apimw_cli", "--debug", *args],
            input=input, capture_output=True, text=True, timeout=60, env=self.env,
        )  # fmt: skip
        self.keep(" ".join(args[:2]), done.stdout, done.stderr)
        if ok:
            assert done.returncode == 0, f"apimw {' '.join(args)}:\n{done.stderr}"
        return done.stdout

    def keep(self, what: str, stdout: str, stderr: str) -> None:
        self.streams += [(f"{what} (stdout)", stdout), (f"{what} (stderr)", stderr)]

    def start(self, *args: str, ready: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "apimw_cli", "--debug", *args, "--ready-file", str(ready)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
        )  # fmt: skip


@pytest.fixture
def session() -> Iterator[Session]:
    env = {**os.environ, "SESSION_API_SECRET": API_SECRET, "HOOK_SECRET": HOOK_SECRET}
    yield Session(env)


# Files that hold secrets on purpose (each must be private); every other file must not.
SECRET_STORES = ("config.toml", "tokens/*.json", "secrets/*.secret", "ngrok/*.yml", "*.sqlite3*")


def is_store(path: Path, root: Path) -> bool:
    relative = path.relative_to(root)
    return any(relative.match(pattern) for pattern in SECRET_STORES)


def test_no_secret_leaks_from_a_debug_session(session: Session, tmp_path: Path) -> None:
    agent = make_fake_agent(tmp_path / "agent")
    session.env[ENV_NGROK_PATH] = str(agent)
    sandbox_ready = tmp_path / "sandbox.ready"
    sandbox = session.start(
        "sandbox", "--port", "0", "--time-scale", "3600", "--rate-limit", "0",
        "--api-key", API_KEY, "--api-secret-env", "SESSION_API_SECRET", ready=sandbox_ready,
    )  # fmt: skip
    listen: subprocess.Popen[str] | None = None
    tokens: list[str] = []
    try:
        base = wait_for_file(sandbox_ready, sandbox, 30, "the sandbox to be ready")
        session.env[ENV_API_BASE] = base
        session.run("config", "set", "ngrok_authtoken", "-", input=NGROK_AUTHTOKEN + "\n")
        session.run("login", "--api-key", API_KEY, "--api-secret-stdin", input=API_SECRET)
        session.run("whoami")
        tokens = cached_tokens(Path(session.env[ENV_CONFIG_DIR]))
        assert tokens, "login cached no token"
        with Endpoint(unique_path=True) as hook, CaptureServer(path="/app") as app:
            session.run(
                "webhooks", "register", "--url", hook.url, "--events", "message.received",
                "--secret-env", "HOOK_SECRET",
            )  # fmt: skip
            listen_ready = tmp_path / "listen.ready"
            listen = session.start(
                "listen", "--forward-to", app.url, "--events", "message.received",
                "--format", "ndjson", "--report", str(Path(session.env[ENV_DATA_DIR]) / "r.json"),
                ready=listen_ready,
            )  # fmt: skip
            receive_url = wait_for_file(listen_ready, listen, 30, "listen to be ready")
            session.run("trigger", "message.received")  # to both webhooks, through the API
            app.wait_requests(1)
            listen_secret = stable_secret(Path(session.env[ENV_CONFIG_DIR]))
            body_file = tmp_path / "body.json"
            body_file.write_bytes(BODY)
            secret_file = tmp_path / "listen.secret"  # the user's own copy, not the CLI's
            secret_file.write_text(listen_secret + "\n")
            session.run(
                "trigger", "message.received", "--to", receive_url,
                "--secret-file", str(secret_file),
            )  # fmt: skip
            app.wait_requests(2)
            header = session.run(
                "sign", "--secret", "-", "--body-file", str(body_file), input=listen_secret
            ).strip()
            assert header == sign(BODY, listen_secret)
            session.run(
                "verify", "--header", header, "--secret-file", str(secret_file),
                "--body-file", str(body_file),
            )  # fmt: skip
            # The careless way too: a warning, and the secret still not printed.
            session.run("sign", "--secret", HOOK_SECRET, "--body-file", str(body_file))
            session.run(
                "verify", "--header", header, "--secret", HOOK_SECRET,
                "--body-file", str(body_file), ok=False,
            )  # fmt: skip
            out, err = stop(listen, signal.SIGINT)
            session.keep("listen", out, err)
            assert listen.returncode == 0, err
            listen = None
            session.run(
                "events", "replay", "--all", "--to", app.url, "--resign", "-",
                input=RESIGN_SECRET,
            )  # fmt: skip
            replayed = app.requests[-1]
            assert replayed.header("X-APIMW-Signature") == sign(replayed.body, RESIGN_SECRET)
        mistakes(session, tmp_path)
        session.run("logout")
    finally:
        if listen is not None:
            session.keep("listen", *stop(listen, signal.SIGINT))
        sandbox.send_signal(signal.SIGINT)
        session.keep("sandbox", *sandbox.communicate(timeout=30))
        kill_all(agent)

    every_secret = {
        "API secret": API_SECRET,
        "ngrok authtoken": NGROK_AUTHTOKEN,
        "webhook secret": HOOK_SECRET,
        "resign secret": RESIGN_SECRET,
        "URL password": URL_PASSWORD,
        "listen's secret": listen_secret,
        **{f"token #{n}": token for n, token in enumerate(tokens)},
    }
    leaks = [
        f"{name} in {where}"
        for where, text in session.streams
        for name, secret in every_secret.items()
        if secret in text
    ]
    leaks += leaks_in_files(tmp_path, every_secret)
    assert leaks == []
    # It did show them masked, where it said which secret was used, and warned once where a
    # secret was typed on the command line.
    everything = "\n".join(text for _, text in session.streams)
    assert f"...{HOOK_SECRET[-4:]}" in everything and f"...{NGROK_AUTHTOKEN[-4:]}" in everything
    assert "http://apimw:***@127.0.0.1:9/v1" in everything
    assert everything.count("--secret on the command line shows in `ps`") == 2


def mistakes(session: Session, tmp_path: Path) -> None:
    """What goes wrong on a bad day, where errors and --debug tracebacks quote secrets: ngrok
    rejects the authtoken (and echoes it), the API base holds a password and is unreachable.
    Run side by side: the unreachable API is retried for a few seconds."""
    rejecting = make_fake_agent(tmp_path / "rejecting", mode="fail", error_line=ERR_105_LINE)
    with_password = f"http://apimw:{URL_PASSWORD}@127.0.0.1:9/v1"
    runs = {
        "listen (token rejected)": (
            ["listen", "--port", "0", "--no-record"],
            {**session.env, ENV_NGROK_PATH: str(rejecting)},
        ),
        "config show (password in URL)": (
            ["--api-base", with_password, "config", "show"],
            session.env,
        ),
        "whoami (password in URL)": (["--api-base", with_password, "whoami"], session.env),
    }
    try:
        started = {
            what: subprocess.Popen(
                [sys.executable, "-m", "apimw_cli", "--debug", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for what, (args, env) in runs.items()
        }
        codes = {}
        for what, proc in started.items():
            session.keep(what, *proc.communicate(timeout=60))
            codes[what] = proc.returncode
    finally:
        kill_all(rejecting)
    assert list(codes.values()) == [7, 0, 6], session.streams[-6:]


def leaks_in_files(tmp_path: Path, every_secret: dict[str, str]) -> list[str]:
    """Secrets in the files the CLI wrote under HOME and its config and data dirs; a secret
    store may hold them but must be private (0600)."""
    leaks: list[str] = []
    roots = [tmp_path / "home", Path(os.environ[ENV_CONFIG_DIR]), Path(os.environ[ENV_DATA_DIR])]
    files = [(root, p) for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for _, p in files), "listen recorded no session log"
    assert any(p.name == "r.json" for _, p in files), "listen wrote no report"
    for root, path in files:
        data = path.read_bytes()
        found = [name for name, secret in every_secret.items() if secret.encode() in data]
        if not found:
            continue
        if not is_store(path, root):
            leaks.append(f"{', '.join(found)} in {path}")
        elif stat.S_IMODE(path.stat().st_mode) != 0o600:
            leaks.append(f"{path} holds {', '.join(found)} but is not private")
    return leaks


def cached_tokens(config_dir: Path) -> list[str]:
    found: list[str] = []
    for path in config_dir.glob("tokens/*.json"):
        data = json.loads(path.read_text())
        found += [str(v) for k, v in data.items() if k.endswith("_token") and v]
    return found


def stable_secret(config_dir: Path) -> str:
    [path] = wait_for(lambda: list(config_dir.glob("secrets/*.secret")), 10, "listen's secret")
    return path.read_text().strip()
