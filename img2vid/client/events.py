"""Server-sent events: the parser (the WHATWG rules for ``text/event-stream``) and the
job events the server sends with it.

Each event the server sends is ``id: <opaque>``, ``event: <type>`` and one ``data:``
line holding the job's JSON as ``GET /api/v1/jobs/<id>`` gives it; ``: keepalive``
comments come between them.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# The states a job ends in; a job's own stream ends after the event of one of them.
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
EVENT_TYPES = ("queued", "started", "progress", "succeeded", "failed", "cancelled")

_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class RawEvent:
    """One dispatched event as the stream carries it."""

    id: str | None  # the last event id at dispatch (None while none was given)
    type: str  # "message" when the event named none
    data: str


@dataclass(frozen=True)
class Event:
    """One job event: its id (give it as ``last_event_id`` to resume after it; None for
    an event made up while polling), its type (``queued``, ``started``, ``progress``,
    ``succeeded``, ``failed``, ``cancelled``) and the job's JSON at that moment."""

    id: str | None
    type: str
    job: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.type in FINISHED or self.job.get("state") in FINISHED


class EventParser:
    """Turns the bytes of an event stream, fed in chunks of any size, into events, by the
    WHATWG rules: lines end with CRLF, LF or CR; a line starting with ``:`` is a comment;
    ``event``, ``data`` (lines joined with LF), ``id`` and ``retry`` fields; a blank line
    dispatches; an event with no data is dropped; an unfinished one at the end is lost."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""  # an unfinished line
        self._started = False  # past a leading byte-order mark
        self._skip_lf = False  # the last chunk ended in CR: an LF first in the next one ends nothing
        self._type = ""
        self._data: list[str] = []
        self.last_id: str | None = None
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[RawEvent]:
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = text.endswith("\r")
        lines = _EOL.split(self._tail + text)
        self._tail = lines.pop()
        events = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> RawEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_id = value or None
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> RawEvent | None:
        data, kind = self._data, self._type
        self._data, self._type = [], ""
        if not data:
            return None
        return RawEvent(self.last_id, kind or "message", "\n".join(data))


def parse(chunks: Iterable[bytes]) -> Iterator[RawEvent]:
    """The events in a whole stream of chunks."""
    parser = EventParser()
    for chunk in chunks:
        yield from parser.feed(chunk)


def job_event(raw: RawEvent) -> Event | None:
    """The job event a raw event carries; None for one that carries no job (another
    type of event, data that is not a JSON object holding an id), which is skipped."""
    try:
        job = json.loads(raw.data)
    except ValueError:
        return None
    if not isinstance(job, dict) or "id" not in job:
        return None
    return Event(raw.id, raw.type, job)


def polled_event(job: dict[str, Any]) -> Event:
    """The event that a polled job stands for: its state, or ``progress`` while running."""
    state = job.get("state", "")
    return Event(None, "progress" if state == "running" else state, job)
