"""Text gathered in memory and written out in one go: one write and one flush for a whole
batch of lines instead of one per line (a terminal shows a few dozen frames a second at most,
and each write costs a system call on the path that competes with the receiver).

Nothing gathered is lost to a Ctrl-C, nor written twice: on a POSIX file descriptor the text
is written with `os.write` in chunks and what the kernel took is recorded with SIGINT held
back for those few instructions, so an interrupted `flush` leaves exactly the rest, which the
next `flush` writes. Elsewhere (a StringIO, Windows) the file's own `write` is used, and the
text is only dropped once written.

A pipe or terminal may keep a write waiting for its reader. On Linux the batch goes through a
second, non-blocking opening of the same pipe or terminal (its twin, from /proc/self/fd): each
write takes all the room there is, and select() waits only when there is none. The descriptor
we were given stays blocking, as the shell and the other programs sharing it expect. Elsewhere,
chunks of CHUNK bytes after select(): the most a writable pipe is sure to take without waiting.
Either way a Ctrl-C is never held behind a stalled reader.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import select
import signal
import stat
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import IO

from apimw_cli.stream_encoding import JSON_ESCAPE

__all__ = ["BatchedOutput"]

CHUNK = 4096  # a pipe or terminal that select() calls writable takes this much without blocking
_HOLD_SIGINT = hasattr(signal, "pthread_sigmask") and os.name == "posix"


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """SIGINT waits until the block is done (main thread, POSIX); delivered right after."""
    if not _HOLD_SIGINT or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _descriptor(file: IO[str]) -> int | None:
    """The file descriptor under `file` when bytes may be written to it directly."""
    if not _HOLD_SIGINT or not hasattr(file, "encoding"):
        return None
    try:
        return file.fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None


def _nonblocking_twin(fd: int) -> int | None:
    """A non-blocking descriptor of our own on the pipe or terminal under `fd` (Linux), or None.

    O_NONBLOCK on `fd` itself would change the open file that the shell and the pipeline
    share with us; a fresh opening through /proc has a status of its own. O_NOCTTY: a terminal
    opened so must not become our controlling terminal.
    """
    if not sys.platform.startswith("linux"):
        return None
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        twin = os.open(f"/proc/self/fd/{fd}", flags)
    except OSError:  # no /proc, or not a pipe or terminal (a socket: ENXIO)
        return None
    try:
        same = os.fstat(twin), os.fstat(fd)
    except OSError:
        os.close(twin)
        return None
    if (same[0].st_dev, same[0].st_ino) != (same[1].st_dev, same[1].st_ino):
        os.close(twin)  # /proc pointed elsewhere (the descriptor was replaced meanwhile)
        return None
    return twin


def _is_utf8(encoding: str) -> bool:
    """Whether `encoding` is UTF-8 (then UTF-8 bytes go as they are)."""
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def _may_block(fd: int) -> bool:
    """Whether a write to `fd` may wait for a reader (a pipe, a terminal, a socket)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return True
    return not (stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd)))


