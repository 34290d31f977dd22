"""`apimw sandbox` with a data directory it cannot use: one `error:` line with a hint, exit 3,
before anything listens (never the server's startup traceback)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apimw_cli.sandbox.config import DB_NAME
from tests.support.cli import run


def refused(*args: str) -> str:
    result = run("sandbox", "--port", "0", *args)
    assert result.exit_code == 3, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: cannot "), result.stderr
    assert any(line.startswith("hint: ") for line in lines), result.stderr
    return result.stderr


def test_a_data_dir_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert "Not a directory" in refused("--data-dir", str(tmp_path / "file" / "sub"))


def test_a_database_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).mkdir()
    assert "--ephemeral" in refused("--data-dir", str(tmp_path))


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"not sqlite at all " * 20)
    message = refused("--data-dir", str(tmp_path))
    assert "file is not a database" in message and "--reset" in message


def test_reset_of_a_database_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).mkdir()
    assert "for --reset" in refused("--data-dir", str(tmp_path), "--reset")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_data_dir(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        refused("--data-dir", str(tmp_path / "sub"))
    finally:
        tmp_path.chmod(0o700)
