"""`apimw login --api-secret-file FILE`: the API secret from a file, never from the command line."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.fakeapi import API_KEY, API_SECRET, FakeApi
from tests.support.cli import run


def test_the_secret_is_the_files_first_line(isolated_env: Path, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(API_SECRET + "\nnot part of it\n")
    result = run(
        "login", "--api-key", API_KEY, "--api-secret-file", str(secret_file), api=FakeApi()
    )
    assert result.exit_code == 0, result.stderr
    profile = tomllib.loads((isolated_env / "config.toml").read_text())["profiles"]["default"]
    assert profile["api_secret"] == API_SECRET
    assert API_SECRET not in result.stdout + result.stderr


def test_one_way_only(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(API_SECRET)
    result = run(
        "login", "--api-key", API_KEY, "--api-secret-stdin", "--api-secret-file", str(secret_file),
        input=API_SECRET, api=FakeApi(),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "one way" in result.stderr


def test_a_missing_empty_or_endless_file_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, said in ((tmp_path / "nope", "cannot read it"), (empty, "is empty"),
                       (Path("/dev/zero"), "not a secret")):  # fmt: skip
        result = run("login", "--api-key", API_KEY, "--api-secret-file", str(path), api=FakeApi())
        assert result.exit_code == 2, result.stderr
        assert said in result.stderr and "Traceback" not in result.stderr
        assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1
