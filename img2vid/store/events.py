"""The job events that followers (the event streams of web/events.py) read: each state
change the scripts make adds one to a Redis stream, with the job's id, the event's type
and the job's owner; the stream's entry ids are the events' ids, so a follower that
reconnects asks for what came after the last one it saw."""

from __future__ import annotations

from dataclasses import dataclass

from img2vid.store.scripts import EVENTS_KEPT

TYPES = ("queued", "started", "progress", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Event:
    id: str
    job_id: str
    type: str
    owner: str | None


def event_order(event_id: str) -> tuple[int, int]:
    """An event id as something that sorts in the stream's order; (0, 0) for what is not one."""
    ms, _, seq = event_id.partition("-")
    if not (ms.isascii() and ms.isdigit() and seq.isascii() and (seq.isdigit() or seq == "")):
        return (0, 0)
    return (int(ms), int(seq or 0))


def _events(entries) -> list[Event]:
    return [Event(i, f.get("job", ""), f.get("type", ""), f.get("owner") or None) for i, f in entries]


class EventsMixin:
    def latest_event_id(self) -> str:
        """The id of the newest event ("0-0" before any): what a follower starting now has seen."""
        with self._guard():
            newest = self._redis.xrevrange(self._keys.events, count=1)
        return newest[0][0] if newest else "0-0"

    def events_since(self, after: str, limit: int = EVENTS_KEPT) -> tuple[list[Event], bool]:
        """The events after ``after``, oldest first, and whether they are all there is
        (False: some after it were trimmed already, or ``after`` is not an event id)."""
        with self._guard():
            first = self._redis.xrange(self._keys.events, count=1)
            entries = (
                self._redis.xrange(self._keys.events, min=f"({after}", count=limit)
                if event_order(after) > (0, 0)
                else []
            )
        whole = event_order(after) > (0, 0) and (not first or event_order(first[0][0]) <= event_order(after))
        return _events(entries), whole

    def wait_events(self, after: str, block_seconds: float, limit: int = 1000) -> list[Event]:
        """The events after ``after``, waiting up to ``block_seconds`` for one. On a
        connection of its own, as it blocks (the event hub's, web/events.py)."""
        reply = self._redis.xread({self._keys.events: after}, count=limit, block=int(block_seconds * 1000))
        return _events(reply[0][1]) if reply else []

    def add_event(self, job_id: str, kind: str, owner: str | None, pipe=None) -> None:
        """Add an event the scripts do not (a new job's ``queued``), in ``pipe`` if given."""
        target = pipe if pipe is not None else self._redis
        fields = {"job": job_id, "type": kind, "owner": owner or ""}
        target.xadd(self._keys.events, fields, maxlen=EVENTS_KEPT, approximate=True)
