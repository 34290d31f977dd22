"""Files a user names for us to write (--report, --ready-file, a secret file) may be anything:
a device (/dev/null), a pipe, our own stdout (`--report /dev/stdout`), a symbolic link. They
are written into as they are; only a regular file is replaced (atomically) and made private.
As root, replacing /dev/null with a file (0600) would break it for the whole machine."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

from apimw_cli.settings.files import write_private_file
from tests.support.cli import run
from tests.support.devices import ROOT_ONLY, null_device


@ROOT_ONLY
def test_a_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    devices = tmp_path / "dev"
    devices.mkdir()
    null = null_device(devices)
    write_private_file(null, b"report\n")
    info = null.stat()
    assert stat.S_ISCHR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o666
    assert sorted(p.name for p in devices.iterdir()) == ["null"]  # no temporary file left


def test_a_pipe_gets_the_data_and_stays_a_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o644)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_private_file(fifo, b"ready\n")
    reader.join(10)
    assert got == [b"ready\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode) and stat.S_IMODE(fifo.stat().st_mode) == 0o644


def test_a_symbolic_link_stays_and_its_file_is_replaced(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "config.toml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    write_private_file(link, b"new")
    assert link.is_symlink() and link.read_bytes() == b"new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_a_regular_file_is_still_replaced_and_made_private(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o644)
    write_private_file(target, b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_our_own_stdout_gets_the_data_after_what_it_printed(tmp_path: Path) -> None:
    """`--report /dev/stdout > out.txt`: the report follows the output, in out.txt (it does
    not replace out.txt, nor /dev/stdout: here a link of our own to the same place)."""
    out = tmp_path / "out.txt"
    link = tmp_path / "stdout"
    code = (
        "import os, sys; from pathlib import Path\n"
        "from apimw_cli.settings.files import write_private_file\n"
        f"os.symlink('/proc/self/fd/1', {str(link)!r})\n"
        "print('printed before')\n"
        f"write_private_file(Path({str(link)!r}), b'report\\n')\n"
        "print('printed after')\n"
    )
    with out.open("wb") as stdout:
        subprocess.run([sys.executable, "-c", code], stdout=stdout, check=True, timeout=60)
    assert out.read_text() == "printed before\nreport\nprinted after\n"
    assert link.is_symlink()


@ROOT_ONLY
def test_listen_reports_into_a_device_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    null = null_device(tmp_path)
    result = run("listen", "--no-tunnel", "--skip-verify", "--port", "0", "--no-record",
                 "--no-inspect", "--report", str(null), "--timeout", "0.5s")  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    info = null.stat()
    assert stat.S_ISCHR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o666
