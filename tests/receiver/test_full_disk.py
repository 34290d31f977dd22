"""A session log that cannot be written (a full disk): all or nothing per line, and events that
could not be kept are refused with a 503 so APIMW delivers them again."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from apimw_cli.receiver import recorder as recorder_module
from apimw_cli.receiver.recorder import Recorder, read_records, record_body
from tests.receiver.conftest import StartApp, StartReceiver
from tests.receiver.support import event_body, received


class Disk:
    """Plays a disk that fills up: `full` makes writes fail with ENOSPC after `room` bytes."""

    def __init__(self) -> None:
        self.full = False
        self.room = 0  # bytes a write may still put in before failing
        self.truncate_fails = False
        self._real_write = os.write

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if not self.full:
            return self._real_write(fd, data)
        if self.room > 0:
            part = bytes(data[: self.room])
            self.room = 0
            return self._real_write(fd, part)  # a short write, as a filling disk does
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    fake = Disk()
    monkeypatch.setattr(recorder_module, "_os_write", fake.write)
    real_truncate = os.ftruncate

    def truncate(fd: int, length: int) -> None:
        if fake.truncate_fails:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_truncate(fd, length)

    monkeypatch.setattr(os, "ftruncate", truncate)
    yield fake


def ids(path: Path) -> list[str]:
    return [str(r["id"]) for r in read_records(path)]


def test_a_write_that_fails_half_way_leaves_nothing_of_its_line(tmp_path: Path, disk: Disk) -> None:
    path = tmp_path / "session.jsonl"
    with Recorder(path) as rec:
        rec.write_request(received(1))
        disk.full, disk.room = True, 40
        with pytest.raises(OSError) as failed:
            rec.write_request(received(2))
        assert failed.value.errno == errno.ENOSPC
        disk.full = False
        rec.write_request(received(3))
    assert path.read_bytes().count(b"\n") == 2
    assert ids(path) == [received(1).record_id, received(3).record_id]


def test_when_even_truncating_fails_the_next_line_starts_on_its_own(
    tmp_path: Path, disk: Disk
) -> None:
    path = tmp_path / "session.jsonl"
    with Recorder(path) as rec:
        rec.write_request(received(1))
        disk.full, disk.room, disk.truncate_fails = True, 40, True
        with pytest.raises(OSError):
            rec.write_request(received(2))
        disk.full = False
        rec.write_request(received(3))
        rec.write_request(received(4))
    assert ids(path) == [received(n).record_id for n in (1, 3, 4)]
    assert [record_body(r) for r in read_records(path)] == [event_body(n=n) for n in (1, 3, 4)]


def test_locate_gives_the_place_of_the_line(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    with Recorder(path) as rec:
        rec.write_request(received(1))
        where = rec.write_request(received(2), locate=True)
        rec.write_request(received(3))
    assert where is not None
    record = recorder_module.read_line(path, *where)
    assert record is not None and record["id"] == received(2).record_id


# --- through the receiver -------------------------------------------------------------------


def test_an_event_that_cannot_be_recorded_gets_503_and_the_reason(
    start_receiver: StartReceiver, disk: Disk
) -> None:
    live = start_receiver()
    assert live.post(event_body(n=1)).status_code == 200
    disk.full = True
    refused = live.post(event_body(n=2), delivery="dlv_2")
    assert refused.status_code == 503
    assert "not recorded: No space left on device" in refused.text
    report = live.received_for(refused)
    assert report.record_error == "No space left on device"
    assert report.status == 503
    disk.full = False
    # Not remembered as seen: APIMW's retry of the same delivery is a first delivery.
    retried = live.post(event_body(n=2), delivery="dlv_2")
    assert retried.status_code == 200
    assert not live.received_for(retried).duplicate
    assert [record_body(r) for r in read_records(live.record)] == [
        event_body(n=1),
        event_body(n=2),
    ]


def test_every_acknowledged_event_is_readable_after_the_disk_filled_mid_line(
    start_receiver: StartReceiver, disk: Disk
) -> None:
    live = start_receiver()
    acknowledged: list[bytes] = []
    for n in range(56):
        if n == 30:
            disk.full, disk.room = True, 100  # half of the next line gets in, then ENOSPC
        if n == 34:
            disk.full = False
        body = event_body(n=n)
        if live.post(body).status_code == 200:
            acknowledged.append(body)
    assert len(acknowledged) == 52
    assert [record_body(r) for r in read_records(live.record)] == acknowledged


def test_an_unrecorded_event_is_not_forwarded(
    start_receiver: StartReceiver, start_app: StartApp, disk: Disk
) -> None:
    app = start_app()
    live = start_receiver(forward_to=(app.url,))
    disk.full = True
    assert live.post(event_body(n=1)).status_code == 503
    disk.full = False
    assert live.post(event_body(n=2)).status_code == 200
    app.wait_hits(1)
    live.sink.wait_forwarded(1)
    assert app.bodies() == [event_body(n=2)]


def test_a_challenge_is_answered_even_when_it_cannot_be_recorded(
    start_receiver: StartReceiver, disk: Disk
) -> None:
    live = start_receiver()
    disk.full = True
    body = b'{"type":"webhook.verification","challenge":"abc"}'
    answer = live.post(body, secret=None)
    assert answer.status_code == 200 and answer.text == "abc"
    assert live.received_for(answer).record_error == "No space left on device"