class BatchedOutput:
    """`add` text, then `flush` it all to `file` at once.

    Nothing added raises for the file's encoding (a pipe on Windows, a latin-1 locale): with
    `json_lines`, what the encoding cannot carry is written as JSON escapes (the lines stay
    valid JSON); otherwise as the file's error handler says, or as `\\x..` escapes where it
    would raise (strict)."""

    def __init__(self, file: IO[str], *, json_lines: bool = False) -> None:
        self.file = file
        self._pieces: list[str | bytes] = []
        self._raw = 0  # how many of the pieces are UTF-8 bytes (add_utf8)
        self._encoding: str = getattr(file, "encoding", None) or "utf-8"
        self._utf8 = _is_utf8(self._encoding)
        errors: str = getattr(file, "errors", None) or "strict"
        if json_lines:
            self._errors = JSON_ESCAPE
        else:
            self._errors = "backslashreplace" if errors == "strict" else errors
        # Encoded, taken from _pieces, not yet accepted by the kernel. A view: what is sent is
        # cut off without copying the rest (a batch may take many writes into a full pipe).
        self._unsent = memoryview(b"")
        self._fd = _descriptor(file)
        # A file or /dev/null never keeps a write waiting: all of it at once, no select().
        self._waits = self._fd is not None and _may_block(self._fd)
        self._twin = _nonblocking_twin(self._fd) if self._waits and self._fd is not None else None
        # Closes the twin once: when this object goes, or when its reader left (_send).
        self._close_twin = weakref.finalize(self, os.close, self._twin) if self._twin else None

    def add(self, text: str) -> None:
        self._pieces.append(text)

    def add_utf8(self, data: bytes) -> None:
        """Text already encoded as UTF-8 (an NDJSON line from orjson): kept as it is when the
        file writes UTF-8, so a batch of them is joined without a round trip through str."""
        if self._utf8:
            self._pieces.append(data)
            self._raw += 1
        else:
            self._pieces.append(data.decode("utf-8"))

    def __bool__(self) -> bool:
        return bool(self._pieces or self._unsent)

    def flush(self) -> None:
        """Write everything added (and what an interrupted flush left) and flush the file.
        BrokenPipeError (the reader left) propagates, as from `print`."""
        if self._fd is None:
            self._flush_file()
            return
        if self._pieces:
            encoded = self._joined()
            data = memoryview(bytes(self._unsent) + encoded if self._unsent else encoded)
            # One statement, no call in between: a signal cannot split it.
            self._unsent, self._pieces, self._raw = data, [], 0
        if self._unsent:
            self.file.flush()  # what others wrote through the file goes first
            self._send(self._fd)

    def _joined(self) -> bytes:
        """The pieces, encoded: text pieces joined then encoded once (the live view's lines),
        UTF-8 pieces joined as they are (NDJSON's), each encoded in turn when mixed."""
        pieces = self._pieces
        if not self._raw:
            return self._encode("".join(pieces))  # type: ignore[arg-type]  # all str
        if self._raw == len(pieces):
            return b"".join(pieces)  # type: ignore[arg-type]  # all bytes
        return b"".join(p if isinstance(p, bytes) else self._encode(p) for p in pieces)

    def _encode(self, text: str) -> bytes:
        return text.encode(self._encoding, self._errors)

    def _send(self, fd: int) -> None:
        if not self._waits:
            with _sigint_held():
                while self._unsent:
                    self._unsent = self._unsent[os.write(fd, self._unsent) :]
            return
        if self._twin is not None:
            try:
                self._send_nonblocking(self._twin)
            except BrokenPipeError:
                # The reader left: from now on write where `fd` points (listen then points it
                # at the null device), not to the dead pipe through the twin.
                if self._close_twin is not None:
                    self._close_twin()
                self._twin = None
                raise
            return
        while self._unsent:
            # Waiting may be interrupted: nothing is written yet. (ValueError: a descriptor
            # past select()'s FD_SETSIZE, then just write.)
            with contextlib.suppress(ValueError):
                select.select([], [fd], [])
            with _sigint_held():
                try:
                    sent = os.write(fd, self._unsent[:CHUNK])
                except BlockingIOError:  # a non-blocking descriptor that filled up
                    continue
                self._unsent = self._unsent[sent:]

    def _send_nonblocking(self, twin: int) -> None:
        while self._unsent:
            with _sigint_held():
                try:
                    sent = os.write(twin, self._unsent)
                except BlockingIOError:  # no room at all: wait below
                    sent = 0
                self._unsent = self._unsent[sent:]
            if self._unsent:
                # Waiting may be interrupted: what was written is recorded already.
                with contextlib.suppress(ValueError):  # past FD_SETSIZE: just try again
                    select.select([], [twin], [])

    def _flush_file(self) -> None:
        if self._pieces:
            text = "".join(p if isinstance(p, str) else p.decode() for p in self._pieces)
            if not self._utf8:
                # What the file's own encoding would refuse, replaced here (the file's
                # handler may be strict): the text then encodes as it is.
                text = self._encode(text).decode(self._encoding)
            self.file.write(text)
            # Written: a Ctrl-C before this line writes the batch again.
            self._pieces, self._raw = [], 0
        self.file.flush()
