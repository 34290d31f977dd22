"""Every command that takes a webhook secret reads it from the command line (with a one-line
warning naming the safer forms), from standard input (`-`), from a file and from a variable,
and signs or verifies alike whichever way it came."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from apimw_cli.signing import sign
from tests.e2e.listen_process import start_listen, stop
from tests.e2e.test_replay_hostile import request, write_session
from tests.support.capture import CaptureServer
from tests.support.cli import run
from tests.support.waiting import wait_for_file

SECRET = "whsec_c2VjcmV0LWlucHV0cy1hcmUtc2VjcmV0LTAxMjM0NTY3"
BODY = b'{"type":"message.received","data":{"text":"hi"}}'
SIGNED = sign(BODY, SECRET)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    secret_file = tmp_path / "whsec.txt"
    secret_file.write_text(SECRET + "\n")  # as `echo` writes it: the line break is not part
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)
    return secret_file, body_file


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ")]


def test_sign_reads_the_secret_four_ways_and_warns_only_for_the_command_line(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file, body_file = files
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    body = ("--body-file", str(body_file))
    typed = run("sign", "--secret", SECRET, *body)
    piped = run("sign", "--secret", "-", *body, input=SECRET + "\n")
    from_file = run("sign", "--secret-file", str(secret_file), *body)
    from_env = run("sign", "--secret-env", "HOOK_SECRET", *body)
    for result in (typed, piped, from_file, from_env):
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == SIGNED
    [warning] = warnings(typed.stderr)
    assert "--secret on the command line shows in `ps` and your shell history" in warning
    assert "--secret-file FILE, --secret-env VAR, or --secret - (standard input)" in warning
    assert SECRET not in typed.stderr
    assert piped.stderr == from_file.stderr == from_env.stderr == ""


def test_sign_with_the_secret_on_stdin_needs_the_body_in_a_file() -> None:
    result = run("sign", "--secret", "-", input=SECRET + "\n")
    assert result.exit_code == 2
    assert "give the body with --body-file" in result.stderr


def test_the_secret_is_given_one_way(files: tuple[Path, Path]) -> None:
    secret_file, body_file = files
    both = run("sign", "--secret", "-", "--secret-file", str(secret_file), "--body-file", "x")
    assert both.exit_code == 2 and "one way" in both.stderr
    empty = run("sign", "--secret", "-", "--body-file", str(body_file), input="\n")
    assert empty.exit_code == 2 and "standard input gave no secret" in empty.stderr
    secret_file.write_text("\n")
    blank = run("sign", "--secret-file", str(secret_file), "--body-file", str(body_file))
    assert blank.exit_code == 2 and "is empty" in blank.stderr
    missing = run("sign", "--secret-file", str(secret_file) + ".gone", "--body-file", "x")
    assert missing.exit_code == 2 and "cannot read it" in missing.stderr
    none = run("sign", "--body-file", str(body_file))
    assert none.exit_code == 2 and "--secret-file FILE" in none.stderr


def test_verify_accepts_a_rotation_from_stdin_and_a_file(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    secret_file, body_file = files
    old = "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LTAxMjM0NTY3ODk"
    args = ("verify", "--header", SIGNED, "--body-file", str(body_file))
    result = run(*args, "--secret", "-", "--secret-file", str(secret_file), input=old + "\n")
    assert result.exit_code == 0, result.stderr
    assert "#2 of 2" in result.stdout and warnings(result.stderr) == []
    twice = run(*args, "--secret", "-", "--secret", "-", input=old + "\n")
    assert twice.exit_code == 2 and "only one --secret may be -" in twice.stderr
    typed = run(*args, "--secret", old, "--secret", SECRET)
    assert typed.exit_code == 0 and len(warnings(typed.stderr)) == 1  # one warning, not two


def test_trigger_signs_with_the_secret_from_a_file(files: tuple[Path, Path]) -> None:
    secret_file, _ = files
    with CaptureServer() as app:
        result = run(
            "trigger", "message.received", "--to", app.url, "--secret-file", str(secret_file)
        )
        assert result.exit_code == 0, result.stderr
        [got] = app.wait_requests(1)
    assert got.header("X-APIMW-Signature") == sign(got.body, SECRET)
    assert warnings(result.stderr) == []
    typed = run("trigger", "message.received", "--secret", SECRET)  # no --to: refused anyway
    assert typed.exit_code == 2 and len(warnings(typed.stderr)) == 1


def test_replay_resigns_with_the_secret_from_a_file_or_stdin(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    secret_file, _ = files
    session = write_session(tmp_path / "s.jsonl", [request(1)])
    with CaptureServer() as app:
        from_file = run(
            "events", "replay", str(session), "--to", app.url, "--resign-file", str(secret_file)
        )
        piped = run(
            "events", "replay", str(session), "--to", app.url, "--resign", "-", input=SECRET
        )
        typed = run("events", "replay", str(session), "--to", app.url, "--resign", SECRET)
        got = app.wait_requests(3)
    for result in (from_file, piped, typed):
        assert result.exit_code == 0, result.stderr
    assert all(r.header("X-APIMW-Signature") == sign(r.body, SECRET) for r in got)
    assert warnings(from_file.stderr) == warnings(piped.stderr) == []
    [warning] = warnings(typed.stderr)
    assert "--resign-file FILE, --resign-env VAR, or --resign - (standard input)" in warning


def test_webhooks_test_reads_the_secret_from_stdin() -> None:
    result = run(
        "webhooks", "test", "--url", "http://127.0.0.1:9/", "--secret", "-", "--only", "accepts",
        input=SECRET + "\n",
    )  # fmt: skip
    assert "standard input" not in result.stderr  # no usage error, no warning
    assert warnings(result.stderr) == []
    typed = run("webhooks", "test", "--url", "http://127.0.0.1:9/", "--secret", SECRET)
    assert len(warnings(typed.stderr)) == 1


def _post(url: str, signature: str) -> int:
    import httpx

    headers = {"X-APIMW-Signature": signature, "Content-Type": "application/json"}
    return httpx.post(url, content=BODY, headers=headers, timeout=10).status_code


def test_listen_verifies_with_the_secret_from_a_file_or_stdin(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    secret_file, _ = files
    common = ("--no-tunnel", "--format", "ndjson", "--no-record")
    proc, url = start_listen(tmp_path / "a", *common, "--secret-file", str(secret_file))
    try:
        assert _post(url, SIGNED) == 200
        assert _post(url, sign(BODY, "whsec_wrong-secret-wrong-secret")) == 401
    finally:
        out, err = stop(proc)
    assert warnings(err) == [] and SECRET not in err
    verdicts = [r.get("verdict") for r in map(json.loads, out.splitlines()) if "verdict" in r]
    assert [v["valid"] for v in verdicts if v] == [True, False]

    ready = tmp_path / "b.ready"
    piped = subprocess.run(
        [sys.executable, "-m", "apimw_cli", "listen", "--port", "0", "--ready-file", str(ready),
         "--no-tunnel", "--no-record", "--secret", "-", "--timeout", "1s"],
        input=SECRET + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert warnings(piped.stderr) == []
    assert f"whsec_...{SECRET[-4:]}" in piped.stdout  # verifying with the secret piped in


def test_listen_with_the_secret_on_the_command_line_warns_once(tmp_path: Path) -> None:
    proc, _ = start_listen(tmp_path, "--no-tunnel", "--no-record", "--secret", SECRET)
    _, err = stop(proc)
    [warning] = warnings(err)
    assert "--secret on the command line" in warning and SECRET not in err


def test_the_sandbox_accepts_an_api_secret_from_a_file_or_stdin(tmp_path: Path) -> None:
    import httpx

    from apimw_cli.settings import SANDBOX_API_KEY

    api_secret = "sk_test_from_a_file_0123456789abcdef"
    secret_file = tmp_path / "api.secret"
    secret_file.write_text(api_secret + "\n")
    for n, (way, stdin) in enumerate([(str(secret_file), None), ("-", api_secret + "\n")]):
        ready = tmp_path / f"sandbox-{n}.ready"
        proc = subprocess.Popen(
            [sys.executable, "-m", "apimw_cli", "sandbox", "--port", "0", "--ephemeral",
             "--ready-file", str(ready), "--api-secret-file", way],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdin is not None
            if stdin is not None:
                proc.stdin.write(stdin)
                proc.stdin.flush()
            url = wait_for_file(ready, proc, 30, "the sandbox to be ready")
            answer = httpx.post(
                f"{url}/auth/token", json={"api_key": SANDBOX_API_KEY, "api_secret": api_secret}
            )
            assert answer.status_code == 200, answer.text
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        assert api_secret not in out + err


def test_the_sandbox_takes_its_api_secret_one_way(tmp_path: Path) -> None:
    both = run("sandbox", "--api-secret-env", "X", "--api-secret-file", str(tmp_path / "f"))
    assert both.exit_code == 2 and "one way" in both.stderr
    missing = run("sandbox", "--ephemeral", "--api-secret-file", str(tmp_path / "gone"))
    assert missing.exit_code == 2 and "cannot read it" in missing.stderr


def test_a_secret_typed_at_a_terminal_is_not_echoed(files: tuple[Path, Path]) -> None:
    import os
    import pty

    _, body_file = files
    argv = [
        sys.executable,
        "-m",
        "apimw_cli",
        "sign",
        "--secret",
        "-",
        "--body-file",
        str(body_file),
    ]
    pid, master = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execv(sys.executable, argv)  # noqa: S606 (argv is ours)
    seen = b""
    try:
        while b"(hidden)" not in seen:
            seen += os.read(master, 1024)
        os.write(master, SECRET.encode() + b"\n")
        while True:
            try:
                chunk = os.read(master, 1024)
            except OSError:  # the child exited: the pty is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert SECRET.encode() not in seen  # not echoed
    assert SIGNED.encode() in seen


def test_a_secret_file_that_is_no_secret_is_a_usage_error(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    _, body_file = files
    for path, why in [("/dev/zero", "not a secret"), (str(tmp_path), "is a directory")]:
        result = run(
            "trigger", "message.received", "--to", "http://127.0.0.1:9/", "--secret-file", path
        )
        assert result.exit_code == 2 and why in result.stderr, result.stderr
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    result = run("sign", "--secret-file", str(binary), "--body-file", str(body_file))
    assert result.exit_code == 2 and "cannot read it" in result.stderr
