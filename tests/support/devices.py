"""A null device of the test's own, for what apimw must never replace nor chmod: /dev/null
itself would be broken for the whole machine by a regression (the tests run as root in CI)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

ROOT_ONLY = pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0, reason="making a device node needs root"
)


def null_device(directory: Path) -> Path:
    """A node of the null device in `directory`, with /dev/null's mode (0666)."""
    null = directory / "null"
    os.mknod(null, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.chmod(null, 0o666)  # noqa: S103  # /dev/null's own mode, past the umask
    return null
