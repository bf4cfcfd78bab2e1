"""The client's event-stream parser against the WHATWG rules for text/event-stream."""

from __future__ import annotations

import pytest

from img2vid.client.events import EventParser, RawEvent, job_event, parse


def events_of(text: str, chunk: int | None = None) -> list[RawEvent]:
    data = text.encode()
    size = chunk or len(data) or 1
    return list(parse(data[i : i + size] for i in range(0, len(data), size)))


STREAM = (
    "\ufeffretry: 1500\n"
    ": keepalive\n"
    "\n"
    "id: 1-0\n"
    "event: queued\n"
    'data: {"id": "j1",\n'
    'data:"state": "queued"}\n'
    "\n"
    "event: progress\r\n"
    "data: one\r\n"
    "data\r\n"
    "\r\n"
    "id: 2-0\r"
    "data: é ünïcode\r"
    "ignored-field: x\r"
    "\r"
    "event: lost\n"
    "\n"
    "data: unfinished at the end\n"
)


@pytest.mark.parametrize("chunk", [None, 1, 2, 3, 7])
def test_events_are_read_by_the_whatwg_rules_in_any_chunking(chunk):
    # given one stream mixing LF, CRLF and CR, comments, a BOM, a multi-line data and an
    # event with no data; cut into chunks of any size (even inside a CRLF or a character)
    events = events_of(STREAM, chunk)
    # then: data lines joined with LF (one leading space dropped, none needed), "message"
    # for an unnamed event, the id kept until another comes, nothing for an event without
    # data or for one the stream ends in the middle of
    assert events == [
        RawEvent("1-0", "queued", '{"id": "j1",\n"state": "queued"}'),
        RawEvent("1-0", "progress", "one\n"),
        RawEvent("2-0", "message", "é ünïcode"),
    ]


def test_retry_and_ids_are_kept_by_the_parser():
    parser = EventParser()
    parser.feed(b"retry: 250\nretry: soon\nid: a\0b\n\n")
    assert parser.retry_ms == 250  # a retry that is not digits is ignored
    assert parser.last_id is None  # an id with NUL is ignored
    parser.feed(b"id: 7\n\nid\ndata: x\n\n")
    assert parser.last_id is None  # an empty id resets it


def test_a_job_event_carries_the_jobs_json():
    assert job_event(RawEvent("5", "progress", '{"id": "j", "state": "running"}')).job["state"] == "running"
    # anything else is not a job event, and is skipped
    assert job_event(RawEvent("5", "message", "hello")) is None
    assert job_event(RawEvent("5", "message", "[1, 2]")) is None
