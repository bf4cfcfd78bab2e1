"""Job events for the event streams (Server-Sent Events): one hub per web process
follows the store's event stream and hands each event, with the job's JSON as it is
then, to the streams that want it.

One follower per process, not one per stream: 500 open streams cost Redis one blocking
read per process, and each event's job is read once, whoever follows it. Each stream
holds one of gunicorn's threads (web/gunicorn_conf.py) while it waits on its inbox.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from img2vid.errors import UnavailableError
from img2vid.job import FINISHED, Job
from img2vid.store import JobStore
from img2vid.store.events import Event, event_order

log = logging.getLogger(__name__)

# The blocking read's longest wait: short of the store client's socket timeout (5 s).
BLOCK_SECONDS = 2.0
# A job's state as a follower's first event names it (a running job's is its progress).
SNAPSHOT_TYPE = {"queued": "queued", "running": "progress"}
# How soon a browser's EventSource reconnects after a dropped stream.
RETRY_MS = 2000


@dataclass(eq=False)
class Subscription:
    """What one stream wants: one job's events, or all of ``owner``'s (None: everyone's)."""

    job_id: str | None
    owner: str | None
    inbox: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)

    def wants(self, event: Event) -> bool:
        if self.job_id is not None:
            return event.job_id == self.job_id
        return self.owner is None or event.owner == self.owner


class EventHub:
    """Started on the first subscription in each process (after gunicorn's fork)."""

    # Every hub of this process, for end_all_streams().
    made: list[EventHub] = []

    def __init__(self, store: JobStore, most: int) -> None:
        self._store = store
        self._most = most
        EventHub.made.append(self)
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._pid = 0

    def subscribe(self, job_id: str | None, owner: str | None) -> Subscription:
        sub = Subscription(job_id, owner)
        with self._lock:
            self._subs.add(sub)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._follow, name="img2vid-events", daemon=True).start()
        return sub

    def full(self) -> bool:
        """Whether this process has as many streams open as it may."""
        with self._lock:
            return len(self._subs) >= self._most

    def end_streams(self) -> None:
        """End every open stream (the process is stopping); a follower reconnects to another."""
        with self._lock:
            for sub in self._subs:
                sub.inbox.put(None)

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def _follow(self) -> None:
        after = None
        while True:
            try:
                if after is None:
                    after = self._store.latest_event_id()
                events = self._store.wait_events(after, BLOCK_SECONDS)
            except Exception as exc:  # Redis away: the streams keep beating; try again
                log.warning("the event hub cannot read the job store: %s", exc)
                threading.Event().wait(1.0)
                continue
            if events:
                after = events[-1].id
                self._hand_out(events)

    def _hand_out(self, events: list[Event]) -> None:
        with self._lock:
            subs = list(self._subs)
        jobs: dict[str, str | None] = {}
        for event in events:
            wanting = [s for s in subs if s.wants(event)]
            if not wanting:
                continue
            if event.job_id not in jobs:
                jobs[event.job_id] = job_json(self._store, event.job_id)
            if jobs[event.job_id] is None:  # deleted since
                continue
            for sub in wanting:
                sub.inbox.put((event, jobs[event.job_id]))


def end_all_streams() -> None:
    """End this process's open streams: gunicorn waits for every open request before a
    worker exits (up to its graceful timeout), and a stream would hold it that long."""
    for hub in EventHub.made:
        hub.end_streams()


def job_json(store: JobStore, job_id: str) -> str | None:
    """The job's JSON as GET /api/v1/jobs/<id> sends it (with its ETA), on one line."""
    job = store.get(job_id, with_eta=True)
    return None if job is None else _one_line(job)


def _one_line(job: Job) -> str:
    return json.dumps(job.api_json(), separators=(",", ":"), allow_nan=False)


def frame(event_id: str, kind: str, data: str) -> str:
    """One event in the text/event-stream format."""
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n"


def stream(
    hub: EventHub,
    store: JobStore,
    want: tuple[str | None, str | None],
    last_event_id: str | None,
    heartbeat_seconds: float,
) -> Iterator[str]:
    """A stream's text for ``want`` (job id, owner; as Subscription has them): what the
    follower missed (or, for one job, its state now), then each event as it comes, a
    comment line when nothing has for ``heartbeat_seconds``. One job's stream ends with
    that job's outcome."""
    # Subscribed before the catch-up, so that no event falls between the two.
    sub = hub.subscribe(*want)
    try:
        yield f"retry: {RETRY_MS}\n\n"
        sent, ended = yield from _catch_up(store, sub, last_event_id)
        while not ended:
            try:
                item = sub.inbox.get(timeout=heartbeat_seconds)
            except queue.Empty:
                yield ": keepalive\n\n"
                continue
            if item is None:  # the process is stopping
                return
            event, data = item
            if event_order(event.id) <= event_order(sent):
                continue  # already in what the follower was sent first
            sent = event.id
            yield frame(event.id, event.type, data)
            ended = sub.job_id is not None and event.type in FINISHED
    finally:
        hub.unsubscribe(sub)


def seen_the_end(store: JobStore, job: Job, last_event_id: str | None) -> bool:
    """Whether a follower of finished ``job`` that last saw ``last_event_id`` has had
    every event of it (its stream would send nothing)."""
    if not (job.finished and last_event_id):
        return False
    missed, whole = store.events_since(last_event_id)
    return whole and not any(e.job_id == job.id for e in missed)


def _catch_up(store: JobStore, sub: Subscription, last_event_id: str | None):
    """Yield the first events; return (the last event id sent, whether the stream ends)."""
    if last_event_id:
        try:
            missed, whole = store.events_since(last_event_id)
        except UnavailableError:
            missed, whole = [], False
        if whole or sub.job_id is None:
            sent, ended = last_event_id, False
            for event in (e for e in missed if sub.wants(e)):
                data = job_json(store, event.job_id)
                if data is not None:
                    sent = event.id
                    yield frame(event.id, event.type, data)
                    ended = sub.job_id is not None and event.type in FINISHED
            if sub.job_id is not None and not ended:
                # Its outcome came at or before the id the follower gave: it has seen the end.
                job = store.get(sub.job_id)
                ended = job is None or job.finished
            return sent, ended
    if sub.job_id is None:
        return store.latest_event_id(), False
    # The newest id first, then the job: an event between the two is sent again, never lost.
    newest = store.latest_event_id()
    job = store.get(sub.job_id, with_eta=True)
    if job is None:
        return newest, True
    yield frame(newest, SNAPSHOT_TYPE.get(job.state, job.state), _one_line(job))
    return newest, job.finished
