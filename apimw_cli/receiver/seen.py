"""Which deliveries this session has already seen, so a retry is not forwarded twice.

A delivery is known by its X-APIMW-Delivery id, else by the SHA-256 of its raw body (the real
API may leave the header out: docs/apimw-api.md, "Deliveries and signatures"). The newest
`size` are remembered; 0 remembers none.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["Seen", "SeenDeliveries"]


@dataclass(slots=True)
class Seen:
    """What the receiver knows of one delivery."""

    attempts: int  # times it arrived this session
    handled: bool  # handed on (forwarded, or would be): later attempts are duplicates
    status: int  # what APIMW got the last time


def delivery_key(delivery_id: str | None, body: bytes) -> str:
    """The key a delivery is remembered by: its id, else its body's hash."""
    return "id:" + delivery_id if delivery_id else "sha256:" + hashlib.sha256(body).hexdigest()


class SeenDeliveries:
    """The newest `size` deliveries by `delivery_key`, least recently seen dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: OrderedDict[str, Seen] = OrderedDict()

    def lookup(self, key: str) -> Seen | None:
        seen = self._seen.get(key)
        if seen is not None:
            self._seen.move_to_end(key)
        return seen

    def remember(self, key: str, prior: Seen | None, *, handled: bool, status: int) -> None:
        """Count this attempt of a delivery; `handled`: it was handed on (so a later attempt is
        a duplicate, not forwarded again)."""
        if self._size <= 0:
            return
        if prior is not None:
            prior.attempts += 1
            prior.handled = prior.handled or handled
            prior.status = status
            return
        seen = self._seen
        seen[key] = Seen(1, handled, status)
        while len(seen) > self._size:
            seen.popitem(last=False)
