"""The feed between the receiver and the view: counts everything, holds a bounded amount."""

from __future__ import annotations

import threading

from apimw_cli.models import Forwarded, Received, Tally
from apimw_cli.receiver.feed import Feed, Skipped
from tests.receiver.support import event_body


def event(n: int, size: int = 0, **fields: object) -> Received:
    values: dict[str, object] = {
        "record_id": f"rec_{n:012x}",
        "received_at": 1700000000.0,
        "method": "POST",
        "path": "/",
        "headers": {},
        "body": event_body(n=n) + b" " * size,
        "status": 200,
        "kind": "event",
        "event_type": "message.sent",
        **fields,
    }
    return Received(**values)  # type: ignore[arg-type]


def test_records_come_out_in_order() -> None:
    feed = Feed()
    for n in range(10):
        feed(event(n))
    assert [r.record_id for r in feed.take()] == [event(n).record_id for n in range(10)]  # type: ignore[union-attr]
    assert feed.take() == []


def test_past_its_budget_the_feed_counts_instead_of_holding() -> None:
    feed = Feed(max_records=5)
    for n in range(12):
        feed(event(n))
    feed(Forwarded("rec_x", "http://app", 200, 1.0))
    items = feed.take(100)
    assert len(items) == 6
    assert items[-1] == Skipped(events=7, forwards=1)
    assert feed.tally.by_type["message.sent"] == 12
    assert feed.tally.forwarded == 1
    # Room again: new records come after the marker, in order.
    feed(event(99))
    later = feed.take()
    assert len(later) == 1 and isinstance(later[0], Received)


def test_the_byte_budget_bounds_big_bodies() -> None:
    feed = Feed(max_bytes=1_000_000)
    for n in range(50):
        feed(event(n, size=100_000))
    items = feed.take(100)
    held = [i for i in items if isinstance(i, Received)]
    assert len(held) < 10
    assert isinstance(items[-1], Skipped) and items[-1].events == 50 - len(held)
    assert feed.tally.as_dict()["total"] == 50
    feed(event(51, size=100_000))  # taking freed the bytes
    assert len(feed.take()) == 1


def test_filtered_events_are_counted_never_shown() -> None:
    feed = Feed()
    feed(event(1, filtered=True))
    assert feed.take() == []
    assert feed.tally.filtered == 1


def test_decide_runs_for_every_record_and_keeps_the_first_outcome() -> None:
    seen: list[str] = []

    def decide(record: Received | Forwarded, tally: Tally) -> dict[str, object] | None:
        seen.append(record.record_id)
        return {"outcome": "passed"} if tally.as_dict()["total"] >= 3 else None

    feed = Feed(decide=decide, max_records=1)  # deciding does not depend on showing
    for n in range(5):
        feed(event(n))
    assert feed.decided == {"outcome": "passed"}
    assert feed.settled.is_set()
    assert len(seen) == 3  # not asked again once decided


def test_many_threads_lose_nothing() -> None:
    feed = Feed(max_records=100)

    def send(base: int) -> None:
        for n in range(2000):
            feed(event(base + n))

    threads = [threading.Thread(target=send, args=(i * 10_000,)) for i in range(4)]
    for thread in threads:
        thread.start()
    shown = skipped = 0
    while any(t.is_alive() for t in threads) or len(feed):
        for item in feed.take():
            if isinstance(item, Skipped):
                skipped += item.events
            else:
                shown += 1
    for thread in threads:
        thread.join()
    for item in feed.take(10_000):
        if isinstance(item, Skipped):
            skipped += item.events
        else:
            shown += 1
    assert shown + skipped == 8000
    assert feed.tally.by_type["message.sent"] == 8000


def test_the_tally_keeps_made_up_types_bounded() -> None:
    tally = Tally()
    for n in range(Tally.DISTINCT_TYPES + 500):
        tally.add(event(n, event_type=f"made.up.{n}"))
    tally.add(event(0, event_type="x" * 1000))
    assert len(tally.by_type) == Tally.DISTINCT_TYPES + 1
    assert tally.by_type[Tally.OTHER] == 501
    assert tally.as_dict()["total"] == Tally.DISTINCT_TYPES + 501


def test_an_unrecorded_event_counts_as_refused_not_received() -> None:
    tally = Tally()
    tally.add(event(1, status=503, record_error="No space left on device"))
    assert tally.as_dict()["total"] == 0
    assert tally.as_dict()["not_recorded"] == 1
