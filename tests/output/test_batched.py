"""A batch of lines goes out in one go (output/batched.py), and a Ctrl-C while it does loses
none of it and writes none of it twice; a closed pipe says so (BrokenPipeError, which listen
silences)."""

from __future__ import annotations

import io
import json
import os
import select
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apimw_cli.output import batched
from apimw_cli.output.batched import BatchedOutput

posix_only = pytest.mark.skipif(os.name != "posix", reason="the descriptor path is POSIX only")


@pytest.fixture
def pipe() -> Iterator[tuple[io.TextIOWrapper, int]]:
    """A text file on a pipe's write end, and the read end."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    file = open(write_fd, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        yield file, read_fd
    finally:
        file.close()
        os.close(read_fd)


def drain(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def lines(count: int) -> list[str]:
    return [f"line {n} → é\n" for n in range(count)]


def test_a_file_without_a_descriptor_gets_one_write_per_flush() -> None:
    class Counting(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

    file = Counting()
    output = BatchedOutput(file)
    for text in lines(300):
        output.add(text)
    output.flush()
    output.flush()  # nothing more: no write
    assert file.writes == 1
    assert file.getvalue() == "".join(lines(300))


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the non-blocking twin comes from /proc"
)
# How a pipe or terminal is written: through a non-blocking twin (Linux), or in chunks after
# select() (elsewhere; forced here by finding no twin).
WAYS = ["twin", "chunks"]


@pytest.fixture
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "twin" and not sys.platform.startswith("linux"):
        pytest.skip("the non-blocking twin comes from /proc (Linux)")
    if request.param == "chunks":
        monkeypatch.setattr(batched, "_nonblocking_twin", lambda fd: None)
    return str(request.param)


@posix_only
@pytest.mark.parametrize("way", WAYS, indirect=True)
def test_a_descriptor_gets_the_batch_in_order(
    pipe: tuple[io.TextIOWrapper, int], monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    file, read_fd = pipe
    sizes: list[int] = []
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        sizes.append(len(data))
        return real_write(fd, data[:1000])  # the kernel may take less than asked

    monkeypatch.setattr(os, "write", write)
    file.write("written before\n")  # through the file: flushed first, so it stays first
    output = BatchedOutput(file)
    for text in lines(500):
        output.add(text)
    output.flush()
    if way == "chunks":
        assert all(size <= batched.CHUNK for size in sizes)
    else:  # each write offers all that is left: as few system calls as the room allows
        total = len("".join(lines(500)).encode())
        assert sizes[0] == total and sizes[1] == total - 1000
    assert drain(read_fd).decode() == "written before\n" + "".join(lines(500))


@linux_only
def test_the_twin_is_a_pipe_of_its_own_and_leaves_ours_blocking(
    pipe: tuple[io.TextIOWrapper, int],
) -> None:
    file, read_fd = pipe
    output = BatchedOutput(file)
    twin = output._twin
    assert twin is not None and twin != file.fileno()
    assert not os.get_blocking(twin)
    assert os.get_blocking(file.fileno())  # the shell's and the pipeline's view: unchanged
    for text in lines(20_000):  # several times a pipe's room: the reader drains meanwhile
        output.add(text)
    received = bytearray()
    real_select = select.select

    def wait(readable: list[int], writable: list[int], errors: list[int]) -> object:
        received.extend(drain(read_fd))
        return real_select(readable, writable, errors)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(select, "select", wait)
        output.flush()
    received.extend(drain(read_fd))
    assert received.decode() == "".join(lines(20_000))


@posix_only
def test_a_ctrl_c_during_a_write_loses_and_repeats_nothing(
    pipe: tuple[io.TextIOWrapper, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGINT arrives while the kernel takes a chunk: it is held until what was taken is
    recorded, then raised; the next flush writes exactly the rest."""
    file, read_fd = pipe
    real_write = os.write
    calls = 0

    def write(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        sent = real_write(fd, data[:700])
        if calls == 2:
            signal.raise_signal(signal.SIGINT)  # held: delivered once the chunk is recorded
        return sent

    monkeypatch.setattr(os, "write", write)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        output = BatchedOutput(file)
        for text in lines(400):
            output.add(text)
        with pytest.raises(KeyboardInterrupt):
            output.flush()
        assert output  # the rest is still to go
        output.flush()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert drain(read_fd).decode() == "".join(lines(400))


@posix_only
@pytest.mark.parametrize("way", WAYS, indirect=True)
def test_a_ctrl_c_while_waiting_for_room_loses_nothing(
    pipe: tuple[io.TextIOWrapper, int], monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    file, read_fd = pipe
    real_select = select.select
    received = bytearray()
    waits = 0

    def wait(readable: list[int], writable: list[int], errors: list[int]) -> object:
        nonlocal waits
        waits += 1
        received.extend(drain(read_fd))  # the reader takes what is there
        if waits == 2:
            raise KeyboardInterrupt
        return real_select(readable, writable, errors)

    monkeypatch.setattr(select, "select", wait)
    output = BatchedOutput(file)
    for text in lines(10_000):  # more than a pipe holds: the twin waits for room too
        output.add(text)
    with pytest.raises(KeyboardInterrupt):
        output.flush()
    output.add("after\n")
    output.flush()
    received.extend(drain(read_fd))
    assert received.decode() == "".join(lines(10_000)) + "after\n"


@posix_only
def test_a_closed_pipe_is_a_broken_pipe(pipe: tuple[io.TextIOWrapper, int]) -> None:
    file, read_fd = pipe
    output = BatchedOutput(file)
    output.add("line\n")
    # The pipe's only read end becomes /dev/null: the pipe has no reader left.
    os.dup2(os.open(os.devnull, os.O_RDONLY), read_fd)
    with pytest.raises(BrokenPipeError):
        output.flush()
    # listen then points stdout at the null device: later flushes go there, not to the pipe.
    os.dup2(os.open(os.devnull, os.O_WRONLY), file.fileno())
    output.add("more\n")
    output.flush()
    assert not output


def test_encoding_follows_the_file() -> None:
    raw = io.BytesIO()
    file = io.TextIOWrapper(raw, encoding="ascii", errors="backslashreplace")
    output = BatchedOutput(file)
    output.add("é\n")
    output.flush()
    file.flush()
    assert raw.getvalue() == b"\\xe9\n"


def test_stdout_is_used_as_is_where_it_has_no_descriptor(
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = BatchedOutput(sys.stdout)
    output.add("through pytest's capture\n")
    output.flush()
    assert capsys.readouterr().out == "through pytest's capture\n"


@posix_only
def test_a_regular_file_gets_the_batch_in_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file (or /dev/null) never keeps a write waiting: no chunks, no select()."""
    real_write = os.write
    sizes: list[int] = []

    def write(fd: int, data: bytes) -> int:
        sizes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with (tmp_path / "out").open("w", encoding="utf-8") as file:
        output = BatchedOutput(file)
        for text in lines(5000):
            output.add(text)
        output.flush()
    assert len(sizes) == 1
    assert (tmp_path / "out").read_text(encoding="utf-8") == "".join(lines(5000))


@posix_only
@pytest.mark.parametrize("way", WAYS, indirect=True)
def test_what_is_left_after_a_short_write_is_not_copied(
    pipe: tuple[io.TextIOWrapper, int], monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    """A batch larger than the pipe goes out in many writes: each offers a view of the one
    encoded batch (copying the rest after every write made a big batch quadratic)."""
    file, read_fd = pipe
    real_write = os.write
    buffers: list[object] = []

    def write(fd: int, data: memoryview) -> int:
        buffers.append(data.obj if isinstance(data, memoryview) else data)
        return real_write(fd, data[:512])

    monkeypatch.setattr(os, "write", write)
    output = BatchedOutput(file)
    for text in lines(2000):
        output.add(text)
    output.flush()
    assert len(buffers) > 50
    assert all(buffer is buffers[0] for buffer in buffers)
    assert drain(read_fd).decode() == "".join(lines(2000))


def json_lines(count: int) -> list[bytes]:
    return [f'{{"n":{n},"text":"é → ✓"}}\n'.encode() for n in range(count)]


@posix_only
@pytest.mark.parametrize("way", WAYS, indirect=True)
def test_utf8_lines_go_out_as_they_are_in_order_with_text(
    pipe: tuple[io.TextIOWrapper, int], way: str
) -> None:
    file, read_fd = pipe
    output = BatchedOutput(file)
    expected = b""
    for n, data in enumerate(json_lines(300)):
        output.add_utf8(data)
        expected += data
        if n % 7 == 0:  # a note between them, as text
            output.add(f"note {n} ☂\n")
            expected += f"note {n} ☂\n".encode()
    output.flush()
    for data in json_lines(3):  # all bytes, then all text: both kinds of batch
        output.add_utf8(data)
    output.flush()
    output.add("text only\n")
    output.flush()
    expected += b"".join(json_lines(3)) + b"text only\n"
    assert drain(read_fd) == expected


def test_utf8_lines_are_encoded_again_for_a_file_in_another_encoding() -> None:
    raw = io.BytesIO()
    file = io.TextIOWrapper(raw, encoding="ascii", errors="backslashreplace")
    output = BatchedOutput(file)
    output.add_utf8('{"text":"é"}\n'.encode())
    output.add("ü\n")
    output.flush()
    file.flush()
    assert raw.getvalue() == b'{"text":"\\xe9"}\n\\xfc\n'


def test_utf8_lines_reach_a_file_without_a_descriptor_as_text() -> None:
    file = io.StringIO()
    output = BatchedOutput(file)
    output.add("first\n")
    output.add_utf8("✓ second\n".encode())
    output.flush()
    assert file.getvalue() == "first\n✓ second\n"
    assert not output


# --------------------------------------------------------------------------- narrow encodings

NARROW = ["ascii", "latin-1", "cp1252"]  # a C-like locale, a legacy one, a Windows pipe


def narrow_file(encoding: str) -> tuple[io.TextIOWrapper, io.BytesIO]:
    """A text file in `encoding` with Python's default (strict) errors, on no descriptor."""
    raw = io.BytesIO()
    return io.TextIOWrapper(raw, encoding=encoding), raw


@pytest.mark.parametrize("encoding", NARROW)
def test_json_lines_stay_json_in_an_encoding_that_cannot_carry_them(encoding: str) -> None:
    file, raw = narrow_file(encoding)
    output = BatchedOutput(file, json_lines=True)
    record = {"text": "é ✓ 😀 \u2028", "type": "msg.✓"}
    output.add_utf8(json.dumps(record, ensure_ascii=False).encode() + b"\n")
    output.add(json.dumps({"note": "ü ☂"}, ensure_ascii=False) + "\n")
    output.flush()
    file.flush()
    first, second = raw.getvalue().decode(encoding).splitlines()
    assert json.loads(first) == record and json.loads(second) == {"note": "ü ☂"}
    assert "\\ud83d\\ude00" in first  # what the encoding lacks, as JSON escapes
    if encoding != "ascii":
        assert "é" in first  # what it has, as it is


@posix_only
@pytest.mark.parametrize("way", WAYS, indirect=True)
def test_a_pipe_in_a_narrow_encoding_gets_json_escapes_not_an_error(way: str) -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    with open(write_fd, "w", encoding="latin-1") as file:  # strict, as Python opens it
        output = BatchedOutput(file, json_lines=True)
        output.add_utf8(b'{"t":"\xc3\xa9 \xe2\x9c\x93"}\n')
        output.flush()
    data = drain(read_fd)
    os.close(read_fd)
    assert data == b'{"t":"\xe9 \\u2713"}\n'


@pytest.mark.parametrize("encoding", NARROW)
def test_text_lines_in_a_strict_narrow_encoding_are_escaped_not_an_error(encoding: str) -> None:
    file, raw = narrow_file(encoding)
    output = BatchedOutput(file)
    output.add("→ ✓ 😀\n")
    output.flush()
    file.flush()
    assert raw.getvalue() == b"\\u2192 \\u2713 \\U0001f600\n"


@given(
    text=st.text(st.characters(exclude_categories=["Cs"])),
    encoding=st.sampled_from([*NARROW, "utf-8"]),
)
@settings(max_examples=200, deadline=None)
def test_any_json_line_means_the_same_in_any_encoding(text: str, encoding: str) -> None:
    file, raw = narrow_file(encoding)
    output = BatchedOutput(file, json_lines=True)
    line = json.dumps({"t": text}, ensure_ascii=False)
    output.add_utf8(line.encode() + b"\n")
    output.add(line + "\n")
    output.flush()
    file.flush()
    written = raw.getvalue().decode(encoding).split("\n")
    assert [json.loads(each) for each in written[:2]] == [{"t": text}] * 2
    assert written[2:] == [""]
