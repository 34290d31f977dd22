"""`listen --where` and `--expect-message`: a CI script waits for its own message, not for any
event of the type (#16). Events are posted straight to a --no-tunnel receiver, signed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from apimw_cli.signing import sign
from tests.e2e.listen_process import start_listen
from tests.support.cli import run

SECRET = "whsec_where-tests-0123456789"


def post(url: str, event_type: str, message_id: str) -> int:
    body = json.dumps(
        {
            "type": event_type,
            "timestamp": "2024-01-15T10:30:00Z",
            "data": {"message_id": message_id, "to": "+14155550123"},
        }
    ).encode()
    answer = httpx.post(url, content=body, headers={"X-APIMW-Signature": sign(body, SECRET)})
    return answer.status_code


def listen(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str, Path]:
    report = tmp_path / "report.json"
    proc, url = start_listen(
        tmp_path, "--no-tunnel", "--secret", SECRET, "--format", "ndjson",
        "--report", str(report), "--timeout", "30s", *args,
    )  # fmt: skip
    return proc, url, report


def test_where_counts_only_the_events_that_match(tmp_path: Path) -> None:
    proc, url, report = listen(
        tmp_path, "--expect", "message.*:2", "--where", "data.message_id=wamid.MINE",
        "--where", "data.to=+14155550123",
    )  # fmt: skip
    # Had the others counted, listen would have stopped after the second post.
    statuses = [
        post(url, "message.read", "wamid.OTHER"),
        post(url, "message.sent", "wamid.MINE"),
        post(url, "message.delivered", "wamid.OTHER"),
        post(url, "message.read", "wamid.MINE"),
    ]
    assert statuses == [200, 200, 200, 200]
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    data = json.loads(report.read_text())
    assert data["outcome"] == "passed"
    assert data["expectations"] == {"message.*": {"expected": 2, "received": 2}}
    assert data["summary"]["total"] == 4


def test_where_without_a_match_times_out(tmp_path: Path) -> None:
    proc, url = start_listen(
        tmp_path, "--no-tunnel", "--secret", SECRET, "--expect", "message.read",
        "--where", "data.message_id=wamid.MINE", "--timeout", "1s",
    )  # fmt: skip
    assert post(url, "message.read", "wamid.OTHER") == 200
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "timed out waiting for message.read (0 of 1)" in err


def test_expect_message_reads_the_id_from_a_file_written_after_the_event(
    tmp_path: Path,
) -> None:
    """The README's CI flow: listen starts first, the script sends and writes the id later."""
    id_file = tmp_path / "message.id"
    proc, url, report = listen(tmp_path, "--expect-message", f"@{id_file}")
    assert post(url, "message.sent", "wamid.MINE") == 200  # before the id is known
    id_file.write_text("wamid.MINE\n")
    assert post(url, "message.read", "wamid.OTHER") == 200  # any later event re-reads the file
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    data = json.loads(report.read_text())
    assert data["expectations"] == {"message.*": {"expected": 1, "received": 1}}


def test_expect_message_with_the_id(tmp_path: Path) -> None:
    proc, url, _ = listen(tmp_path, "--expect-message", "wamid.MINE")
    assert post(url, "message.delivered", "wamid.OTHER") == 200
    assert post(url, "message.delivered", "wamid.MINE") == 200
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


@pytest.mark.parametrize(
    "args",
    [
        ("--expect", "message.read", "--where", "data.message_id"),
        ("--expect", "message.read", "--where", "=wamid.X"),
        ("--expect", "message.read", "--where", "data..message_id=wamid.X"),
        ("--expect", "message.read", "--where", "data.message_id="),
        ("--where", "data.message_id=wamid.X"),  # --where without --expect
        ("--expect-message", " "),
    ],
)
def test_malformed_where_is_a_usage_error(args: tuple[str, ...]) -> None:
    result = run("listen", "--sandbox", "--port", "0", *args)
    assert result.exit_code == 2, result.stderr
    assert "--where" in result.stderr or "--expect-message" in result.stderr


def test_help_says_what_where_does() -> None:
    result = run("listen", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--where" in result.stdout and "PATH=VALUE" in result.stdout
    assert "--expect-message" in result.stdout
