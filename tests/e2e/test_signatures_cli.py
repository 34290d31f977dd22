"""`apimw sign` and `apimw verify`: offline signatures, from stdin or a file."""

from __future__ import annotations

import json
from pathlib import Path

from apimw_cli.signing import sign
from tests.support.cli import run

# The known-answer vector of docs/apimw-api.md ("Deliveries").
SECRET = "whsec_test_secret"
BODY = (
    '{"type":"message.sent","timestamp":"2024-01-15T10:30:00Z","data":{"message_id":"wamid.TEST",'
    '"to":"+1234567890","message_type":"text"}}'
)
HEADER = "sha256=b345212b020ad248d51ae2303d025c29a54cd4783c4196e4ec8112f3123a392a"
OLD_SECRET = "whsec_the_old_secret_before_rotation"


def test_sign_matches_the_known_answer_vector() -> None:
    result = run("sign", "--secret", SECRET, input=BODY)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == HEADER + "\n"


def test_sign_json_output_names_the_algorithm() -> None:
    result = run("-o", "json", "sign", "--secret", SECRET, input=BODY)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"header": HEADER, "algorithm": "sha256"}


def test_sign_reads_the_secret_from_an_environment_variable() -> None:
    result = run("sign", "--secret-env", "HOOK_SECRET", input=BODY, env={"HOOK_SECRET": SECRET})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == HEADER


def test_sign_reads_a_body_file_byte_for_byte(tmp_path: Path) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY.encode() + b"\n")  # what `echo` would add
    result = run("sign", "--secret", SECRET, "--body-file", str(body_file))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == sign(BODY.encode() + b"\n", SECRET) != HEADER


def test_sign_keeps_the_trailing_newline_of_stdin() -> None:
    result = run("sign", "--secret", SECRET, input=BODY + "\n")
    assert result.stdout.strip() == sign(BODY.encode() + b"\n", SECRET)


def test_sign_without_a_secret_is_a_usage_error() -> None:
    result = run("sign", input=BODY)
    assert result.exit_code == 2
    assert "--secret" in result.stderr


def test_verify_valid_signature_exits_0() -> None:
    result = run("verify", "--secret", SECRET, "--header", HEADER, input=BODY)
    assert result.exit_code == 0, result.stderr
    assert "valid" in result.stdout


def test_verify_wrong_signature_exits_8() -> None:
    wrong = sign(BODY.encode(), "whsec_another_secret")
    result = run("verify", "--secret", SECRET, "--header", wrong, input=BODY)
    assert result.exit_code == 8
    assert "does not match" in result.stderr


def test_verify_json_prints_the_verdict() -> None:
    result = run("-o", "json", "verify", "--secret", SECRET, "--header", HEADER, input=BODY)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "valid": True,
        "code": "valid",
        "reason": "The signature matches the webhook secret.",
        "diagnosis": None,
        "matched_secret": 0,
    }


def test_verify_accepts_any_secret_during_a_rotation() -> None:
    result = run(
        "-o", "json", "verify", "--secret", OLD_SECRET, "--secret", SECRET,
        "--header", HEADER, input=BODY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["valid"] is True
    assert verdict["matched_secret"] == 1


def test_verify_diagnoses_a_reserialised_body() -> None:
    pretty = json.dumps(json.loads(BODY), indent=2)
    result = run("-o", "json", "verify", "--secret", SECRET, "--header", HEADER, input=pretty)
    assert result.exit_code == 8
    verdict = json.loads(result.stdout)
    assert verdict["code"] == "mismatch"
    assert "re-serialised as JSON" in verdict["diagnosis"]
    assert "hint:" in result.stderr and "raw request bytes" in result.stderr


def test_verify_missing_header_is_invalid() -> None:
    result = run("-o", "json", "verify", "--secret", SECRET, input=BODY)
    assert result.exit_code == 8
    assert json.loads(result.stdout)["code"] == "missing_header"


def test_verify_reads_a_body_file(tmp_path: Path) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY.encode())
    result = run("verify", "--secret", SECRET, "--header", HEADER, "--body-file", str(body_file))
    assert result.exit_code == 0, result.stderr


def test_verify_never_prints_the_secret() -> None:
    result = run("verify", "--secret", SECRET, "--header", "sha256=00", input=BODY)
    assert result.exit_code == 8
    assert SECRET not in result.stdout + result.stderr
