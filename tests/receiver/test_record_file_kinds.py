"""A session log is a regular file. Anything else named as one (a device such as /dev/null, a
pipe) is refused, at once and untouched: as root, making /dev/null private (0600) would break
it for every other user of the machine; a pipe with no reader would hang listen's start."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from apimw_cli.receiver.recorder import Recorder
from tests.support.cli import run
from tests.support.devices import ROOT_ONLY, null_device


@ROOT_ONLY
def test_a_device_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    null = null_device(tmp_path)
    with pytest.raises(OSError) as refused:
        Recorder(null)
    assert refused.value.errno == errno.EINVAL and "not a regular file" in str(refused.value)
    assert stat.S_IMODE(null.stat().st_mode) == 0o666


def test_a_pipe_with_no_reader_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o644)
    with pytest.raises(OSError) as refused:
        Recorder(fifo)  # would wait for a reader forever with a blocking open
    assert refused.value.errno == errno.ENXIO
    assert stat.S_IMODE(fifo.stat().st_mode) == 0o644


def test_a_pipe_with_a_reader_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o644)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(OSError, match="not a regular file"):
            Recorder(fifo)
        assert os.read(reader, 10) == b""  # nothing was written to it
    finally:
        os.close(reader)
    assert stat.S_IMODE(fifo.stat().st_mode) == 0o644


def test_a_regular_file_is_written_blocking(tmp_path: Path) -> None:
    with Recorder(tmp_path / "log.jsonl") as recorder:
        assert recorder._fd is not None and os.get_blocking(recorder._fd)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_listen_says_record_must_be_a_regular_file(tmp_path: Path, kind: str) -> None:
    target = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    result = run("listen", "--no-tunnel", "--skip-verify", "--port", "0", "--record", str(target))
    assert result.exit_code == 2, result.stderr
    assert "--record" in result.stderr and "Traceback" not in result.stderr
    if kind == "fifo":
        assert "not a regular file" in result.stderr and "--no-record" in result.stderr


@ROOT_ONLY
def test_listen_refuses_a_null_device_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    null = null_device(tmp_path)
    result = run("listen", "--no-tunnel", "--skip-verify", "--port", "0", "--record", str(null))
    assert result.exit_code == 2, result.stderr
    assert "not a regular file" in result.stderr and "--no-record" in result.stderr
    assert stat.S_IMODE(null.stat().st_mode) == 0o666
